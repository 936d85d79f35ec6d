"""Helpers of the CLI tests: a fake server on a thread of its own, and the ground truth.

`main()` runs its own event loop (``asyncio.run``), and a subprocess needs a server too,
so the fake server runs on a background thread's loop. The expected rows are spelled out
field by field from the plants' records, independently of the exporter's code.
"""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs

from lacecal_async.records import (
    EnergyMeter,
    GridMeter,
    GridPhase,
    GridTotals,
    InverterEnergy,
    InverterRecord,
    MeterRecord,
)
from lacecal_async.testing import FakeLacecalServer, Faults, Plant, make_plants
from tests.support import processes

#: Five varied plants (600/900/3600 s, single-phase, no load, no renewable, gaps), 3 days.
PLANTS = make_plants(5, seed=15, days=3)
START = PLANTS[0].first
END = START + 3 * 86400
#: A plant whose every request fails with 503.
BROKEN = attrs.evolve(make_plants(1, seed=99)[0], faults=Faults(always_fail=True))
#: A well-formed identifier the server does not know (404).
UNKNOWN = "Unknown000000ITR"
#: A client limit far above what the tests need: the server runs unlimited.
FAST = "100/0.1"


@contextmanager
def threaded_server(
    plants: Iterable[Plant], rate_limit: tuple[int, float] | None = None
) -> Iterator[FakeLacecalServer]:
    """Serve `plants` on 127.0.0.1 from a background thread's event loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = FakeLacecalServer(plants, rate_limit=rate_limit)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def secrets(plants: Iterable[Plant]) -> list[str]:
    """Every plant's full identifier."""
    return [plant.itr for plant in plants]


def assert_no_secret(text: str, itrs: Iterable[str]) -> None:
    """Fail if any full identifier shows in `text`."""
    for itr in itrs:
        assert itr not in text, f"full identifier in: {text!r}"


# -- expected rows ----------------------------------------------------------------------


def meter_expected(label: str, r: MeterRecord) -> dict[str, Any]:
    """The flat row of a meter record, spelled out column by column."""
    grid = r.grid
    assert grid is not None
    row: dict[str, Any] = {
        "plant": label,
        "unix_time": r.unix_time,
        "start": r.start.isoformat(),
        "utc_offset_s": offset(r),
        "interval_s": r.interval,
        "grid_imported_kwh": grid.rst.imported,
        "grid_exported_kwh": grid.rst.exported,
        "grid_q1_kvarh": grid.rst.q1,
        "grid_q2_kvarh": grid.rst.q2,
        "grid_q3_kvarh": grid.rst.q3,
        "grid_q4_kvarh": grid.rst.q4,
    }
    for name, phase in (("r", grid.r), ("s", grid.s), ("t", grid.t)):
        row[f"grid_{name}_imported_kwh"] = phase.imported if phase else None
        row[f"grid_{name}_exported_kwh"] = phase.exported if phase else None
    for name, meter in (("load", r.load), ("renewable", r.renewable)):
        row[f"{name}_kwh"] = meter.rst if meter else None
        for phase_name in ("r", "s", "t"):
            row[f"{name}_{phase_name}_kwh"] = getattr(meter, phase_name) if meter else None
    return row


def offset(r: MeterRecord | InverterRecord) -> int:
    """The plant's UTC offset at the record's start [s], from the service's ``date`` text."""
    return {"+0200": 7200, "+0100": 3600}[r.start.strftime("%z")]


def inverter_expected(label: str, r: InverterRecord) -> list[dict[str, Any]]:
    """The rows of an inverter record: one per inverter, without the period's total."""
    return [
        {
            "plant": label,
            "unix_time": r.unix_time,
            "start": r.start.isoformat(),
            "utc_offset_s": offset(r),
            "interval_s": r.interval,
            "inverter_id": inverter.id,
            "inverter_energy_kwh": inverter.energy,
        }
        for inverter in r.inverters
    ]


def period_expected(label: str, r: InverterRecord) -> dict[str, Any]:
    """The periods-file row of an inverter record: the plant's total."""
    return {
        "plant": label,
        "unix_time": r.unix_time,
        "start": r.start.isoformat(),
        "utc_offset_s": offset(r),
        "interval_s": r.interval,
        "total_energy_kwh": r.total_energy,
        "inverter_count": len(r.inverters),
    }


def expected_rows(endpoint: str, label: str, plant: Plant, start: int, end: int) -> list[Any]:
    """All rows of a plant's records in [start, end) (``periods``: the inverter periods)."""
    if endpoint == "meter":
        return [meter_expected(label, r) for r in plant.meter_records(start, end)]
    if endpoint == "periods":
        return [period_expected(label, r) for r in plant.inverter_records(start, end)]
    return [row for r in plant.inverter_records(start, end) for row in inverter_expected(label, r)]


