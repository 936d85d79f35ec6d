"""The flat tables: one schema for exports and stores, rows that give their records back."""

from __future__ import annotations

import ast
from pathlib import Path

import attrs
import pytest

import lacecal_async
from lacecal_async import sync
from lacecal_async.endpoints import Endpoint
from lacecal_async.records import EnergyMeter, GridMeter, GridPhase, InverterEnergy
from lacecal_async.tables import (
    INVERTER_LIST,
    INVERTERS,
    METER,
    PERIODS,
    inverter_record,
    meter_record,
    tables,
)
from tests.support.stores import PLANT

SPAN = (PLANT.first, PLANT.first + 30 * PLANT.interval)


def test_tables_per_endpoint() -> None:
    assert tables(Endpoint.METER) == (METER,)
    assert tables(Endpoint.INVERTER) == (INVERTERS, PERIODS)
    assert tables(Endpoint.INVERTER_LIST) == (INVERTER_LIST,)
    assert len(METER.columns) == 5 + 12 + 4 + 4
    for table in (METER, INVERTERS, PERIODS, INVERTER_LIST):
        assert set(table.key) <= set(table.names)
        assert table.names[0] == "plant"


def test_inverter_rows_hold_no_period_total() -> None:
    records = PLANT.inverter_records(*SPAN)
    per_inverter = INVERTERS.rows("p", records)
    periods = PERIODS.rows("p", records)
    assert "total_energy_kwh" not in INVERTERS.names
    assert len(periods) == len(records)
    assert len(per_inverter) == sum(len(r.inverters) for r in records)
    total = PERIODS.names.index("total_energy_kwh")
    assert sum(row[total] for row in periods) == pytest.approx(  # type: ignore[misc]
        sum(r.total_energy for r in records)
    )


def test_meter_rows_give_their_records_back() -> None:
    records = PLANT.meter_records(*SPAN)
    bare = attrs.evolve(records[0], grid=None, load=None, renewable=None)
    single = attrs.evolve(
        records[1],
        grid=GridMeter(records[1].grid.rst) if records[1].grid else None,
        load=EnergyMeter(1.5),
        renewable=EnergyMeter(2.0, 0.5, None, 1.0),
    )
    phases = attrs.evolve(
        records[2],
        grid=attrs.evolve(records[2].grid, r=GridPhase(0.1, 0.2)) if records[2].grid else None,
    )
    for record in [bare, single, phases, *records[3:]]:
        (row,) = METER.rows("p", [record])
        assert meter_record(row) == record
    (row,) = METER.rows("p", [bare])
    assert row[5:] == (None,) * 20


def test_inverter_rows_give_their_records_back() -> None:
    for record in PLANT.inverter_records(*SPAN):
        (period,) = PERIODS.rows("p", [record])
        assert inverter_record(period, INVERTERS.rows("p", [record])) == record
    empty = attrs.evolve(PLANT.inverter_record(PLANT.first), inverters=(), total_energy=0.0)
    (period,) = PERIODS.rows("p", [empty])
    assert period[-1] == 0  # inverter_count
    assert INVERTERS.rows("p", [empty]) == []
    assert inverter_record(period, []) == empty
    two = attrs.evolve(empty, inverters=(InverterEnergy(3, 1.0), InverterEnergy(9, 2.5)))
    (period,) = PERIODS.rows("p", [two])
    assert inverter_record(period, INVERTERS.rows("p", [two])) == two


def test_rows_of_the_wrong_types_are_refused() -> None:
    (row,) = METER.rows("p", PLANT.meter_records(PLANT.first, PLANT.first + PLANT.interval))
    with pytest.raises(TypeError, match="start as a datetime"):
        meter_record((*row[:2], row[2].isoformat(), *row[3:]))  # type: ignore[union-attr]
    with pytest.raises(TypeError, match="expected an int"):
        meter_record((*row[:4], 600.0, *row[5:]))
    with pytest.raises(TypeError, match="expected a number"):
        meter_record((*row[:5], "1.0", *row[6:]))


def _imports(package: Path) -> list[tuple[str, str]]:
    found = []
    for source in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.append((str(source.relative_to(package)), node.module))
                found.extend(
                    (str(source.relative_to(package)), f"{node.module}.{a.name}")
                    for a in node.names
                )
            elif isinstance(node, ast.Import):
                found.extend((str(source.relative_to(package)), a.name) for a in node.names)
    return found


def test_the_store_package_imports_neither_client_nor_cli_nor_testing() -> None:
    # The store receives records and writes them: the engine above it owns the client.
    forbidden = {"client", "fanout", "_transport", "_paging", "_pagination", "cli", "testing"}
    stores = [(s, n) for s, n in _imports(Path(sync.__file__).parent) if s != "engine.py"]
    assert len({source for source, _ in stores}) >= 4
    for source, name in stores:
        parts = name.split(".")
        assert not (parts[0] == "lacecal_async" and set(parts[1:2]) & forbidden), (
            f"{source} imports {name}"
        )


def test_the_library_never_imports_the_cli() -> None:
    # ``python -m lacecal_async`` runs the command: only __main__ and the CLI may import it.
    package = Path(lacecal_async.__file__).parent
    imports = _imports(package)
    assert ("tables.py", "lacecal_async.records") in imports  # the walk sees the library
    for source, name in imports:
        if not source.startswith("cli/") and source != "__main__.py":
            assert not (name + ".").startswith("lacecal_async.cli."), f"{source} imports {name}"
