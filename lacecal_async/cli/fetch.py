"""``lacecal fetch``: stream every record of many plants into a file, with progress.

`Fetch` is the one code path from `LacecalClient.stream_many` to the writers; ``lacecal
demo`` runs it too. Records of one plant arrive in time order; plants interleave, page by
page, as their replies come in.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TextIO

import attrs

from lacecal_async import ItrDone, PageEvent, StreamEvent
from lacecal_async.cli.bounds import finite_seconds
from lacecal_async.cli.gc_tuning import bulk_gc
from lacecal_async.cli.interrupt import Interrupted, run_interruptible
from lacecal_async.cli.itrs import PlantRef, Redactor, collect_plants
from lacecal_async.cli.log_lines import level_line, library_logs
from lacecal_async.cli.options import (
    UsageError,
    add_client_options,
    add_endpoint_option,
    add_when_option,
    make_client,
)
from lacecal_async.cli.progress import Display, choose_mode
from lacecal_async.cli.resume import check_overwrite, next_starts, resume_command
from lacecal_async.cli.resume_trim import drop_rows_past
from lacecal_async.cli.streams import merge
from lacecal_async.cli.when import WHEN_HELP, parse_when
from lacecal_async.cli.writers import (
    FORMATS,
    Export,
    Writer,
    choose_format,
    open_export,
    output_files,
)
from lacecal_async.client import LacecalClient
from lacecal_async.endpoints import Endpoint
from lacecal_async.tables import Table

__all__ = [
    "Fetch",
    "add_output_options",
    "add_parser",
    "add_plant_options",
    "add_progress_options",
    "log_to",
    "report_failures",
    "run",
]


@attrs.define
class Fetch:
    """One endpoint of many plants over ``[start, end)``, into `sinks`, shown on `display`.

    `resume_at` moves some plants' start (by identifier): a resumed fetch continues each
    plant after the last period its file holds. `periods` counts the records delivered.
    """

    plants: Sequence[PlantRef]
    endpoint: Endpoint
    start: int
    end: int
    sinks: Sequence[Writer]
    display: Display
    resume_at: Mapping[str, int] = attrs.field(factory=dict)
    periods: int = attrs.field(init=False, default=0)
    done: list[PlantRef] = attrs.field(init=False, factory=list)
    failed: list[tuple[PlantRef, str]] = attrs.field(init=False, factory=list)

    def _streams(self, client: LacecalClient) -> list[AsyncGenerator[StreamEvent[Any]]]:
        by_start: dict[int, list[str]] = {}
        for plant in self.plants:
            by_start.setdefault(self.resume_at.get(plant.itr, self.start), []).append(plant.itr)
        return [
            client.stream_many(itrs, self.endpoint, start, self.end)
            for start, itrs in by_start.items()
        ]

    async def run(self, client: LacecalClient) -> None:
        """Fetch, writing each page as it arrives; cancelled, it stops with what is written."""
        by_itr = {plant.itr: plant for plant in self.plants}
        ticker = asyncio.create_task(self.display.run())
        events = merge(self._streams(client))
        try:
            async with contextlib.aclosing(events):
                async for event in events:
                    plant = by_itr[event.itr_id]
                    if isinstance(event, PageEvent):
                        for sink in self.sinks:
                            sink.write(plant.label, event.records)
                        self.periods += len(event.records)
                    elif isinstance(event, ItrDone):
                        self.done.append(plant)
                    else:
                        self.failed.append((plant, " ".join(str(event.error).split())))
                    self.display.update(event)
        finally:
            ticker.cancel()
            self.display.finish()


class LogSink(Protocol):
    """Where log lines go: a fetch's `Display` or a sync's `SyncProgress`."""

    def log(self, line: str) -> None:
        """Write one log line."""


def log_to(display: LogSink, *, verbose: bool) -> contextlib.AbstractContextManager[None]:
    """Route the library's warnings (all its logs if `verbose`) to the display meanwhile."""
    return library_logs(display.log, verbose=verbose, line=level_line)


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


def _resume_at(
    args: argparse.Namespace,
    plants: Sequence[PlantRef],
    files: Sequence[tuple[Path, Table]],
    span: tuple[int, int],
    stderr: TextIO,
) -> dict[str, int]:
    """Each plant's start after the last period its file holds; report what is left."""
    start, end = span
    fmt = choose_format(args.output, args.format)
    after = next_starts(files, fmt, Endpoint(args.endpoint))
    for file, dropped in drop_rows_past(files, fmt, after):
        print(
            f"lacecal: resuming {args.output}: dropped {dropped:,} rows of {file} past the "
            "last period its periods file holds (a write cut short); they are fetched again",
            file=stderr,
        )
    starts = {p.itr: max(start, after[p.label]) for p in plants if p.label in after}
    complete = sum(at >= end for at in starts.values())
    print(
        f"lacecal: resuming {args.output}: {len(starts) - complete} plants continue after "
        f"their last period, {complete} are complete, {len(plants) - len(starts)} start at "
        "--start",
        file=stderr,
    )
    return starts


def _written(fetch: Fetch, export: Export) -> str:
    rows = ", ".join(f"{count:,} rows to {where}" for where, count in export.counts())
    return f"{fetch.periods:,} periods written: {rows}"


def _print_resume(args: argparse.Namespace, end: int, stderr: TextIO, redact: Redactor) -> None:
    command, placeholders = resume_command(args, end)
    print(redact(f"lacecal: to continue: {command}"), file=stderr)
    if placeholders:
        print("lacecal: (put each plant's identifier where ...WXYZ stands)", file=stderr)


