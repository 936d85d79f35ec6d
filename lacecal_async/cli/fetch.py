"""``lacecal fetch``: stream every record of many plants into a file, with progress.

`Fetch` is the one code path from `LacecalClient.stream_many` to the writers; ``lacecal
demo`` runs it too. Records of one plant arrive in time order; plants interleave, page by
page, as their replies come in.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TextIO

import attrs

from lacecal_async.cli.export import Writer, open_writer
from lacecal_async.cli.interrupt import Interrupted, run_interruptible
from lacecal_async.cli.itrs import PlantRef, Redactor, collect_plants
from lacecal_async.cli.options import UsageError, add_client_options, make_client
from lacecal_async.cli.progress import Display, choose_mode
from lacecal_async.cli.when import WHEN_HELP, parse_when
from lacecal_async.client import LacecalClient
from lacecal_async.endpoints import Endpoint
from lacecal_async.fanout import ItrDone, PageEvent

__all__ = [
    "Fetch",
    "add_parser",
    "add_plant_options",
    "add_progress_options",
    "log_to",
    "report_failures",
    "run",
]

_LIBRARY_LOGGER = "lacecal_async"


@attrs.define
class Fetch:
    """One endpoint of many plants over ``[start, end)``, into `sinks`, shown on `display`."""

    plants: Sequence[PlantRef]
    endpoint: Endpoint
    start: int
    end: int
    sinks: Sequence[Writer]
    display: Display
    records: int = attrs.field(init=False, default=0)
    done: list[PlantRef] = attrs.field(init=False, factory=list)
    failed: list[tuple[PlantRef, str]] = attrs.field(init=False, factory=list)

    async def run(self, client: LacecalClient) -> None:
        """Fetch, writing each page as it arrives; cancelled, it stops with what is written."""
        by_itr = {plant.itr: plant for plant in self.plants}
        ticker = asyncio.create_task(self.display.run())
        events = client.stream_many(list(by_itr), self.endpoint, self.start, self.end)
        try:
            async with contextlib.aclosing(events):
                async for event in events:
                    plant = by_itr[event.itr_id]
                    if isinstance(event, PageEvent):
                        for sink in self.sinks:
                            sink.write(plant.label, event.records)
                        self.records += len(event.records)
                    elif isinstance(event, ItrDone):
                        self.done.append(plant)
                    else:
                        self.failed.append((plant, " ".join(str(event.error).split())))
                    self.display.update(event)
        finally:
            ticker.cancel()
            self.display.finish()


class _DisplayHandler(logging.Handler):
    """Send the library's log records through the display (above a live one)."""

    def __init__(self, display: Display) -> None:
        super().__init__()
        self.display = display

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.display.log(f"{record.levelname.lower()}: {record.getMessage()}")
        except Exception:  # noqa: BLE001 - logging must never break the fetch
            self.handleError(record)


