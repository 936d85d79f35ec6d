"""Helpers of the store and fleet tests: waiting on a database, counting lease rounds.

A fleet's state lives in PostgreSQL, so a test waits for it by asking the store again and
again (`until`), never by sleeping a fixed time. Lease expiry runs on the database's
clock; a test that needs a lease or a heartbeat to run out shortens it through the public
API (``renew_leases(worker, ttl=EXPIRE_SOON)``) and waits until the store shows it gone.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from lacecal_async.sync import LeaseBalance, PostgresStore
from lacecal_async.sync.leases import DEFAULT_SLACK
from tests.support.checks import DEADLINE

#: A ttl that runs out at once: renewing with it makes a lease or a heartbeat expire.
EXPIRE_SOON = 0.001


async def until(done: Callable[[], Awaitable[bool]], *, deadline: float = DEADLINE) -> None:
    """Ask `done` (a database, a list of events) until it says True; fail after `deadline`."""
    async with asyncio.timeout(deadline):
        while not await done():  # noqa: ASYNC110 - the state is in a database
            await asyncio.sleep(0.02)


class CountingStore(PostgresStore):
    """A `PostgresStore` counting each worker's completed lease rounds (`balance_leases`).

    Lease rounds are spaced at least ``ttl / 3`` apart, so N rounds of a worker span at
    least ``N * ttl / 3``: a test that needs some ttls to pass waits for rounds, which a
    busy machine only slows down.
    """

    rounds: Counter[str]

    async def open(self) -> None:
        """Open the store with no round counted yet."""
        self.rounds = Counter()
        await super().open()

    async def balance_leases(
        self,
        worker: str,
        *,
        ttl: float,
        slack: float = DEFAULT_SLACK,
        among: Sequence[str] | None = None,
    ) -> LeaseBalance:
        """`PostgresStore.balance_leases`, counted once it returns."""
        balance = await super().balance_leases(worker, ttl=ttl, slack=slack, among=among)
        self.rounds[worker] += 1
        return balance
