"""Late data at the head of the range: the periods right after `since` fill in later.

Review 2, finding 05: the store did not remember where the sync began, so the periods
between `since` and the first stored record were never asked for again. Each store in turn
(`store_kind`), the fake server over HTTP on a fake clock.
"""

from __future__ import annotations

import attrs

from lacecal_async import LacecalClient
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import sync
from lacecal_async.testing import FakeClock, FakeLacecalServer, make_plants
from tests.support.store_kinds import StoreKind

P = 600
T0 = 1727827200  # 2024-10-02 00:00Z
DAY = 86400


@attrs.frozen
class _Stepped:
    """The engine's clock on a `FakeClock`: a one-shot sync never needs to sleep."""

    fake: FakeClock

    def now(self) -> float:
        return self.fake.now()

    async def sleep(self, seconds: float) -> None:
        self.fake.advance(seconds)


async def test_late_periods_right_after_since_land_once_they_fill_in(
    store_kind: StoreKind,
) -> None:
    base = make_plants(2, 1, gaps=False, start=T0, days=5)
    fill = T0 + 3 * DAY
    head = attrs.evolve(base[0], latest=None, late=((T0, T0 + 12 * P, fill),))
    # Misaligned `since`: the periods start on the hour, `since` 100 s after one.
    other = attrs.evolve(base[1], latest=None)
    clock = FakeClock(T0 + 2 * DAY)
    plants = [(head.itr, "head"), (other.itr, "other")]
    async with (
        FakeLacecalServer([head, other], rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(1000, 1)) as client,
    ):
        stepped = _Stepped(clock)
        for advance in (0, DAY + 3600, DAY, 7 * DAY):
            clock.advance(advance)
            async with store_kind.make() as store:
                await sync(client, store, plants[:1], "meter", since=T0, clock=stepped)
                await sync(
                    client, store, plants[1:], "meter", since=T0 + 100, clock=_Stepped(clock)
                )
        async with store_kind.make() as store:
            rows = {row.plant: row for row in await store.status()}
            head_state = await store.state("head", Endpoint.METER)
            holes = await store.holes("other", Endpoint.METER)
    assert rows["head"].first_record == T0  # the twelve late periods landed
    assert (rows["head"].holes, rows["head"].missing_periods) == (0, 0)
    assert head_state is not None
    assert head_state.since == T0
    # A `since` inside a period wants the periods from the next one: no hole before it.
    assert rows["other"].first_record == T0 + other.interval
    assert holes == []


async def test_status_counts_no_hole_before_the_first_record_yet_it_is_asked_again(
    store_kind: StoreKind,
) -> None:
    """Issue 24: `since` a month before a plant's data showed `holes 1 (4031 periods)`."""
    plant = attrs.evolve(make_plants(1, 3, gaps=False, start=T0, days=2)[0], latest=None)
    clock = FakeClock(T0 + 2 * DAY)
    since = T0 - 28 * DAY
    async with (
        FakeLacecalServer([plant], rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(1000, 1)) as client,
        store_kind.make() as store,
    ):
        await sync(client, store, [(plant.itr, "new")], "meter", since=since, clock=_Stepped(clock))
        (row,) = await store.status()
        head = await store.holes("new", Endpoint.METER)
    assert row.first_record == T0
    assert (row.holes, row.missing_periods) == (0, 0)
    # Still asked for again on the repair schedule, in case a logger uploads a backlog.
    assert [(h.start, h.end) for h in head] == [(since, T0)]
