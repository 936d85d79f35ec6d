"""A lookback longer than a plant's history, or not a number, never reaches the server.

Before, ``lookback`` of nan or inf raised ValueError/OverflowError from ``int()`` mid-cycle,
and one longer than the time since 1970 sent a negative ``t`` (HTTP 400 from the service,
a failed plant every cycle).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lacecal_async import LacecalClient
from lacecal_async.sync import SQLiteStore, sync
from lacecal_async.testing import FakeLacecalServer, make_plants

PLANT = make_plants(1, seed=4, days=1)[0]


@pytest.mark.parametrize("lookback", [math.nan, math.inf, -1.0])
async def test_a_lookback_that_is_not_a_duration_is_refused(
    lookback: float, tmp_path: Path
) -> None:
    async with (
        LacecalClient(base_url="http://127.0.0.1:9/APIv1/") as client,
        SQLiteStore(tmp_path / "s.db") as store,
    ):
        with pytest.raises(ValueError, match="lookback"):
            await sync(client, store, [PLANT.itr], "meter", since=0, lookback=lookback)


async def test_a_lookback_longer_than_the_history_asks_from_the_start(tmp_path: Path) -> None:
    async with (
        FakeLacecalServer([PLANT], rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0), retries=0) as client,
        SQLiteStore(tmp_path / "s.db") as store,
    ):
        since = PLANT.last_time() - 3600
        first = await sync(client, store, [PLANT.itr], "meter", since=since)
        again = await sync(client, store, [PLANT.itr], "meter", lookback=1e12)
        log = server.stats(PLANT.itr).log
    assert all(report.ok for report in (*first.values(), *again.values())), again
    starts = [int(entry.params["t"]) for entry in log if "t" in entry.params]
    assert min(starts) == 0  # the lookback's start, clamped at the epoch
