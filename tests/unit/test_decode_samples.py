"""The spec's six examples, stored exactly as printed, decode to exactly the spec's values."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lacecal_async import (
    decode,
)
from tests.support.samples import EXPECTED, SAMPLES


@pytest.mark.parametrize("wire_format", ["json", "xml"])
@pytest.mark.parametrize("endpoint", ["inverter_list", "inverter", "meter"])
def test_spec_example_decodes_to_the_spec_values(endpoint: str, wire_format: str) -> None:
    body = (SAMPLES / f"{endpoint}.{wire_format}").read_bytes()
    records = decode(endpoint, body, wire_format)
    assert records == EXPECTED[endpoint]
    assert type(records) is tuple


@pytest.mark.parametrize("wire_format", ["json", "xml"])
@pytest.mark.parametrize("endpoint", ["inverter", "meter"])
def test_start_is_unix_time_in_the_offset_the_date_text_carries(
    endpoint: str, wire_format: str
) -> None:
    records = decode(endpoint, (SAMPLES / f"{endpoint}.{wire_format}").read_bytes(), wire_format)
    for record in records:
        assert record.start.timestamp() == record.unix_time
        assert record.start.utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize("wire_format", ["json", "xml"])
def test_energies_are_floats_even_where_the_wire_says_0(wire_format: str) -> None:
    (record, _) = decode("meter", (SAMPLES / f"meter.{wire_format}").read_bytes(), wire_format)
    assert record.grid is not None
    assert type(record.grid.rst.q3) is float
    assert type(record.grid.rst.q4) is float
    assert type(record.unix_time) is int
    assert type(record.interval) is int
