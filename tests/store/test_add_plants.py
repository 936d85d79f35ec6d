"""`add_plants`: many plants registered in one transaction, as `add_plant` one by one would.

On both stores (`store_kind`). A fleet's workers register their plants with it at start,
so the checks `add_plant` makes (a fingerprint keeps its key, an alias names one plant)
must hold within one batch and against what is stored, and a refused batch adds nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from lacecal_async import fingerprint
from lacecal_async.sync import PlantEntry, StoreError
from lacecal_async.sync.core import StoreCore
from tests.support.store_kinds import StoreKind

ONE, TWO, THREE = (fingerprint(f"BatchPlant0000{n:02d}") for n in range(3))


@pytest.fixture
async def store(store_kind: StoreKind) -> AsyncIterator[StoreCore]:
    made = store_kind.make()
    assert isinstance(made, StoreCore)
    async with made as opened:
        yield opened


def _entries(entries: list[PlantEntry]) -> list[tuple[str, str, str | None]]:
    return [(e.plant, e.fingerprint, e.alias) for e in entries]


async def test_plants_added_at_once_are_keyed_as_one_by_one(store: StoreCore) -> None:
    assert await store.add_plant(ONE, "roof") == "roof"
    batch = [(ONE, "roof"), (TWO, None), (THREE, "barn"), (TWO, None)]
    assert await store.add_plants(batch) == ["roof", TWO, "barn", TWO]
    assert await store.add_plants(batch) == ["roof", TWO, "barn", TWO]  # idempotent
    assert await store.add_plants([]) == []
    assert _entries(await store.plants()) == [
        ("barn", THREE, "barn"),
        (TWO, TWO, None),
        ("roof", ONE, "roof"),
    ]
    assert await store.add_plant(THREE, "barn") == "barn"  # and one by one after it


@pytest.mark.parametrize(
    ("batch", "refusal"),
    [
        ([(TWO, "shed"), (ONE, "barn")], "is stored as 'roof', not 'barn'"),
        ([(TWO, "shed"), (THREE, "roof")], "'roof' already names another plant"),
        ([(TWO, "shed"), (TWO, "barn")], "is stored as 'shed', not 'barn'"),  # in the batch
        ([(TWO, "shed"), (THREE, "shed")], "'shed' already names another plant"),
    ],
)
async def test_a_batch_add_plant_would_refuse_adds_nothing(
    store: StoreCore, batch: list[tuple[str, str | None]], refusal: str
) -> None:
    await store.add_plant(ONE, "roof")
    with pytest.raises(StoreError, match=refusal):
        await store.add_plants(batch)
    assert _entries(await store.plants()) == [("roof", ONE, "roof")]


async def test_a_bad_fingerprint_or_alias_is_refused_before_anything_is_written(
    store: StoreCore,
) -> None:
    with pytest.raises(ValueError, match="fingerprint"):
        await store.add_plants([(ONE, None), ("AbCd0123456789Zz", None)])
    with pytest.raises(ValueError, match="alias"):
        await store.add_plants([(ONE, None), (TWO, "itr-0123456789ab")])
    assert await store.plants() == []
