"""Flat rows: the CSV export's columns and values, one function per endpoint."""

from __future__ import annotations

import ast
from pathlib import Path

import attrs
import pytest
from store_support import PLANT

from lacecal_async import sync
from lacecal_async.cli.export import rows as csv_rows
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync.rows import (
    INVERTER_COLUMNS,
    METER_COLUMNS,
    NO_INVERTER,
    columns,
    endpoint_rows,
    inverter_rows,
    meter_rows,
)


def test_columns_per_endpoint() -> None:
    assert columns(Endpoint.METER) is METER_COLUMNS
    assert columns(Endpoint.INVERTER) is INVERTER_COLUMNS
    with pytest.raises(ValueError, match="no records per period"):
        columns(Endpoint.INVERTER_LIST)
    assert len(METER_COLUMNS) == 4 + 12 + 4 + 4


def test_a_plant_without_meters_has_empty_cells_like_the_csv() -> None:
    bare = attrs.evolve(PLANT.meter_record(PLANT.first), grid=None, load=None, renewable=None)
    (row,) = meter_rows("p", [bare])
    assert row[4:] == (None,) * 20
    assert [row] == csv_rows(Endpoint.METER, "p", [bare])


def test_an_inverter_record_without_inverters_is_one_row() -> None:
    record = attrs.evolve(PLANT.inverter_record(PLANT.first), inverters=())
    assert inverter_rows("p", [record]) == [
        ("p", record.unix_time, record.start.isoformat(), record.interval, 0.0, NO_INVERTER, None)
    ]
    # The CSV leaves the cell empty; a key cannot, so the store marks it.
    assert csv_rows(Endpoint.INVERTER, "p", [record])[0][5] is None


def test_a_page_must_hold_its_endpoint_records() -> None:
    meters = [PLANT.meter_record(PLANT.first)]
    inverters = [PLANT.inverter_record(PLANT.first)]
    assert endpoint_rows(Endpoint.METER, "p", meters) == meter_rows("p", meters)
    assert endpoint_rows(Endpoint.INVERTER, "p", inverters) == inverter_rows("p", inverters)
    with pytest.raises(TypeError):
        endpoint_rows(Endpoint.INVERTER, "p", meters)
    with pytest.raises(ValueError, match="no records per period"):
        endpoint_rows(Endpoint.INVERTER_LIST, "p", meters)
    assert endpoint_rows(Endpoint.METER, "p", []) == []


def test_the_store_package_imports_neither_client_nor_cli_nor_testing() -> None:
    # The store receives records and writes them: the engine above it owns the client.
    forbidden = ("client", "fanout", "_transport", "_paging", "_pagination", "cli", "testing")
    package = Path(sync.__file__).parent
    stores = [p for p in sorted(package.glob("*.py")) if p.name != "engine.py"]
    assert len(stores) >= 5
    for source in stores:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                assert not (parts[0] == "lacecal_async" and set(parts[1:2]) & set(forbidden)), (
                    f"{source.name} imports {name}"
                )
