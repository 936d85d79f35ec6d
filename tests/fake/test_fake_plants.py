"""Ground truth of the fake plants: reproducible, varied, physical; clocks; wire fragments."""

from __future__ import annotations

import asyncio
import time

import attrs
import pytest

from lacecal_async.clock import Clock
from lacecal_async.itr import validate_itr
from lacecal_async.testing import (
    DEFAULT_START,
    FakeClock,
    ScaledClock,
    SystemClock,
    local_start,
    make_plants,
    parse_local,
)
from lacecal_async.testing.wire import assemble, encode, encode_item
from tests.support.checks import wait_until

PLANTS = make_plants(20, seed=0)
DAY = 86400


def test_make_plants_is_reproducible_and_seeded() -> None:
    assert make_plants(20, seed=0) == PLANTS
    assert make_plants(20, seed=1) != PLANTS
    again = make_plants(20, seed=0)[5]
    assert again.meter_record(again.first + 12 * 3600) == PLANTS[5].meter_record(
        PLANTS[5].first + 12 * 3600
    )


def test_make_plants_variety() -> None:
    assert len({p.itr for p in PLANTS}) == 20
    assert all(validate_itr(p.itr) for p in PLANTS)
    assert {p.interval for p in PLANTS} >= {300, 600, 3600}
    counts = {i: sum(p.interval == i for p in PLANTS) for i in (300, 600, 900, 3600)}
    assert max(counts, key=lambda i: counts[i]) == 600
    assert any(not p.three_phase for p in PLANTS)
    assert any(not p.load for p in PLANTS)
    assert any(not p.renewable for p in PLANTS)
    assert any(p.gaps for p in PLANTS)
    names = [i.name for p in PLANTS for i in p.inverters]
    assert any(not name.isascii() for name in names)
    serials = [i.serial_number for p in PLANTS for i in p.inverters]
    assert None in serials
    assert any(s is not None for s in serials)
    plain = PLANTS[0]
    assert (plain.interval, plain.three_phase, plain.load, plain.renewable, plain.gaps) == (
        600,
        True,
        True,
        True,
        (),
    )


def test_make_plants_windows_and_options() -> None:
    for plant in PLANTS:
        assert plant.first == DEFAULT_START
        assert plant.latest == DEFAULT_START + 30 * DAY - plant.interval
    short = make_plants(20, seed=0, start=DEFAULT_START + 7, days=1, interval=900, gaps=False)
    assert all(p.interval == 900 and not p.gaps for p in short)
    assert all(p.first == DEFAULT_START + 900 for p in short)
    assert [p.itr for p in short] == [p.itr for p in PLANTS]  # options change nothing else
    follow = make_plants(2, follow_clock=True)
    assert all(p.latest is None for p in follow)


def test_plant_validation() -> None:
    plant = PLANTS[0]
    with pytest.raises(ValueError, match="first"):
        attrs.evolve(plant, first=plant.first + 1)
    with pytest.raises(ValueError, match="latest"):
        attrs.evolve(plant, latest=plant.first + 5)
    with pytest.raises(ValueError, match="interval"):
        attrs.evolve(plant, interval=0)
    with pytest.raises(ValueError, match="n_counts"):
        attrs.evolve(plant, n_counts="pages")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ITR"):
        attrs.evolve(plant, itr="not an itr")
    with pytest.raises(ValueError, match="needs `now`"):
        attrs.evolve(plant, latest=None).last_time()


def test_availability_respects_window_and_gaps() -> None:
    gapped = next(p for p in PLANTS if p.gaps)
    start, end = gapped.gaps[0]
    times = gapped.available_times(start - 3 * gapped.interval, end + 3 * gapped.interval)
    assert not any(start <= t < end for t in times)
    assert times[:3] == [start - 3 * gapped.interval + i * gapped.interval for i in range(3)]
    assert all(t % gapped.interval == 0 for t in times)
    assert not gapped.has_record(start)
    assert gapped.has_record(times[0])
    assert not gapped.has_record(times[0] + 1)
    plain = PLANTS[0]
    assert plain.available_times(0, plain.first + 1) == [plain.first]
    assert plain.available_times(plain.latest or 0, 2**40) == [plain.latest]
    assert [r.unix_time for r in plain.meter_records(plain.first, plain.first + 1800)] == [
        plain.first,
        plain.first + 600,
        plain.first + 1200,
    ]
    assert len(plain.inverter_records(plain.first, plain.first + DAY)) == 144


def test_follow_clock_last_time() -> None:
    plant = attrs.evolve(PLANTS[0], latest=None)
    assert plant.last_time(plant.first + 600) == plant.first  # [first, first+600) complete
    assert plant.last_time(plant.first + 1199.9) == plant.first
    assert plant.available_times(0, 2**40, now=plant.first + 1800) == [
        plant.first,
        plant.first + 600,
        plant.first + 1200,
    ]


def test_solar_follows_the_sun() -> None:
    for plant in PLANTS:
        day = plant.first + 10 * DAY
        midnight_utc = plant.inverter_record(day - day % DAY)
        assert midnight_utc.total_energy == 0
        assert all(i.energy == 0 for i in midnight_utc.inverters)
        noon = [plant.inverter_record(day - day % DAY + 12 * 3600 + k * DAY) for k in range(3)]
        assert max(r.total_energy for r in noon) > 0.05 * plant.peak_kw * plant.interval / 3600
        meter = plant.meter_record(day - day % DAY)
        if plant.renewable:
            assert meter.renewable is not None
            assert meter.renewable.rst == 0


