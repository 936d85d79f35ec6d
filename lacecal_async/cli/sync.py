"""``lacecal sync``: keep plants' records in a local SQLite database, once or as a daemon.

Each page is committed with the plant's sync state in one transaction, so a crash (even a
SIGKILL) loses at most the page in flight and a rerun resumes after the last committed
record. With ``--follow`` it keeps polling each plant once per its integration period;
SIGTERM or Ctrl-C stops it after the commit in flight (exit 0).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping

from lacecal_async.cli.fetch import add_plant_options, add_progress_options
from lacecal_async.cli.gc_tuning import bulk_gc
from lacecal_async.cli.interrupt import Interrupted, run_interruptible
from lacecal_async.cli.itrs import Redactor, collect_plants
from lacecal_async.cli.options import UsageError, add_client_options, make_client
from lacecal_async.cli.progress import choose_mode
from lacecal_async.cli.sync_progress import SyncProgress
from lacecal_async.cli.when import WHEN_HELP, parse_when
from lacecal_async.errors import LacecalError
from lacecal_async.sync import PlantReport, SQLiteStore, SyncPlant, follow, sync

__all__ = ["add_parser", "parse_duration", "run"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhd]?)", re.ASCII)


def parse_duration(text: str) -> float:
    """Parse ``90``, ``90s``, ``15m``, ``2h``, ``1d`` or ``1h30m`` into seconds."""
    value = text.strip().lower()
    pos, total = 0, 0.0
    while pos < len(value):
        match = _DURATION.match(value, pos)
        if match is None or (not match[2] and match.end() != len(value)):
            raise UsageError(f"invalid duration {text!r}: use e.g. 90s, 15m, 2h, 1d or 1h30m")
        total += float(match[1]) * _UNITS[match[2] or "s"]
        pos = match.end()
    if not value:
        raise UsageError("an empty duration")
    return total


def _failures(reports: Mapping[str, PlantReport], names: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for key, report in reports.items():
        out.extend(
            f"{names.get(key, key)} {entry.endpoint.value} failed: {entry.error}"
            for entry in report.endpoints
            if entry.error is not None
        )
        if report.inventory_error is not None:
            out.append(f"{names.get(key, key)} inverter list failed: {report.inventory_error}")
    return out


def run(args: argparse.Namespace) -> int:
    """Run ``lacecal sync``; return the exit status."""
    stderr = sys.stderr
    refs = collect_plants(args.itr, args.itr_file)
    since = parse_when(args.since)
    endpoints = ("meter", "inverter") if args.endpoint == "all" else (args.endpoint,)
    lookback = parse_duration(args.lookback) if args.lookback is not None else None
    try:
        plants = [SyncPlant(ref.itr, ref.alias) for ref in refs]
        names = {plant.key: plant.name for plant in plants}
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    redact = Redactor(tuple(ref.itr for ref in refs))
    progress = SyncProgress(stderr, choose_mode(args.progress, stderr), names, redact)

    async def work() -> dict[str, PlantReport]:
        async with make_client(args) as client, SQLiteStore(args.db) as store:
            if args.follow:
                await follow(
                    client, store, plants, endpoints, since, lookback=lookback, on_cycle=progress
                )
            return await sync(
                client, store, plants, endpoints, since, lookback=lookback, on_cycle=progress
            )

    try:
        with bulk_gc():
            outcome = run_interruptible(work)
    except (LacecalError, ValueError) as exc:
        print(redact(f"lacecal: error: {args.db}: {exc}"), file=stderr)
        return 1
    if isinstance(outcome, Interrupted):
        if args.follow:
            print("lacecal: stopped; every page fetched is committed", file=stderr)
            return 0
        print("lacecal: interrupted; every page fetched is committed", file=stderr)
        return outcome.exit_status
    failed = _failures(outcome, names)
    for line in failed:
        print(redact(f"lacecal: {line}"), file=stderr)
    records = sum(report.records for report in outcome.values())
    print(
        f"lacecal: {len(outcome) - len({f.split(' ')[0] for f in failed})} of {len(outcome)} "
        f"plants up to date; {records:,} records stored",
        file=stderr,
    )
    return 1 if failed else 0


SYNC_EPILOG = f"""\
{WHEN_HELP}

Each plant is stored under its alias (alias=IDENTIFIER), else its fingerprint
("itr-" + 12 hex digits of SHA-256): the database never holds an identifier. Its file is
created readable by its owner only (0600).

--since is where a plant NEW to the database starts; a plant with sync state resumes
after its latest stored record and --since is ignored for it.

Without --follow: exit 0 once every plant is up to date, 1 if some failed (each listed).
With --follow it runs until stopped: each plant is asked once per its integration
period, shortly after a period closes; after downtime it backfills first. SIGTERM or
Ctrl-C stops it after the pages in flight are committed (exit 0). A SIGKILL loses at most
those pages: run it again and it resumes exactly after the last committed record.
Holes (periods missing between stored records) are asked for again 6, 36, 144 and 1008
periods after they were found; --lookback DURATION (e.g. 2h) also re-reads that window
before the latest record on every cycle. See: lacecal status DB.
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sync`` to the command."""
    parser = subparsers.add_parser(
        "sync",
        help="keep plants' records in a SQLite database (once, or --follow as a daemon)",
        description="Bring the plants' records in DB up to date; with --follow, keep them so.",
        epilog=SYNC_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("db", metavar="DB", help="the SQLite database (created if missing)")
    add_plant_options(parser)
    parser.add_argument(
        "--since",
        required=True,
        metavar="WHEN",
        help="first instant for plants new to DB (ignored for plants with sync state)",
    )
    parser.add_argument(
        "--endpoint",
        choices=("meter", "inverter", "all"),
        default="all",
        help="which records (default all: meter and inverter, and the inverter list)",
    )
    parser.add_argument("--follow", action="store_true", help="keep going until stopped")
    parser.add_argument(
        "--lookback",
        metavar="DURATION",
        default=None,
        help="re-read this window before each plant's latest record every cycle (e.g. 2h)",
    )
    add_client_options(parser)
    add_progress_options(parser)
    parser.set_defaults(func=run)
