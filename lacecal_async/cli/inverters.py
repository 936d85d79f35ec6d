"""``lacecal inverters``: each plant's inverters, as a table on stdout or into a file.

The file (``-o``) has the full ``plant`` column of ``lacecal fetch``'s exports (the alias,
else the identifier) and ``inverter_id``, so it joins to the inverter data.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lacecal_async.cli.fetch import add_output_options, add_plant_options, report_failures
from lacecal_async.cli.interrupt import Interrupted, run_interruptible
from lacecal_async.cli.itrs import PlantRef, Redactor, collect_plants
from lacecal_async.cli.options import UsageError, add_client_options, make_client
from lacecal_async.cli.resume import check_overwrite
from lacecal_async.cli.writers import choose_format, open_export, output_files
from lacecal_async.endpoints import Endpoint
from lacecal_async.fanout import FetchResult
from lacecal_async.records import Inverter
from lacecal_async.redaction import printable

__all__ = ["add_parser", "format_table", "run"]

_HEADERS = ("plant", "id", "name", "manufacturer", "model", "serial number")


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Align columns of text, two spaces apart, the first row a header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _rows(plant: PlantRef, inverters: Sequence[Inverter]) -> list[tuple[str, ...]]:
    # The server's text is escaped cell by cell: a newline in a name must not make a row.
    return [
        (
            plant.name,
            str(i.id),
            *map(printable, (i.name, i.manufacturer, i.model, i.serial_number or "-")),
        )
        for i in inverters
    ]


def run(args: argparse.Namespace) -> int:
    """Run ``lacecal inverters``; return the exit status."""
    plants = collect_plants(args.itr, args.itr_file)
    redact = Redactor(tuple(p.itr for p in plants))
    fmt = None
    if args.output is not None:
        fmt = choose_format(args.output, args.format)
        files = output_files(args.output, fmt, Endpoint.INVERTER_LIST)
        check_overwrite([file for file, _ in files], force=args.force, resume=False)
    elif args.format is not None:
        raise UsageError("--format names the format of -o FILE (or -o - for stdout)")

    async def work() -> dict[str, FetchResult[Inverter]]:
        async with make_client(args) as client:
            itrs = [p.itr for p in plants]
            client.hide_identifiers(itrs)  # one plant's list may echo another's identifier
            return await client.fetch_many(itrs, Endpoint.INVERTER_LIST)

    outcome = run_interruptible(work)
    if isinstance(outcome, Interrupted):
        print("lacecal: interrupted", file=sys.stderr)
        return outcome.exit_status
    table: list[Sequence[str]] = [_HEADERS]
    failed = []
    export = (
        None if fmt is None else open_export(args.output, fmt, Endpoint.INVERTER_LIST, sys.stdout)
    )
    try:
        for plant in plants:
            result = outcome[plant.itr]
            if result.error is None:
                table.extend(_rows(plant, result.records))
                if export is not None:
                    export.write(plant.label, result.records)
            else:
                failed.append((plant, " ".join(str(result.error).split())))
    finally:
        if export is not None:
            export.close()
    if export is None:
        print(redact(format_table(table)))
    report_failures(failed, sys.stderr, redact)
    return 1 if failed else 0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``inverters`` to the command."""
    parser = subparsers.add_parser(
        "inverters",
        allow_abbrev=False,
        help="a table of each plant's inverters, or a file of them (-o)",
        description="List each plant's inverters: id, name, manufacturer, model, serial number. "
        "On stdout plants show as their alias, else their redacted identifier; a file (-o) "
        "has the plant column of `lacecal fetch` exports (the alias, else the full "
        "identifier) and inverter_id, to join to the inverter data.",
    )
    add_plant_options(parser)
    add_output_options(parser, what="a table on stdout")
    parser.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    add_client_options(parser)
    parser.set_defaults(func=run)