def local_start(row: dict[str, Any]) -> dict[str, Any]:
    """A Parquet row with ``start`` (a UTC datetime) as the plant's local ISO text again."""
    zone = timezone(timedelta(seconds=row["utc_offset_s"]))
    return row | {"start": row["start"].astimezone(zone).isoformat()}


def read_parquet(path: Path) -> list[dict[str, Any]]:
    """The rows of a Parquet file, ``start`` as local text (see `local_start`)."""
    import pyarrow.parquet as pq  # noqa: PLC0415 - the tests that call it skip without it

    return [local_start(row) for row in pq.read_table(path).to_pylist()]


_INTS = {"unix_time", "interval_s", "inverter_id", "utc_offset_s", "inverter_count"}
_STRS = {"plant", "start"}


def read_csv(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The header and the typed rows of a CSV file (empty cells: None)."""
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader)
        rows = []
        for cells in reader:
            row: dict[str, Any] = {}
            for name, cell in zip(header, cells, strict=True):
                if cell == "":
                    row[name] = None
                elif name in _STRS:
                    row[name] = cell
                else:
                    row[name] = int(cell) if name in _INTS else float(cell)
            rows.append(row)
    return header, rows


def by_plant(rows: Iterable[dict[str, Any]], key: str = "plant") -> dict[str, list[Any]]:
    """Rows grouped by plant, in their order."""
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row[key], []).append(row)
    return grouped


# -- JSON Lines back into records --------------------------------------------------------


def _energy(obj: dict[str, Any] | None) -> EnergyMeter | None:
    return None if obj is None else EnergyMeter(obj["rst"], obj["r"], obj["s"], obj["t"])


def _phase(obj: dict[str, Any] | None) -> GridPhase | None:
    return None if obj is None else GridPhase(obj["imported"], obj["exported"])


def record_from_json(endpoint: str, obj: dict[str, Any]) -> MeterRecord | InverterRecord:
    """Rebuild a record from its JSON Lines object, key by key."""
    start = datetime.fromisoformat(obj["start"])
    assert obj["utc_offset_s"] == start.utcoffset().total_seconds()  # type: ignore[union-attr]
    if endpoint == "inverter":
        return InverterRecord(
            obj["unix_time"],
            start,
            obj["interval"],
            obj["total_energy"],
            tuple(InverterEnergy(i["id"], i["energy"]) for i in obj["inverters"]),
        )
    grid = obj["grid"]
    return MeterRecord(
        obj["unix_time"],
        start,
        obj["interval"],
        GridMeter(
            GridTotals(**grid["rst"]), _phase(grid["r"]), _phase(grid["s"]), _phase(grid["t"])
        ),
        _energy(obj["load"]),
        _energy(obj["renewable"]),
    )


def read_jsonl(text: str) -> list[dict[str, Any]]:
    """Every line of a JSON Lines text, parsed."""
    return [json.loads(line) for line in text.splitlines()]


def truth(endpoint: str, plant: Plant, start: int, end: int) -> Sequence[Any]:
    """The plant's records of the endpoint in [start, end)."""
    if endpoint == "meter":
        return plant.meter_records(start, end)
    return plant.inverter_records(start, end)


#: Integration period of the following fake servers [s].
FOLLOW_PERIOD = 2


@contextmanager
def following_fake_server(plants: int) -> Iterator[tuple[str, list[str], int]]:
    """A fake server in a child process whose plants follow its clock (2 s periods).

    Yields its URL, the plants' identifiers and a ``--since`` ten periods back.
    """
    start = int(time.time()) // FOLLOW_PERIOD * FOLLOW_PERIOD - 10 * FOLLOW_PERIOD
    command = [
        *(sys.executable, "-m", "lacecal_async.testing", "--plants", str(plants)),
        *("--seed", "9", "--rate", "none", "--interval", str(FOLLOW_PERIOD), "--follow"),
        *("--days", "1", "--start", str(start), "--stop-on-eof"),
    ]
    with processes.started(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        made = make_plants(
            plants, 9, start=start, days=1, interval=FOLLOW_PERIOD, follow_clock=True
        )
        yield url, [p.itr for p in made], start


#: Across the autumn DST change (2024-10-27 01:00 UTC): offsets 7200, then 3600.
DST_START = int(datetime(2024, 10, 26, 12, tzinfo=UTC).timestamp())
DST_END = DST_START + 86400
#: Every meter and phase, so no CSV column is empty throughout (its type unguessable).
FULL = [
    attrs.evolve(p, load=True, renewable=True, three_phase=True)
    for p in make_plants(2, seed=15, start=DST_START - 86400, days=3)
]
#: Ten days of three plants at one request per 0.4 s: a fetch that Ctrl-C can catch.
SLOW = make_plants(3, seed=15, days=10)
SLOW_START = SLOW[0].first
SLOW_END = SLOW_START + 10 * 86400