def test_energies_balance_and_sum() -> None:
    for plant in PLANTS:
        for t in plant.available_times(plant.first, plant.first + 2 * DAY)[::7]:
            inverters = plant.inverter_record(t)
            assert inverters.total_energy == pytest.approx(
                sum(i.energy for i in inverters.inverters), abs=1e-9
            )
            assert [i.id for i in inverters.inverters] == [i.id for i in plant.inverters]
            meter = plant.meter_record(t)
            assert meter.grid is not None
            grid = meter.grid.rst
            assert min(grid.imported, grid.exported, grid.q1, grid.q2, grid.q3, grid.q4) >= 0
            if meter.load is not None and meter.renewable is not None:
                net = meter.load.rst - meter.renewable.rst
                assert grid.imported - grid.exported == pytest.approx(net, abs=1e-4)
                assert grid.imported >= max(net, 0) - 1e-4
                reno_vs_inv = meter.renewable.rst - 0.985 * inverters.total_energy
                assert abs(reno_vs_inv) <= 0.01 * len(plant.inverters) + 1e-3
            if plant.three_phase:
                assert meter.grid.r is not None
                assert meter.grid.t is not None
                phases = meter.grid.r.imported + meter.grid.s.imported + meter.grid.t.imported  # type: ignore[union-attr]
                assert phases == pytest.approx(grid.imported, abs=1e-4)
            else:
                assert (meter.grid.r, meter.grid.s, meter.grid.t) == (None, None, None)
            assert (meter.load is not None) == plant.load
            assert (meter.renewable is not None) == plant.renewable
            for value in (grid.imported, grid.q1):
                assert round(value, 5) == value


def test_dates_carry_the_madrid_offset() -> None:
    summer = local_start(1496660400)
    assert summer.isoformat() == "2017-06-05T13:00:00+02:00"
    assert local_start(1729990800).isoformat() == "2024-10-27T02:00:00+01:00"
    assert PLANTS[0].meter_record(1729989000).start.isoformat() == "2024-10-27T02:30:00+02:00"


@pytest.mark.parametrize(
    ("d", "utc"),
    [
        ("201706051300", 1496660400),
        ("202410270230", 1729989000),  # ambiguous: first occurrence (+0200)
        ("202410270330", 1729996200),
        ("202403310230", 1711846800),  # missing: the instant after the gap (03:00 +0200)
        ("202403310159", 1711846740),
        ("202401011200", 1704106800),
    ],
)
def test_parse_local(d: str, utc: int) -> None:
    assert parse_local(d) == utc


def test_wire_fragments_assemble_like_encode() -> None:
    plant = next(p for p in PLANTS if not p.three_phase)
    times = plant.available_times(plant.first + 11 * 3600, plant.first + 13 * 3600)
    for endpoint, make in (("meter", plant.meter_record), ("inverter", plant.inverter_record)):
        records = [make(t) for t in times]
        for fmt in ("json", "xml"):
            items = [encode_item(endpoint, r, fmt) for r in records]
            assert assemble(endpoint, items, fmt) == encode(endpoint, records, fmt)
            assert assemble(endpoint, [], fmt) == encode(endpoint, [], fmt)
            assert assemble(endpoint, items, fmt, xml_declaration=False) == encode(
                endpoint, records, fmt, xml_declaration=False
            )
    items = [encode_item("inverter_list", i, "xml") for i in plant.inverters]
    assert assemble("inverter_list", items, "xml") == encode(
        "inverter_list", plant.inverters, "xml"
    )


def test_clocks() -> None:
    fake = FakeClock(100)
    assert fake.now() == 100
    assert fake.advance(50) == 150
    with pytest.raises(ValueError, match="forward"):
        fake.advance(-1)
    fake.set(10)
    assert fake.now() == 10
    assert abs(SystemClock().now() - time.time()) < 5
    scaled = ScaledClock(1000, speed=1000)
    time.sleep(0.01)
    assert scaled.now() >= 1000 + 0.01 * 1000 * 0.9
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(0, speed=0)


async def test_a_fake_clocks_sleep_ends_once_the_clock_is_moved_past_its_end() -> None:
    clock = FakeClock(100)
    assert isinstance(clock, Clock)  # follow mode can run on it
    woke: list[float] = []

    async def nap(seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(seconds)

    naps = [asyncio.create_task(nap(s)) for s in (5, 10)]
    await wait_until(lambda: clock.sleepers == 2)
    clock.advance(4)
    await asyncio.sleep(0)
    assert (woke, clock.sleepers) == ([], 2)  # nothing is due: real time does not count
    clock.advance(1)
    assert clock.sleepers == 1  # ended at once, run on the next loop turn
    await wait_until(lambda: woke == [5])
    clock.set(200)
    await asyncio.gather(*naps)
    assert (woke, clock.sleepers) == ([5, 10], 0)

    cancelled = asyncio.create_task(clock.sleep(1))
    await wait_until(lambda: clock.sleepers == 1)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert clock.sleepers == 0  # a cancelled sleep no longer waits for the clock
    await clock.sleep(0)  # not positive: one loop turn, the clock need not move
    await clock.sleep(-1)

    moved_elsewhere = asyncio.create_task(clock.sleep(1))
    await wait_until(lambda: clock.sleepers == 1)
    await asyncio.to_thread(clock.advance, 1)  # moved from another thread
    await moved_elsewhere
    assert clock.now() == 201


def test_wire_leaves_out_absent_meters() -> None:
    record = attrs.evolve(PLANTS[0].meter_record(PLANTS[0].first), grid=None, load=None)
    body = encode("meter", [record], "json")
    assert b"GRID_meter" not in body
    assert b"LOAD_meter" not in body
    assert b"RENO_meter" in body
    bare = encode("meter", [attrs.evolve(record, renewable=None)], "xml")
    assert b"RENO_meter" not in bare
