"""``lacecal demo``: fetch a week from 25 fake plants, write CSV files, print a summary.

The fake server runs in-process on loopback with a scaled rate limit; the fetching is the
same `Fetch` that ``lacecal fetch`` runs, with the same client and CSV writer. The summary
is computed by the rollup ``lacecal stats`` uses (per local day, DST included), and the
records are checked against the fake plants' ground truth.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

from lacecal_async.cli.bounds import finite_seconds, whole_number
from lacecal_async.cli.fetch import Fetch, log_to, report_failures
from lacecal_async.cli.interrupt import Interrupted, run_interruptible
from lacecal_async.cli.itrs import PlantRef, Redactor
from lacecal_async.cli.options import make_client, parse_rate
from lacecal_async.cli.progress import Display, choose_mode
from lacecal_async.cli.when import LOCAL_ZONE
from lacecal_async.cli.writers import open_export
from lacecal_async.endpoints import Endpoint
from lacecal_async.stats import TOTAL_ENERGY, StatsRow, rollup, total
from lacecal_async.testing import FakeLacecalServer, Plant, make_plants

__all__ = ["DEMO_DAY", "TOWNS", "Totals", "add_parser", "mismatches", "run"]

#: The demo's first day (local): its week holds the autumn DST change (2024-10-27).
DEMO_DAY = date(2024, 10, 21)
#: Most plants and days a demo takes (it holds every record in memory to check them).
MAX_DEMO_PLANTS = 1_000
MAX_DEMO_DAYS = 366
TOWNS = (
    "almeria", "avila", "badajoz", "bilbao", "burgos", "caceres", "cadiz", "cordoba",
    "cuenca", "girona", "granada", "huelva", "huesca", "jaen", "leon", "lleida", "logrono",
    "lugo", "madrid", "malaga", "murcia", "ourense", "oviedo", "segovia", "soria",
)  # fmt: skip


def _local_midnight(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=LOCAL_ZONE).timestamp())


def alias(index: int) -> str:
    """Return the demo's name for plant `index`: a town, then ``plant-N``."""
    return TOWNS[index] if index < len(TOWNS) else f"plant-{index + 1}"


@attrs.define
class Totals:
    """A sink that keeps every record per plant, for the summary and the check."""

    records: dict[str, list[Any]] = attrs.field(factory=lambda: defaultdict(list))

    def write(self, plant: str, records: Sequence[Any]) -> None:
        """Keep the batch."""
        self.records[plant].extend(records)

    def close(self) -> None:
        """Nothing to finish."""


def summary(
    refs: Sequence[PlantRef], meters: Totals, inverters: Totals
) -> tuple[list[list[str]], bool, list[StatsRow]]:
    """Per plant: produced (inverters), imported, exported, consumed (load meter) [kWh].

    Computed through `lacecal_async.stats.rollup`, as ``lacecal stats`` computes: each
    plant's records summed per local day (Europe/Madrid), the days added up exactly. A
    plant without a load meter shows consumption derived from the energy balance
    (renewable meter, else inverters, plus imported minus exported), marked ``*``. The
    daily rows come back too (their completeness is part of the summary).
    """
    header = ["plant", "produced kWh", "imported kWh", "exported kWh", "consumed kWh"]
    rows, derived_any = [header], False
    days: list[StatsRow] = []
    sums = [0.0] * 4
    for ref in refs:
        meter = rollup({ref.label: meters.records.get(ref.label, [])}, "day", LOCAL_ZONE)
        inverter = rollup({ref.label: inverters.records.get(ref.label, [])}, "day", LOCAL_ZONE)
        days += meter + inverter
        produced = total(inverter, TOTAL_ENERGY) or 0.0
        imported = total(meter, "grid_imported_kwh") or 0.0
        exported = total(meter, "grid_exported_kwh") or 0.0
        consumed = total(meter, "load_kwh")
        derived = consumed is None
        if consumed is None:
            renewable = total(meter, "renewable_kwh")
            consumed = (produced if renewable is None else renewable) + imported - exported
        derived_any |= derived
        values = (produced, imported, exported, consumed)
        sums = [a + b for a, b in zip(sums, values, strict=True)]
        rows.append([ref.name, *(f"{v:,.1f}" for v in values[:3]), _cell(consumed, derived)])
    rows.append(["total", *(f"{v:,.1f}" for v in sums)])
    return rows, derived_any, days


def _days_line(days: Sequence[StatsRow]) -> str:
    """Say how the days were counted: their lengths, and how many miss a period."""
    lengths = sorted({round((row.end - row.start).total_seconds() / 3600) for row in days})
    odd = sorted({r.start.date().isoformat() for r in days if r.end - r.start != timedelta(days=1)})
    incomplete = sum(not row.complete for row in days)
    shown = " and ".join(f"{hours} h" for hours in lengths)
    return (
        "Summed per local day (Europe/Madrid) by lacecal_async.stats, as `lacecal stats` does:\n"
        f"days of {shown}{' (' + ', '.join(odd) + ')' if odd else ''}; "
        f"{incomplete} of {len(days)} daily rows miss a period (marked, never zero-filled)."
    )


def _cell(value: float, derived: bool) -> str:
    return f"{value:,.1f}{'*' if derived else ' '}"


