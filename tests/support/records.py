"""Hypothesis strategies of records the wire can carry, and decoding without orjson."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from lacecal_async import (
    EnergyMeter,
    GridMeter,
    GridPhase,
    GridTotals,
    Inverter,
    InverterEnergy,
    InverterRecord,
    MeterRecord,
)
from lacecal_async import _json as json_module

Record = Inverter | InverterRecord | MeterRecord

# Text that XML 1.0 can carry: no control characters (a bare CR would also be normalised).
TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    max_size=12,
)
ENERGY = st.floats(allow_nan=False, allow_infinity=False)
OFFSETS = st.sampled_from([timezone(timedelta(hours=1)), timezone(timedelta(hours=2))])


@st.composite
def starts(draw: st.DrawFn) -> tuple[int, datetime]:
    unix_time = draw(st.integers(946_684_800, 4_102_444_800))
    return unix_time, datetime.fromtimestamp(unix_time, draw(OFFSETS))


inverters = st.builds(
    Inverter,
    id=st.integers(0, 2**31),
    name=TEXT,
    manufacturer=TEXT,
    model=TEXT,
    # XML has no empty-but-present text: an empty <nserie/> reads as "no serial number".
    serial_number=st.none() | TEXT.filter(bool),
)


@st.composite
def inverter_records(draw: st.DrawFn) -> InverterRecord:
    unix_time, start = draw(starts())
    energies = st.builds(InverterEnergy, id=st.integers(0, 2**31), energy=ENERGY)
    return InverterRecord(
        unix_time,
        start,
        draw(st.integers(1, 86_400)),
        draw(ENERGY),
        tuple(draw(st.lists(energies, max_size=3))),
    )


phases = st.none() | st.builds(GridPhase, ENERGY, ENERGY)
grids = st.none() | st.builds(
    GridMeter, st.builds(GridTotals, *[ENERGY] * 6), phases, phases, phases
)
meters = st.none() | st.builds(
    EnergyMeter, ENERGY, st.none() | ENERGY, st.none() | ENERGY, st.none() | ENERGY
)


@st.composite
def meter_records(draw: st.DrawFn) -> MeterRecord:
    unix_time, start = draw(starts())
    return MeterRecord(
        unix_time, start, draw(st.integers(1, 86_400)), draw(grids), draw(meters), draw(meters)
    )


RECORDS: dict[str, st.SearchStrategy[Any]] = {
    "inverter_list": inverters,
    "inverter": inverter_records(),
    "meter": meter_records(),
}
ENDPOINTS = st.sampled_from(sorted(RECORDS))
# (wire_format, XML encoding)
FORMATS = st.sampled_from([("json", "utf-8"), ("xml", "utf-8"), ("xml", "ISO-8859-1")])


@contextmanager
def stdlib_json() -> Iterator[None]:
    """Decode JSON without orjson, as where it is not installed."""
    saved = json_module.fast_loads
    json_module.fast_loads = None
    try:
        yield
    finally:
        json_module.fast_loads = saved
