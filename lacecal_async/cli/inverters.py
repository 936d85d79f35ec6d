"""``lacecal inverters``: a table of each plant's inverters."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lacecal_async._redaction import printable
from lacecal_async.cli.fetch import add_plant_options, report_failures
from lacecal_async.cli.interrupt import Interrupted, run_interruptible
from lacecal_async.cli.itrs import PlantRef, Redactor, collect_plants
from lacecal_async.cli.options import add_client_options, make_client
from lacecal_async.endpoints import Endpoint
from lacecal_async.fanout import FetchResult
from lacecal_async.records import Inverter

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

    async def work() -> dict[str, FetchResult]:
        async with make_client(args) as client:
            return await client.fetch_many([p.itr for p in plants], Endpoint.INVERTER_LIST)

    outcome = run_interruptible(work)
    if isinstance(outcome, Interrupted):
        print("lacecal: interrupted", file=sys.stderr)
        return outcome.exit_status
    table: list[Sequence[str]] = [_HEADERS]
    failed = []
    for plant in plants:
        result = outcome[plant.itr]
        if result.error is None:
            table.extend(_rows(plant, result.records))
        else:
            failed.append((plant, " ".join(str(result.error).split())))
    print(redact(format_table(table)))
    report_failures(failed, sys.stderr, redact)
    return 1 if failed else 0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``inverters`` to the command."""
    parser = subparsers.add_parser(
        "inverters",
        help="a table of each plant's inverters",
        description="List each plant's inverters: id, name, manufacturer, model, serial number. "
        "Plants show as their alias, else their redacted identifier.",
    )
    add_plant_options(parser)
    add_client_options(parser)
    parser.set_defaults(func=run)
