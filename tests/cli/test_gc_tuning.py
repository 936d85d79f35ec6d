"""GC state: the command tunes the collector during a bulk fetch and restores it; the library never.

The command freezes what start-up left alive and raises the generation-0 threshold while a
fetch or sync runs (``LACECAL_GC_TUNING=0`` switches it off). What a caller sees: far fewer
generation-0 collections during the fetch, and the process's GC settings as they were after.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lacecal_async.cli import main
from lacecal_async.cli.itrs import ENV_VAR
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support import processes
from tests.support.cli import FAST, threaded_server

#: Two plants at 600 s over ten days: about 2,900 records, so that even CPython 3.13's
#: threshold of 2,000 allocations makes dozens of young collections untuned (95 on 3.11).
GC_PLANTS = make_plants(2, seed=15, days=10, interval=600)
START = GC_PLANTS[0].first

LIBRARY_USE = """
import asyncio, gc, json, pkgutil, importlib, tempfile, os
before = (gc.get_threshold(), gc.get_freeze_count())
import lacecal_async
for info in pkgutil.walk_packages(lacecal_async.__path__, "lacecal_async."):
    if not info.name.startswith("lacecal_async.cli"):
        importlib.import_module(info.name)
from lacecal_async import LacecalClient
from lacecal_async.sync import SQLiteStore, SyncPlant, sync
from lacecal_async.testing import FakeLacecalServer, make_plants

async def use() -> int:
    plants = make_plants(2, seed=3, days=2)
    async with FakeLacecalServer(plants) as server:
        async with LacecalClient(base_url=server.base_url, rate_limit=(100, 0.1)) as client:
            first = plants[0].first
            records = await client.meter_records(plants[0].itr, first, first + 86400)
            with tempfile.TemporaryDirectory() as tmp:
                async with SQLiteStore(os.path.join(tmp, "db.sqlite")) as store:
                    await sync(client, store, [SyncPlant(p.itr) for p in plants], ("meter",),
                               plants[0].first)
    return len(records)

count = asyncio.run(use())
print(json.dumps({"before": before, "after": (gc.get_threshold(), gc.get_freeze_count()),
                  "records": count}))
"""


def test_importing_and_using_the_library_leaves_gc_state_alone() -> None:
    done = processes.run([sys.executable, "-c", LIBRARY_USE])
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["records"] > 0
    assert seen["after"] == seen["before"]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLacecalServer]:
    with threaded_server(GC_PLANTS) as fake:
        yield fake


def _gen0_collections_during_fetch(server: FakeLacecalServer, out: Path) -> int:
    argv = [
        "fetch", "meter", GC_PLANTS[0].itr, GC_PLANTS[1].itr, "--start", str(START),
        "--end", str(START + 10 * 86400), "--base-url", server.base_url, "--rate", FAST,
        "-q", "-o", str(out), "--force",
    ]  # fmt: skip
    before = gc.get_stats()[0]["collections"]
    assert main(argv) == 0
    return int(gc.get_stats()[0]["collections"] - before)


def test_the_command_tunes_gc_during_a_fetch_and_restores_it(
    server: FakeLacecalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    settings = (gc.get_threshold(), gc.get_freeze_count())
    monkeypatch.setenv("LACECAL_GC_TUNING", "0")
    untuned = _gen0_collections_during_fetch(server, tmp_path / "a.jsonl")
    assert (gc.get_threshold(), gc.get_freeze_count()) == settings
    monkeypatch.delenv("LACECAL_GC_TUNING")
    tuned = _gen0_collections_during_fetch(server, tmp_path / "b.jsonl")
    assert (gc.get_threshold(), gc.get_freeze_count()) == settings
    # The same records either way (the two plants' pages interleave as they arrive).
    lines = [sorted((tmp_path / f"{n}.jsonl").read_text().splitlines()) for n in "ab"]
    assert lines[0] == lines[1]
    assert len(lines[0]) > 2 * 9 * 144  # both plants, ten days
    # CPython's default threshold is 700 allocations up to 3.12 and 2,000 from 3.13: a fetch
    # of two plants' ten days makes dozens of young collections untuned.
    assert untuned >= 10, untuned
    assert tuned * 3 < untuned, (tuned, untuned)
