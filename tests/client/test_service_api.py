"""The API a service expects: latest records, limiter state, per-call options, all through
the public client against the fake server (real HTTP on loopback, scaled rate limits)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from lacecal_async import (
    InvalidITRError,
    LacecalClient,
    LacecalClosedError,
    LacecalResponseError,
    LatestResult,
    LimitState,
)
from lacecal_async.testing import DEFAULT_START, FakeClock, Plant, make_plants
from tests.support.checks import arrival_times, max_in_window, wait_until
from tests.support.fixtures import ClientFactory, ServerFactory
from tests.support.scripted import ScriptFactory

UNKNOWN = "ZZZZ0000ZZZZ0000"


def _no_data_yet(itr: str, first: int = DEFAULT_START) -> Plant:
    """A plant that follows the server's clock; a clock before `first` means no data yet."""
    return attrs.evolve(make_plants(1, seed=5)[0], itr=itr, first=first, latest=None)


async def test_latest_records_are_the_plants_last_ones(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant
) -> None:
    server = await make_server([plant])
    client = make_client(server.base_url)
    last = plant.last_time()

    meter = await client.latest_meter_record(plant.itr)
    inverter = await client.latest_inverter_record(plant.itr)

    assert meter == plant.meter_records(last, last + plant.interval)[0]
    assert inverter == plant.inverter_records(last, last + plant.interval)[0]
    assert server.stats(plant.itr).requests == 2  # one request each, no paging


