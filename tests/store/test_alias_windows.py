"""An alias cannot smuggle an identifier of the run into a store (review 3, item 5).

Refused: an alias that, once separators are dropped, width normalised and case folded,
holds 8 consecutive characters of any identifier the run knows: ``2Yw4-aCQ9-gfZ6-y1T9`` for
``2Yw4aCQ9gfZ6y1T9``, 12 characters of another plant's identifier, a fullwidth copy. The
message quotes neither the alias nor the identifier, and nothing is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from lacecal_async import LacecalClient, fingerprint
from lacecal_async.sync import (
    PostgresStore,
    SQLiteStore,
    SyncPlant,
    check_alias,
    follow,
    follow_fleet,
    sync,
    sync_plants,
)
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.checks import DEADLINE
from tests.support.windows import assert_no_leak, fullwidth

A, B = "2Yw4aCQ9gfZ6y1T9", "jGWbUno6N9jec3hQ"
DASHED = "2Yw4-aCQ9-gfZ6-y1T9"
MESSAGE = "8 or more characters of an identifier"


@pytest.mark.parametrize(
    "alias",
    [
        DASHED,
        "2yw4 acq9 gfz6 y1t9",
        fullwidth(A[:8]) + "-roof",
        "roof/" + A[5:13],  # exactly 8
        "r." + ".".join(A[4:12]) + ".f",
    ],
)
def test_an_alias_holding_its_own_identifier_is_refused(alias: str) -> None:
    with pytest.raises(ValueError, match=MESSAGE) as caught:
        SyncPlant(A, alias)
    assert_no_leak(str(caught.value), [A])
    assert alias not in str(caught.value)
    with pytest.raises(ValueError, match=MESSAGE):
        check_alias(alias, [B, A])


def test_an_alias_holding_another_plants_identifier_is_refused() -> None:
    other = "x" + A[2:14]  # 12 characters of A, as B's alias
    assert SyncPlant(B, other).alias == other  # alone, B cannot know A
    with pytest.raises(ValueError, match=MESSAGE) as caught:
        sync_plants([(A, "roof"), (B, other)])
    assert_no_leak(str(caught.value), [A, B])
    assert other not in str(caught.value)
    assert f"...{B[-4:]}" in str(caught.value)  # which plant's alias, redacted


@pytest.mark.parametrize("alias", ["roof-" + A[:7], "site 2024-10-02 inverter-7", "x" + B[3:10]])
def test_seven_characters_and_innocent_aliases_are_fine(alias: str) -> None:
    assert [p.alias for p in sync_plants([(A, alias), B])] == [alias, None]
    assert check_alias(alias, [A, B]) == alias


@pytest.mark.parametrize("run", [sync, follow])
async def test_sync_and_follow_refuse_before_anything_is_stored(
    tmp_path: Path, run: object
) -> None:
    assert run is sync or run is follow
    async with (
        LacecalClient(base_url="http://127.0.0.1:9/APIv1/") as client,
        SQLiteStore(tmp_path / "s.db") as store,
    ):
        with pytest.raises(ValueError, match=MESSAGE):
            async with asyncio.timeout(DEADLINE):  # today's code would follow for ever
                await run(client, store, [(A, "roof"), (B, "b-" + A[4:16])], "meter", since=0)
        assert await store.plants() == []
    assert_no_leak((tmp_path / "s.db").read_bytes().decode("utf-8", "replace"), [A, B])


async def test_a_fleet_worker_keeps_syncing_a_plant_whose_stored_alias_predates_the_rule(
    postgres_dsn: str,
) -> None:
    # A store cannot tell (it never sees identifiers): an alias added before this rule, or
    # by a caller that never gave the identifier, is where it is. A worker that takes the
    # plant syncs it under that key: it neither stops nor takes the fleet down.
    plant = make_plants(1, seed=0, days=1)[0]
    assert plant.itr == A
    async with (
        FakeLacecalServer([plant], rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
        PostgresStore(postgres_dsn) as store,
    ):
        assert await store.add_plant(fingerprint(A), DASHED) == DASHED
        task = asyncio.create_task(
            follow_fleet(client, store, [A], "meter", plant.last_time() - 3600, lease_ttl=3.0)
        )
        try:
            async with asyncio.timeout(DEADLINE):
                while not any(row.latest_record for row in await store.status()):
                    if task.done():
                        task.result()  # it must not stop
                    await asyncio.sleep(0.05)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert [row.plant for row in await store.status()] == [DASHED]
