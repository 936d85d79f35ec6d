"""``lacecal export``: write any range of a sync store in the formats and layout of ``fetch``.

The store (a SQLite file or a PostgreSQL DSN) gives back the records it committed
(`SQLiteStore.read_records` / `PostgresStore.read_records`, in batches, so
a fleet never sits in memory) and the writers of ``lacecal fetch`` write them: the same
files, columns and types, an inverter export's periods beside it. The ``plant`` column
holds the store's key, the alias, else the fingerprint (a store never holds an identifier).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from lacecal_async.cli.fetch import add_output_options
from lacecal_async.cli.interrupt import Interrupted, run_interruptible
from lacecal_async.cli.options import (
    UsageError,
    add_endpoint_option,
    add_store_argument,
    add_when_option,
)
from lacecal_async.cli.stores import check_db, chosen_plants, is_dsn, make_store, read_failed, shown
from lacecal_async.cli.when import WHEN_HELP, parse_when
from lacecal_async.cli.writers import Export, choose_format, open_export, output_files
from lacecal_async.endpoints import Endpoint
from lacecal_async.errors import LacecalError

__all__ = ["add_parser", "run"]


EXPORT_EPILOG = f"""\
{WHEN_HELP}

Without --start and --end, everything the store holds. The output is the same as
`lacecal fetch` writes for the range (format from --format or the extension; JSON Lines on
stdout without -o): inverter data into X.csv is X.csv and X.periods.csv. Rows come in
plant and time order. The plant column holds the store's key: the alias, else the
identifier's fingerprint. An existing output is never overwritten without --force.

DB is the SQLite file or the PostgreSQL DSN (postgresql://...) `lacecal sync` writes; a
DSN's password is never shown.

DB is only read: a database without a lacecal store (empty, another application's) or
with an older schema is refused and left as it was (`lacecal sync` creates or upgrades it).

Exit status: 0 written; 1 the store could not be read; 2 usage error (no such store, a
database that holds none, an unknown --plant); 130 interrupted by Ctrl-C.
"""


def run(args: argparse.Namespace) -> int:
    """Run ``lacecal export``; return the exit status."""
    stderr = sys.stderr
    db: str = check_db(args.db)
    if not is_dsn(db) and not Path(db).is_file():
        raise UsageError(f"{shown(db)}: no such store")
    start = None if args.start is None else parse_when(args.start)
    end = None if args.end is None else parse_when(args.end)
    if start is not None and end is not None and end < start:
        raise UsageError("--end is before --start")
    endpoint = Endpoint(args.endpoint)
    fmt = choose_format(args.output, args.format)
    files = [file for file, _ in output_files(args.output, fmt, endpoint)]
    existing = [file for file in files if file.exists()]
    if existing and not args.force:
        raise UsageError(f"{existing[0]} exists: --force overwrites it")
    if endpoint is Endpoint.INVERTER and fmt != "jsonl" and not files and not args.quiet:
        print(
            "lacecal: note: a stream gets one row per inverter and period; the periods' "
            "totals (total_energy_kwh) go beside an output file only",
            file=stderr,
        )
    export: Export | None = None
    periods = 0

    async def work() -> None:
        nonlocal export, periods
        async with make_store(db, create=False) as store:
            plants = await chosen_plants(store, args.plant)
            export = open_export(args.output, fmt, endpoint, sys.stdout)
            batches = store.read_records(endpoint, plants=plants, start=start, end=end)
            async for plant, records in batches:
                export.write(plant, records)
                periods += len(records)

    try:
        try:
            outcome = run_interruptible(work)
        finally:
            written = "" if export is None else _written(periods, export)
            if export is not None:
                export.close()
    except BrokenPipeError:
        return 1
    except (LacecalError, sqlite3.Error, ValueError, OSError) as exc:
        return read_failed(db, exc, opened=export is not None)
    if isinstance(outcome, Interrupted):
        print(f"lacecal: interrupted; {written}", file=stderr)
        return outcome.exit_status
    if not args.quiet:
        print(f"lacecal: {written}", file=stderr)
    return 0


def _written(periods: int, export: Export) -> str:
    rows = ", ".join(f"{count:,} rows to {where}" for where, count in export.counts())
    return f"{periods:,} periods written: {rows}"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``export`` to the command."""
    parser = subparsers.add_parser(
        "export",
        allow_abbrev=False,
        help="write a sync store's records to files, as fetch writes them",
        description="Write the meter or inverter records a sync store holds in "
        "[--start, --end), in the files and columns of `lacecal fetch`.",
        epilog=EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_store_argument(parser)
    add_endpoint_option(parser)
    parser.add_argument(
        "--plant",
        action="append",
        default=[],
        metavar="P",
        help="only this plant: its alias, or fingerprint (repeatable; default all)",
    )
    add_when_option(parser, "--start", help="first instant (included)")
    add_when_option(parser, "--end", help="last instant (excluded)")
    add_output_options(parser, what="JSON Lines on stdout")
    parser.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no summary line on stderr; only errors"
    )
    parser.set_defaults(func=run)
