"""Fair, bounded fan-out: failing plants do not hold healthy ones back, and the ITRs in
progress (tasks, memory, identifiers read from the input) follow `max_active`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lacecal_async import ItrDone, ItrFailed, LacecalClient, LacecalResponseError, PageEvent
from lacecal_async.fanout import DEFAULT_MAX_ACTIVE
from lacecal_async.testing import Faults, make_plants
from tests.support.checks import client_tasks
from tests.support.fixtures import ServerFactory

DAY = 86_400
RATE = (6, 0.5)


async def test_a_healthy_plant_is_not_held_back_by_fifty_failing_ones(
    make_server: ServerFactory,
) -> None:
    plants = make_plants(51, seed=11, interval=600, gaps=False)
    failing, healthy = plants[:50], plants[50]
    server = await make_server(plants, rate_limit=RATE)
    for plant in failing:
        server.set_faults(plant.itr, Faults(always_fail=True))
    start = healthy.first + DAY
    order: list[tuple[str, str]] = []
    async with LacecalClient(base_url=server.base_url, rate_limit=RATE, retries=3) as client:
        stream = client.stream_many(
            [p.itr for p in plants], "meter", start, start + DAY, max_in_flight=1, buffer=1
        )
        async for event in stream:
            kind = type(event).__name__
            order.append(("healthy" if event.itr_id == healthy.itr else "failing", kind))
    healthy_page = order.index(("healthy", "PageEvent"))
    first_failure = order.index(("failing", "ItrFailed"))
    assert healthy_page < first_failure
    assert order.count(("failing", "ItrFailed")) == 50
    assert ("healthy", "ItrDone") in order
    assert all(server.stats(p.itr).requests == 4 for p in failing)  # retries still happen


@pytest.mark.slow
async def test_active_itrs_tasks_and_input_reads_follow_max_active(
    make_server: ServerFactory,
) -> None:
    plants = make_plants(30, seed=2)
    server = await make_server(plants, rate_limit=RATE)
    server.set_faults(plants[4].itr, Faults(fail_first=1))
    pulled = 0

    def identifiers() -> Iterator[str]:
        nonlocal pulled
        for plant in plants:
            pulled += 1
            yield plant.itr

    max_active, buffer = 4, 1
    finished = 0
    most_tasks = 0
    async with LacecalClient(base_url=server.base_url, rate_limit=RATE, retries=2) as client:
        before = client_tasks()
        stream = client.stream_many(
            identifiers(), "meter", plants[0].first, plants[0].first + DAY,
            max_active=max_active, buffer=buffer,
        )  # fmt: skip
        async for event in stream:
            most_tasks = max(most_tasks, len(client_tasks() - before))
            # Identifiers read: those finished, in progress or backing off, and one waiting.
            assert pulled <= finished + buffer + 2 * max_active + 1
            if isinstance(event, ItrDone | ItrFailed):
                finished += 1
        assert client_tasks() == before
    assert finished == 30
    # The ITRs in progress, those backing off to retry, and the reader of the input.
    assert 1 <= most_tasks <= 2 * max_active + 1


async def test_max_active_is_checked_and_documented() -> None:
    async with LacecalClient() as client:
        with pytest.raises(ValueError, match="max_active"):
            client.stream_many([], "meter", 0, 1, max_active=0)
        with pytest.raises(ValueError, match="max_active"):
            await client.fetch_many([], "meter", 0, 1, max_active=0)
    assert DEFAULT_MAX_ACTIVE >= 1
    assert str(DEFAULT_MAX_ACTIVE) in (LacecalClient.stream_many.__doc__ or "")


async def test_fetch_many_with_max_active_gets_everything(make_server: ServerFactory) -> None:
    plants = make_plants(12, seed=4)
    server = await make_server(plants, rate_limit=RATE)
    server.set_faults(plants[2].itr, Faults(always_fail=True, fail_status=404))
    async with LacecalClient(base_url=server.base_url, rate_limit=RATE) as client:
        results = await client.fetch_many(
            [p.itr for p in plants], "meter", plants[0].first, plants[0].first + DAY, max_active=3
        )
    assert set(results) == {p.itr for p in plants}
    assert isinstance(results[plants[2].itr].error, LacecalResponseError)
    assert sum(r.ok for r in results.values()) == 11
    assert all(len(r.records) > 0 for r in results.values() if r.ok)
    _ = PageEvent  # the event types stay importable from the package


async def _order_of_events(
    make_server: ServerFactory, failing_count: int, max_active: int
) -> tuple[list[tuple[str, str]], int]:
    """Failing plants first, then a healthy one: the (who, event) order, and the most tasks."""
    plants = make_plants(failing_count + 1, seed=13, interval=600, gaps=False)
    failing, healthy = plants[:failing_count], plants[failing_count]
    server = await make_server(plants, rate_limit=None)
    for plant in failing:
        server.set_faults(plant.itr, Faults(always_fail=True))
    start = healthy.first + DAY
    order: list[tuple[str, str]] = []
    most_tasks = 0
    async with LacecalClient(base_url=server.base_url, rate_limit=RATE, retries=3) as client:
        before = client_tasks()
        stream = client.stream_many(
            [p.itr for p in plants], "meter", start, start + DAY,
            max_in_flight=1, max_active=max_active,
        )  # fmt: skip
        async for event in stream:
            most_tasks = max(most_tasks, len(client_tasks() - before))
            kind = type(event).__name__
            order.append(("healthy" if event.itr_id == healthy.itr else "failing", kind))
    assert order.count(("failing", "ItrFailed")) == failing_count
    assert all(server.stats(p.itr).requests == 4 for p in failing)  # retries still happen
    return order, most_tasks


async def test_failing_plants_backing_off_lend_their_places_to_a_healthy_one(
    make_server: ServerFactory,
) -> None:
    # As many failing plants as places and one more: each lends its place while it backs off.
    order, most_tasks = await _order_of_events(make_server, failing_count=3, max_active=2)
    assert order.index(("healthy", "PageEvent")) < order.index(("failing", "ItrFailed"))
    assert most_tasks <= 2 * 2 + 1  # working and waiting places, and the reader of the input


async def test_more_failing_plants_than_places_hold_a_healthy_one_back_only_so_long(
    make_server: ServerFactory,
) -> None:
    # The review's probe: 5 failing plants ahead of a healthy one, 2 places (and 2 to back off
    # in): the healthy plant starts before the failing ones have all given up.
    order, most_tasks = await _order_of_events(make_server, failing_count=5, max_active=2)
    last_failure = len(order) - 1 - order[::-1].index(("failing", "ItrFailed"))
    assert order.index(("healthy", "PageEvent")) < last_failure
    assert most_tasks <= 2 * 2 + 1