def _endpoint(args: argparse.Namespace) -> str:
    """``--endpoint``, or the positional of older releases (``lacecal fetch meter ITR ...``).

    That word is taken off the identifiers (no identifier is ``meter`` or ``inverter``);
    ``--help`` no longer shows it.
    """
    if args.itr and args.itr[0] in ("meter", "inverter"):
        old: str = args.itr.pop(0)
        if args.endpoint not in (None, old):
            raise UsageError(f"two endpoints: --endpoint {args.endpoint} and {old}")
        return old
    return "meter" if args.endpoint is None else str(args.endpoint)


def run(args: argparse.Namespace) -> int:
    """Run ``lacecal fetch``; return the exit status."""
    stdout, stderr = sys.stdout, sys.stderr
    args.endpoint = _endpoint(args)
    plants = collect_plants(args.itr, args.itr_file)
    start = parse_when(args.start)
    end = parse_when(args.end) if args.end is not None else int(time.time())
    if end < start:
        raise UsageError("--end is before --start")
    endpoint = Endpoint(args.endpoint)
    fmt = choose_format(args.output, args.format)
    files = output_files(args.output, fmt, endpoint)
    check_overwrite([file for file, _ in files], force=args.force, resume=args.resume)
    if args.resume and not files:
        raise UsageError("--resume continues an output file: give it with -o FILE")
    redact = Redactor(tuple(p.itr for p in plants))
    resume_at: dict[str, int] = {}
    if args.resume:
        resume_at = _resume_at(args, plants, files, (start, end), stderr)
    todo = [p for p in plants if resume_at.get(p.itr, start) < end]
    export = open_export(args.output, fmt, endpoint, stdout, append=args.resume)
    if endpoint is Endpoint.INVERTER and fmt != "jsonl" and not files:
        print(
            f"lacecal: note: {export.counts()[0][0]} gets one row per inverter and period; "
            "the periods' totals (total_energy_kwh) go beside an output file only",
            file=stderr,
        )
    display = Display(
        stderr,
        todo,
        title=endpoint.value,
        span=(start, end),
        rate=args.rate,
        mode=choose_mode(args.progress, stderr),
        every=args.progress_every,
        redact=redact,
    )
    fetch = Fetch(todo, endpoint, start, end, [export], display, resume_at)

    async def work() -> None:
        if todo:
            async with make_client(args) as client:
                await fetch.run(client)

    destination = args.output if args.output not in (None, "-") else "stdout"
    try:
        try:
            with log_to(display, verbose=args.verbose), bulk_gc():
                outcome = run_interruptible(work)
        finally:
            written = _written(fetch, export)
            export.close()
    except BrokenPipeError:
        _quiet_stdout()
        return 1
    except OSError as exc:
        print(f"lacecal: error: cannot write {destination}: {exc.strerror or exc}", file=stderr)
        return 1
    report_failures(fetch.failed, stderr, redact)
    if isinstance(outcome, Interrupted):
        print(f"lacecal: interrupted; {written}", file=stderr)
        if files:
            _print_resume(args, end, stderr, redact)
        return outcome.exit_status
    if fetch.failed and files:
        _print_resume(args, end, stderr, redact)
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
    group.add_argument(
        "--progress-every", type=finite_seconds(), default=5.0, help=argparse.SUPPRESS
    )


FETCH_EPILOG = f"""\
{WHEN_HELP}

The output format is --format, else the file's extension: .csv, .jsonl (or .ndjson),
.parquet (needs pyarrow: pip install 'lacecal_async[parquet]'); without -o, or with -o -,
JSON Lines on stdout. The columns and their types are the same in every format (the docs'
reference/schema page): start is the UTC instant of unix_time, utc_offset_s the plant's offset.
The first column, plant, holds the alias (alias=IDENTIFIER), else the full identifier;
stderr never shows more than an alias or a redacted identifier (...WXYZ).
Records of one plant are in time order; plants interleave as their pages arrive.
Inverter data into X.csv or X.parquet is two tables: X.csv has one row per inverter and
period (inverter_energy_kwh), X.periods.csv one row per period (total_energy_kwh); JSON
Lines has one object per period, its inverters nested.

An existing output is never overwritten without --force; --resume continues it: each
plant after the last period the file holds (CSV and JSON Lines are appended to, Parquet
is rewritten and replaced at the end).

Exit status: 0 every plant succeeded; 1 some failed (each listed with its reason);
2 usage error; 130 interrupted by Ctrl-C (143 by SIGTERM): the file holds every
period fetched so far, and the command that continues it is printed.
"""


def add_output_options(parser: argparse.ArgumentParser, *, what: str) -> None:
    """Add ``-o`` and ``--format``."""
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default=None,
        help=f"FILE.csv, FILE.jsonl or FILE.parquet ('-': stdout; default: {what})",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="the output format (default: from FILE's extension; JSON Lines on stdout)",
    )


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fetch`` to the command."""
    parser = subparsers.add_parser(
        "fetch",
        allow_abbrev=False,
        help="stream records of many plants to CSV, JSON Lines or Parquet",
        description="Fetch every meter or inverter record of the plants in [--start, --end).",
        epilog=FETCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_plant_options(parser)
    add_endpoint_option(parser, default=None)  # None: meter, or the old positional (`_endpoint`)
    add_when_option(parser, "--start", required=True, help="first instant (included)")
    add_when_option(parser, "--end", help="last instant (excluded; default now)")
    add_output_options(parser, what="JSON Lines on stdout")
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument(
        "--resume",
        action="store_true",
        help="continue FILE: each plant after the last period it holds",
    )
    existing.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    add_client_options(parser)
    add_progress_options(parser)
    parser.set_defaults(func=run)