def _align(rows: list[list[str]]) -> str:
    """Return the table: the plant column left-aligned, numbers right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            [
                row[0].ljust(widths[0]),
                *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
            ]
        ).rstrip()
        for row in rows
    )


def mismatches(
    plants: Sequence[Plant], refs: Sequence[PlantRef], start: int, end: int, got: dict[str, Totals]
) -> list[str]:
    """Return ``"name (endpoint)"`` for each plant whose records in `got` differ from its own.

    `got` holds the records fetched per endpoint ("meter", "inverter"); the plants' own
    records in ``[start, end)`` are the ground truth.
    """
    wrong = []
    for plant, ref in zip(plants, refs, strict=True):
        if got["meter"].records.get(ref.label, []) != plant.meter_records(start, end):
            wrong.append(f"{ref.name} (meter)")
        if got["inverter"].records.get(ref.label, []) != plant.inverter_records(start, end):
            wrong.append(f"{ref.name} (inverter)")
    return wrong


def run(args: argparse.Namespace) -> int:
    """Run ``lacecal demo``; return the exit status."""
    stdout, stderr = sys.stdout, sys.stderr
    start = _local_midnight(DEMO_DAY)
    end = _local_midnight(DEMO_DAY + timedelta(days=args.days))
    plants = make_plants(args.plants, seed=0, start=start, days=args.days + 1)
    refs = [PlantRef(plant.itr, alias(i)) for i, plant in enumerate(plants)]
    redact = Redactor(tuple(p.itr for p in plants))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sinks = {"meter": Totals(), "inverter": Totals()}
    fetches: list[Fetch] = []
    mode = choose_mode(args.progress, stderr)

    async def work() -> None:
        async with FakeLacecalServer(plants, rate_limit=args.rate) as server:
            print(
                f"lacecal demo: {len(plants)} fake plants at {server.base_url}, limited to "
                f"{args.rate[0]} requests per {args.rate[1]:g} s per plant (the real service: "
                f"6 per 60 s); fetching {DEMO_DAY} to {DEMO_DAY + timedelta(days=args.days)} "
                "(Europe/Madrid).",
                file=stdout,
                flush=True,
            )
            args.base_url = server.base_url
            async with make_client(args) as client:
                for endpoint in (Endpoint.METER, Endpoint.INVERTER):
                    path = out / f"{endpoint.value}.csv"
                    writer = open_export(str(path), "csv", endpoint, stdout)
                    display = Display(
                        stderr, refs, title=endpoint.value, span=(start, end), rate=args.rate,
                        mode=mode, every=args.progress_every, redact=redact,
                    )  # fmt: skip
                    fetch = Fetch(
                        refs, endpoint, start, end, [writer, sinks[endpoint.value]], display
                    )
                    fetches.append(fetch)
                    try:
                        with log_to(display, verbose=False):
                            await fetch.run(client)
                    finally:
                        writer.close()

    outcome = run_interruptible(work)
    failed = [f for fetch in fetches for f in fetch.failed]
    report_failures(failed, stderr, redact)
    if isinstance(outcome, Interrupted):
        print("lacecal: demo interrupted", file=stderr)
        return outcome.exit_status
    rows, derived, days = summary(refs, sinks["meter"], sinks["inverter"])
    print(file=stdout)
    print(_align(rows), file=stdout)
    if derived:
        print("* no load meter: consumption = production + imported - exported", file=stdout)
    print(_days_line(days), file=stdout)
    records = sum(fetch.periods for fetch in fetches)
    print(
        f"\nWrote {out / 'meter.csv'}, {out / 'inverter.csv'} and {out / 'inverter.periods.csv'} "
        f"({fetches[0].periods:,} and {fetches[1].periods:,} periods).",
        file=stdout,
    )
    wrong = mismatches(plants, refs, start, end, sinks)
    if wrong or failed:
        print(
            f"lacecal: demo FAILED: records differ from the fake plants': {', '.join(wrong)}",
            file=stderr,
        )
        return 1
    print(f"Checked: all {records:,} records equal the fake plants' ground truth.", file=stdout)
    return 0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``demo`` to the command."""
    parser = subparsers.add_parser(
        "demo",
        allow_abbrev=False,
        help="fetch a week from 25 fake plants into CSV files and summarise it",
        description="Start a fake LACECAL server in-process, fetch a week of meter and "
        "inverter records from every plant (exactly as `lacecal fetch` does, at a scaled "
        "rate limit), write DIR/meter.csv and DIR/inverter.csv, and print each plant's "
        "energy produced, imported, exported and consumed.",
    )
    parser.add_argument(
        "--out",
        default="lacecal-demo",
        metavar="DIR",
        help="where the CSV files go (default lacecal-demo)",
    )
    parser.add_argument(
        "--plants",
        type=whole_number(1, MAX_DEMO_PLANTS),
        default=25,
        help=f"number of plants (default 25, at most {MAX_DEMO_PLANTS})",
    )
    parser.add_argument(
        "--days",
        type=whole_number(1, MAX_DEMO_DAYS),
        default=7,
        help=f"days to fetch (default 7, at most {MAX_DEMO_DAYS})",
    )
    parser.add_argument(
        "--rate",
        type=parse_rate,
        default=(6, 1.0),
        metavar="N/SECONDS",
        help="the fake's limit per plant, kept by the client (default 6/1: 60x the real rate)",
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "live", "plain", "none"),
        default="auto",
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--progress-every", type=finite_seconds(), default=5.0, help=argparse.SUPPRESS
    )
    parser.set_defaults(func=run, wire_format="json", timeout=30.0, retries=3, messages_only=True)