async def test_latest_record_is_none_when_the_plant_has_no_data_yet(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    empty = _no_data_yet("EMPTY00000000001")
    server = await make_server([empty], clock=FakeClock(DEFAULT_START - 3600))
    client = make_client(server.base_url)

    assert await client.latest_meter_record(empty.itr) is None
    assert await client.latest_inverter_record(empty.itr) is None
    with pytest.raises(InvalidITRError):
        await client.latest_meter_record("short")


async def test_latest_many_isolates_each_plant(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    plants = make_plants(3, seed=3)
    clock = FakeClock(plants[0].last_time() + 7200)
    empty = _no_data_yet("EMPTY00000000001", first=plants[0].last_time() + 10 * 86400)
    server = await make_server([*plants, empty], clock=clock)
    client = make_client(server.base_url, retries=0)
    itrs = [p.itr for p in plants]

    results = await client.latest_many([*itrs, empty.itr, UNKNOWN, "bad"], "meter")

    for p in plants:
        last = p.last_time()
        want = p.meter_records(last, last + p.interval)[0]
        assert results[p.itr] == LatestResult(p.itr, want, None)
        assert results[p.itr].ok
    assert results[empty.itr] == LatestResult(empty.itr, None, None)
    failed = results[UNKNOWN]
    assert failed.record is None
    assert not failed.ok
    assert isinstance(failed.error, LacecalResponseError)
    assert failed.error.status == 404
    assert isinstance(results["bad"].error, InvalidITRError)
    assert UNKNOWN not in repr(failed)
    inverters = await client.latest_many(itrs, "inverter")
    assert {k: r.record.unix_time for k, r in inverters.items() if r.record} == {
        p.itr: p.last_time() for p in plants
    }
    with pytest.raises(ValueError, match="latest_many"):
        await client.latest_many(itrs, "inverter_list")


async def test_limit_state_of_an_unused_itr_is_all_free_and_creates_nothing(
    make_client: ClientFactory,
) -> None:
    client = make_client("http://127.0.0.1:9/APIv1/", rate_limit=(6, 60.0))
    before = datetime.now(UTC)

    states = [client.limit_state(f"{i:016d}") for i in range(1000)]

    state = states[0]
    assert state.free == 6
    assert (state.busy, state.waiting) == (0, 0)
    assert state.next_free_in == 0.0
    assert state.paused_for == 0.0
    assert state.ready_in == 0.0
    assert state.all_free_in == 0.0
    assert before <= state.taken_at <= datetime.now(UTC)
    assert state.ready_at == state.taken_at
    assert "tracked=0" in repr(client)  # a thousand questions, no limiter kept
    with pytest.raises(InvalidITRError):
        client.limit_state("not an identifier")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        state.free = 1  # type: ignore[misc]


async def test_limit_state_counts_down_slots_and_says_when_the_next_frees(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant
) -> None:
    limit = (3, 60.0)
    server = await make_server([plant], rate_limit=limit)
    client = make_client(server.base_url, rate_limit=limit)

    loop = asyncio.get_running_loop()
    began = loop.time()
    await client.inverters(plant.itr)
    one = client.limit_state(plant.itr)
    one_after = loop.time() - began
    await client.inverters(plant.itr)
    await client.inverters(plant.itr)
    spent = client.limit_state(plant.itr)
    spent_after = loop.time() - began
    fourth = asyncio.create_task(client.inverters(plant.itr))
    await wait_until(lambda: client.limit_state(plant.itr).waiting == 1)
    queued = client.limit_state(plant.itr)
    fourth.cancel()
    with pytest.raises(asyncio.CancelledError):
        await fourth

    assert (one.free, one.busy) == (2, 0)
    assert one.next_free_in == 0.0
    assert one.all_free_in is not None
    # A period plus the 1/60 margin after the reply, which came in after `began`.
    assert 61.0 - one_after <= one.all_free_in <= 61.0
    assert spent.free == 0
    assert spent.next_free_in is not None
    assert 61.0 - spent_after <= spent.next_free_in <= 61.0
    assert spent.next_free_at is not None
    assert spent.ready_at == spent.next_free_at
    assert spent.next_free_at - spent.taken_at == timedelta(seconds=spent.next_free_in)
    assert queued.waiting == 1
    assert server.stats(plant.itr).requests == 3


async def test_limit_state_shows_a_429_pause(
    make_scripted: ScriptFactory, make_client: ClientFactory, plant: Plant
) -> None:
    scripted = await make_scripted([(429, {"Retry-After": "30"}, b"")])
    client = make_client(scripted.base_url, rate_limit=(6, 60.0), retries=0)

    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(LacecalResponseError):
        await client.inverters(plant.itr)
    state = client.limit_state(plant.itr)

    # 30 s from when the 429 came in (after `began`): what is left of them now.
    assert 30.0 - (loop.time() - began) <= state.paused_for <= 30.0
    assert state.free == 5
    assert state.ready_in == state.paused_for


async def test_a_view_and_its_client_share_the_itrs_limit(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant
) -> None:
    limit = (4, 0.3)
    server = await make_server([plant], rate_limit=limit)  # strict sliding window
    client = make_client(server.base_url, rate_limit=limit)
    view = client.with_options(retries=0, timeout=5)

    results = await asyncio.gather(
        *(c.inverters(plant.itr) for _ in range(10) for c in (client, view))
    )

    assert all(r == plant.inverters for r in results)
    stats = server.stats(plant.itr)
    assert stats.requests == 20
    assert stats.rejections == 0  # two separate limiters would have let 8 go at once
    assert max_in_window(arrival_times(server, plant.itr), limit[1]) <= 4
    assert (view.retries, view.timeout) == (0, 5.0)
    assert (client.retries, client.timeout) == (3, 30.0)
    assert "view" in repr(view)


async def test_a_view_with_no_retries_makes_one_attempt(
    make_scripted: ScriptFactory, make_client: ClientFactory, plant: Plant
) -> None:
    scripted = await make_scripted([(503, {}, b"")] * 3)
    client = make_client(scripted.base_url, retries=3)
    view = client.with_options(retries=0)

    with pytest.raises(LacecalResponseError):
        await view.inverters(plant.itr)
    assert len(scripted.arrivals) == 1
    assert await client.inverters(plant.itr)  # the parent retries: two 503s, then a 200
    assert len(scripted.arrivals) == 4


async def test_closing_a_view_leaves_the_client_open_and_closing_the_client_ends_the_view(
    make_server: ServerFactory, plant: Plant
) -> None:
    server = await make_server([plant], rate_limit=(1, 60.0))
    client = LacecalClient(base_url=server.base_url, rate_limit=(1, 60.0))
    view = client.with_options(timeout=5)
    async with view:
        await view.inverters(plant.itr)
    await view.close()
    assert client.limit_state(plant.itr).free == 0  # the view's request used the shared slot

    waiting = asyncio.create_task(view.inverters(plant.itr))  # waits a minute for the slot
    await wait_until(lambda: client.limit_state(plant.itr).waiting == 1)
    async with asyncio.timeout(15):  # at once, not after the minute the slot is away
        await client.close()
        with pytest.raises(LacecalClosedError):
            await waiting
    with pytest.raises(LacecalClosedError):
        await view.inverters(plant.itr)


@pytest.mark.parametrize(
    ("options", "error"),
    [({"retries": -1}, ValueError), ({"timeout": 0}, ValueError)],
)
async def test_with_options_checks_its_arguments(
    make_client: ClientFactory, options: dict[str, float], error: type[Exception]
) -> None:
    client = make_client("http://127.0.0.1:9/APIv1/")
    with pytest.raises(error):
        client.with_options(**options)  # type: ignore[arg-type]


def test_limit_state_is_a_plain_value() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    state = LimitState(6, 60.0, 0, 6, 2, None, 5.0, None, now)
    assert state.ready_in is None
    assert state.ready_at is None
    assert state.next_free_at is None
    paused = attrs.evolve(state, next_free_in=1.0)
    assert paused.ready_in == 5.0
    assert paused.ready_at == now + timedelta(seconds=5)