@contextlib.contextmanager
def log_to(display: Display, *, verbose: bool) -> Iterator[None]:
    """Route the library's warnings (all its logs if `verbose`) to the display meanwhile."""
    logger = logging.getLogger(_LIBRARY_LOGGER)
    handler = _DisplayHandler(display)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def report_failures(
    failed: Sequence[tuple[PlantRef, str]], stderr: TextIO, redact: Redactor
) -> None:
    """List each failed plant with its (redacted) reason on stderr."""
    for plant, reason in failed:
        print(redact(f"lacecal: {plant.name} failed: {reason}"), file=stderr)


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's flush is silent."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def run(args: argparse.Namespace) -> int:
    """Run ``lacecal fetch``; return the exit status."""
    stdout, stderr = sys.stdout, sys.stderr
    plants = collect_plants(args.itr, args.itr_file)
    start = parse_when(args.start)
    end = parse_when(args.end) if args.end is not None else int(time.time())
    if end < start:
        raise UsageError("--end is before --start")
    endpoint = Endpoint(args.endpoint)
    redact = Redactor(tuple(p.itr for p in plants))
    display = Display(
        stderr,
        plants,
        title=endpoint.value,
        span=(start, end),
        rate=args.rate,
        mode=choose_mode(args.progress, stderr),
        every=args.progress_every,
        redact=redact,
    )
    writer = open_writer(args.output, endpoint, stdout)
    fetch = Fetch(plants, endpoint, start, end, [writer], display)

    async def work() -> None:
        async with make_client(args) as client:
            await fetch.run(client)

    destination = args.output if args.output not in (None, "-") else "stdout"
    try:
        try:
            with log_to(display, verbose=args.verbose):
                outcome = run_interruptible(work)
        finally:
            writer.close()
    except BrokenPipeError:
        _quiet_stdout()
        return 1
    except OSError as exc:
        print(f"lacecal: error: cannot write {destination}: {exc.strerror or exc}", file=stderr)
        return 1
    report_failures(fetch.failed, stderr, redact)
    if isinstance(outcome, Interrupted):
        print(
            f"lacecal: interrupted; {fetch.records:,} records written to {destination}",
            file=stderr,
        )
        return outcome.exit_status
    return 1 if fetch.failed else 0


def add_plant_options(parser: argparse.ArgumentParser) -> None:
    """Add the ITR arguments and ``--itr-file``."""
    parser.add_argument(
        "itr",
        nargs="*",
        metavar="ITR",
        help="a plant's identifier, or alias=IDENTIFIER (default: the LACECAL_ITR variable)",
    )
    parser.add_argument(
        "--itr-file",
        action="append",
        default=[],
        metavar="FILE",
        help="read identifiers from FILE: one per line, alias=IDENTIFIER allowed, # comments "
        "('-': stdin; repeatable)",
    )


def add_progress_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--progress``, ``--quiet`` and ``--verbose``."""
    group = parser.add_argument_group("progress")
    group.add_argument(
        "--progress",
        choices=("auto", "live", "plain", "none"),
        default="auto",
        help="progress on stderr: live on a terminal, plain lines otherwise (default auto)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        dest="progress",
        action="store_const",
        const="none",
        help="no progress; only failures",
    )
    group.add_argument(
        "-v", "--verbose", action="store_true", help="log every request (identifiers redacted)"
    )
    group.add_argument("--progress-every", type=float, default=5.0, help=argparse.SUPPRESS)


FETCH_EPILOG = f"""\
{WHEN_HELP}

The output format comes from the file's extension: .csv, .jsonl (or .ndjson), .parquet
(needs pyarrow: pip install 'lacecal_async[parquet]'); without -o, JSON Lines on stdout.
The first column, plant, holds the alias (alias=IDENTIFIER), else the full identifier;
stderr never shows more than an alias or a redacted identifier (...WXYZ).
Records of one plant are in time order; plants interleave as their pages arrive.
Inverter records are one row per inverter and period in CSV and Parquet.

Exit status: 0 every plant succeeded; 1 some failed (each listed with its reason);
2 usage error; 130 interrupted by Ctrl-C (143 by SIGTERM): the file holds every
record fetched so far.
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fetch`` to the command."""
    parser = subparsers.add_parser(
        "fetch",
        help="stream records of many plants to CSV, JSON Lines or Parquet",
        description="Fetch every meter or inverter record of the plants in [--start, --end).",
        epilog=FETCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("endpoint", choices=("meter", "inverter"), help="which records")
    add_plant_options(parser)
    parser.add_argument("--start", required=True, metavar="WHEN", help="first instant (included)")
    parser.add_argument(
        "--end", metavar="WHEN", default=None, help="last instant (excluded; default now)"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default=None,
        help="FILE.csv, FILE.jsonl or FILE.parquet (default: JSON Lines on stdout)",
    )
    add_client_options(parser)
    add_progress_options(parser)
    parser.set_defaults(func=run)
