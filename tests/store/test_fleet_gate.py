"""A fleet worker's requests pass its lease gate: none leaves once the lease is not proven.

In process, on real PostgreSQL and the fake server. The store's lease rounds are made slow:
each comes back in time (before its start plus the ttl, so the worker keeps its plants) but
after the deadline less the margin, so no request of the worker may leave. The SIGSTOP
case, with processes, is `tests/process/test_fleet_stalled.py`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from lacecal_async import LacecalClient, fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import FleetEvent, LeaseBalance, PostgresStore, follow_fleet
from lacecal_async.sync.lease_gate import LEASE_MARGIN
from lacecal_async.sync.leases import DEFAULT_SLACK
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.checks import wait_until

pytestmark = pytest.mark.slow  # three lease rounds of nearly 2 s each

PERIOD = 2
TTL = 2.0
#: When each round comes back, as a part of the ttl after it began: past the gate's margin,
#: yet before the ttl (else the round is late and the worker stops its plants itself).
BACK_AT = 1 - LEASE_MARGIN * 0.8


class SlowRounds(PostgresStore):
    """A `PostgresStore` whose lease rounds return `BACK_AT` of the ttl after they were called."""

    async def balance_leases(
        self,
        worker: str,
        *,
        ttl: float,
        slack: float = DEFAULT_SLACK,
        among: Sequence[str] | None = None,
    ) -> LeaseBalance:
        """`PostgresStore.balance_leases`, slowed down as if the database were."""
        loop = asyncio.get_running_loop()
        called = loop.time()
        balance = await super().balance_leases(worker, ttl=ttl, slack=slack, among=among)
        await asyncio.sleep(max(called + BACK_AT * ttl - loop.time(), 0.0))
        return balance


async def test_a_plant_whose_lease_is_not_proven_sends_nothing_and_counts_no_failure(
    postgres_dsn: str,
) -> None:
    start = int(time.time()) // PERIOD * PERIOD - 10 * PERIOD
    plant = make_plants(1, seed=8, start=start, days=1, interval=PERIOD, follow_clock=True)[0]
    key = fingerprint(plant.itr)
    events: list[FleetEvent] = []

    def refused() -> list[FleetEvent]:
        return [e for e in events if e.kind == "stopped" and "cannot prove" in e.detail]

    async with (
        FakeLacecalServer([plant], rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(50, 1.0)) as client,
        SlowRounds(postgres_dsn) as store,
    ):
        task = asyncio.create_task(
            follow_fleet(
                client,
                store,
                [plant.itr],
                "meter",
                start,
                lease_ttl=TTL,
                handover_wait=0.0,
                on_fleet=events.append,
            )
        )

        def took() -> list[FleetEvent]:
            return [e for e in events if e.kind == "took"]

        # Refused, then started again by the next round: it still holds the lease.
        await wait_until(lambda: (refused() and len(took()) >= 2) or task.done())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        state = await store.state(key, Endpoint.METER)
    assert refused()[0].plants == (key,)
    assert "no request sent" in refused()[0].detail
    assert [e.plants for e in took()][:2] == [(key,), (key,)]
    assert server.stats(plant.itr).requests == 0  # nothing left the gate
    # A refusal is no failure of the plant's: nothing recorded against it.
    assert state is None or (state.failures, state.last_error) == (0, None)
