"""Follow at fleet size: what each followed plant costs once caught up, and in steady polls.

`follow` runs in a fresh interpreter (so that its RSS is its own), one endpoint ("meter")
per plant, a SQLite store, against the fake server in its own process (real per-ITR limit,
6 per 60 s; plants of 600 s periods whose records end at the clock). Both run on a
`ScaledClock` at `SPEED` (about real time) set so that a period closes `lead` seconds after
the start (an estimate of the catch-up: `CATCHUP_PER_PLANT`, with a margin): every plant
catches up first (one page each), then polls at its own phase after that close. The
100,000-plant run takes about 5 minutes, most of it the catch-up. Measured:

- RSS after catch-up (every plant cycled once and sits waiting), and the growth over the
  same process before `follow` started, per plant (target: 100,000 plants in <= 300 MiB);
- where an idle plant's bytes go: tracemalloc by allocation site (`--trace`, smaller runs:
  it slows everything) and live objects by type, per plant;
- steady polls in a slice of a period after the close: CPU of the client process per poll
  (commit included; the machine is shared, so CPU figures are noisy, memory is not; the
  load average is beside them), the store's transactions per poll (follow commits small
  pages in batches), how late each poll ran after it was due, and record appeared ->
  stored, in periods. A full period's worst lateness is the latest design offset (0.35
  period) plus the worst delay;
- 429s the client saw (target 0).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import json
import math
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import Row, current_rss_mib, row, run_child
from lacecal_async import LacecalClient, ScaledClock
from lacecal_async.endpoints import Endpoint
from lacecal_async.polling import JITTER, POLL_DELAY, POLL_SPREAD
from lacecal_async.records import InverterRecord, MeterRecord
from lacecal_async.sync import Cycle, SQLiteStore, SyncState, follow
from lacecal_async.sync.core import PlantPage
from lacecal_async.telemetry import ClientEvent, RequestDone
from lacecal_async.testing import FakeServerProcess

SECTION = "plants"
INTERVAL = 600
LIMIT = (6, 60.0)
SEED = 15
#: Periods of records each plant has before the engine starts.
BACKLOG = 2
#: Clock seconds of steady polls measured after the close (100,000 plants: ~5,000 polls).
SLICE = 30.0
#: The clock's speed: about real time, but not quite, so that a period closes when wanted.
SPEED = 1.1
#: (plants, trace) runs of the section; smoke mode runs a tiny one.
RUNS = ((5_000, True), (100_000, False))
#: The catch-up's real seconds a plant, to place the close (one page and two commits a plant
#: on a loaded 2-core machine; the 100,000-plant catch-up took 1.4-1.9 ms a plant).
CATCHUP_PER_PLANT = 0.002
SMOKE_RUNS = ((300, True),)
#: The issue's bound: RSS after catch-up at this many plants.
RSS_TARGET_MIB, TARGET_PLANTS = 300.0, 100_000
#: The latest a poll is designed to come after its period closed [periods].
DESIGN_OFFSET = POLL_DELAY + POLL_SPREAD + JITTER


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (0 if there are none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(math.ceil(fraction * len(ordered)) - 1, 0))]


def _lead(count: int, per_plant: float | None) -> float:
    """Seconds from the start to the close: room for the catch-up, a quarter more to spare.

    `per_plant`: the catch-up's seconds a plant in an earlier run of this section (None:
    `CATCHUP_PER_PLANT`). A catch-up that overruns the close is measured from its end.
    """
    return 20.0 + count * (CATCHUP_PER_PLANT if per_plant is None else per_plant) * 1.25


def _by_type(before: collections.Counter[str], count: int) -> dict[str, float]:
    after = collections.Counter(type(o).__name__ for o in gc.get_objects())
    grown = {name: (after[name] - before[name]) / count for name in after}
    return {k: round(v, 2) for k, v in sorted(grown.items(), key=lambda kv: -kv[1])[:15]}


class _CountingStore(SQLiteStore):
    """A SQLite store that counts its page commits (transactions) and the pages in them."""

    transactions = 0
    pages = 0

    async def commit_page(
        self,
        plant: str,
        endpoint: Endpoint,
        records: Sequence[MeterRecord] | Sequence[InverterRecord],
        state: SyncState,
        *,
        now: float,
        worker: str | None = None,
    ) -> None:
        self.transactions += 1
        self.pages += 1
        await super().commit_page(plant, endpoint, records, state, now=now, worker=worker)

    async def commit_pages(
        self, batch: Sequence[PlantPage], *, now: float, worker: str | None = None
    ) -> None:
        self.transactions += 1
        self.pages += len(batch)
        await super().commit_pages(batch, now=now, worker=worker)


def _sites(snapshot: tracemalloc.Snapshot, count: int) -> list[dict[str, Any]]:
    stats = snapshot.filter_traces(
        (tracemalloc.Filter(inclusive=False, filename_pattern=tracemalloc.__file__),)
    ).statistics("lineno")
    out = []
    for stat in stats[:20]:
        frame = stat.traceback[0]
        where = "/".join(Path(frame.filename).parts[-2:])
        out.append(
            {
                "site": f"{where}:{frame.lineno}",
                "bytes_per_plant": round(stat.size / count, 1),
                "blocks_per_plant": round(stat.count / count, 2),
            }
        )
    return out


async def _child_follow(  # noqa: PLR0917 - private: one measurement
    url: str, itrs: list[str], start: int, close: float, epoch: float, trace: bool
) -> dict[str, Any]:
    clock = ScaledClock(epoch + (time.time() - epoch) * SPEED, SPEED)
    plants = [(itr, f"p{i}") for i, itr in enumerate(itrs)]
    count = len(plants)
    rejected = requests = 0

    def seen(event: ClientEvent) -> None:
        nonlocal rejected, requests
        if isinstance(event, RequestDone):
            requests += 1
            rejected += event.status == 429

    caught_up = asyncio.Event()
    failed = 0
    #: Per plant: when it said it would poll next (small: the process's memory is measured).
    due: dict[str, float] = {}
    steady: list[tuple[float, float, float]] = []  # (ended, due, appeared)
    #: The slice of steady polls: from the close (or the catch-up's end, if later).
    window = [close, close + SLICE]

    def cycled(cycle: Cycle) -> None:
        nonlocal failed
        now = clock.now()
        failed += cycle.error is not None
        before = due.get(cycle.plant)
        due[cycle.plant] = cycle.next_poll
        if before is None:
            if len(due) == count:
                caught_up.set()
        elif window[0] <= now < window[1] and cycle.records:
            appeared = (cycle.latest or 0) + INTERVAL
            steady.append((now, before, appeared))

    with tempfile.TemporaryDirectory() as folder:
        async with (
            LacecalClient(base_url=url, rate_limit=LIMIT, timeout=60, on_event=seen) as client,
            _CountingStore(Path(folder) / "plants.db") as store,
        ):
            gc.collect()
            types_before = collections.Counter(type(o).__name__ for o in gc.get_objects())
            rss_before = current_rss_mib()
            if trace:
                tracemalloc.start()
            began, cpu0 = clock.now(), time.process_time()
            task = asyncio.create_task(
                follow(client, store, plants, "meter", since=start, clock=clock, on_cycle=cycled)
            )
            await caught_up.wait()
            caught = clock.now()
            cpu_catchup = time.process_time() - cpu0
            await asyncio.sleep(1.0)  # the last cycles' repairs end too
            gc.collect()
            rss_after = current_rss_mib()
            snapshot = tracemalloc.take_snapshot() if trace else None
            sites = _sites(snapshot, count) if snapshot else []
            traced = tracemalloc.get_traced_memory()[0] / count if trace else None
            del snapshot
            tracemalloc.stop()
            by_type = _by_type(types_before, count)
            del types_before
            first_due = [when - close for when in due.values()]
            cpu_slice, polls, polls0, commits, pages, load = 0.0, 0, 0, 0, 0, [0.0, 0.0]
            if not trace:  # the slice of steady polls: from the close, SLICE seconds
                if caught > close:  # the catch-up overran the close: polls are late from here
                    window[:] = [caught, caught + SLICE]
                await clock.sleep(window[0] - clock.now())
                cpu1, polls0 = time.process_time(), len(steady)
                commits0, pages0, load[0] = store.transactions, store.pages, os.getloadavg()[0]
                await clock.sleep(window[1] - clock.now())
                cpu_slice, polls = time.process_time() - cpu1, len(steady) - polls0
                commits, pages = store.transactions - commits0, store.pages - pages0
                load[1] = os.getloadavg()[0]
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    # A catch-up that overran the close left polls due meanwhile: they count for the CPU, not
    # for the steady state's lateness (they waited for the catch-up, not for the schedule).
    measured = steady[polls0:]
    on_time = [poll for poll in measured if poll[1] >= window[0]]
    late = [(ended - due) / INTERVAL for ended, due, _ in on_time]
    lateness = [(ended - appeared) / INTERVAL for ended, _, appeared in on_time]
    return {
        "plants": count,
        "rss_before_mib": rss_before,
        "rss_after_mib": rss_after,
        "per_plant_bytes": (rss_after - rss_before) * 2**20 / count,
        "catchup_s": caught - began,
        "catchup_cpu_ms_per_plant": cpu_catchup * 1000 / count,
        "caught_up_before_close": caught < close,
        "sites": sites,
        "traced_bytes_per_plant": traced,
        "by_type": by_type,
        "polls": polls,
        "polls_due_in_the_catch_up": len(measured) - len(on_time),
        "first_due_after_close_s": [min(first_due), max(first_due)],
        "failed_cycles": failed,
        "cpu_ms_per_poll": cpu_slice * 1000 / polls if polls else None,
        "transactions_per_poll": commits / polls if polls else None,
        "pages_per_transaction": pages / commits if commits else None,
        "load_avg_in_slice": load,
        "late_max": max(late, default=0.0),
        "late_p99": percentile(late, 0.99),
        "lateness_max": max(lateness, default=0.0),
        "lateness_p99": percentile(lateness, 0.99),
        "requests": requests,
        "rejections": rejected,
        "tracemalloc": trace,
    }


async def _measure(count: int, trace: bool, per_plant: float | None = None) -> dict[str, Any]:
    lead = 0.0 if trace else _lead(count, per_plant)  # a traced run measures no steady polls
    # The clock reads `close` (a period's close) once `lead` seconds and the start are over.
    now, ahead = time.time(), (lead + 30) * SPEED
    close = float(math.ceil((now + ahead) / INTERVAL) * INTERVAL)
    epoch = (now * SPEED - (close - ahead)) / (SPEED - 1)  # the clock reads close - ahead now
    start = int(close) - (BACKLOG + 1) * INTERVAL
    async with FakeServerProcess(
        plants=count,
        seed=SEED,
        rate_limit=LIMIT,
        days=1,
        start=start,
        interval=INTERVAL,
        follow=True,
        extra_args=("--speed", repr(SPEED), "--epoch", repr(epoch)),
    ) as server:
        folder = await asyncio.to_thread(tempfile.mkdtemp)
        ids = Path(folder) / "ids.txt"
        text = "".join(plant.itr + "\n" for plant in server.plants)
        await asyncio.to_thread(ids.write_text, text)
        args = [
            *("--url", server.base_url, "--ids", str(ids), "--start", str(start)),
            *("--close", repr(close), "--epoch", repr(epoch)),
            *(["--trace"] if trace else []),
        ]
        try:  # in a thread: the loop keeps reading the server's output meanwhile
            return await asyncio.to_thread(
                run_child, "benchmarks.bench_plants", "child", *args, timeout=1800
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _rows(result: dict[str, Any]) -> list[Row]:
    count = result["plants"]
    label = f"follow {count:,} plants{' (tracemalloc on)' if result['tracemalloc'] else ''}"
    extra = {
        k: result[k]
        for k in (
            "plants",
            "rss_before_mib",
            "catchup_s",
            "catchup_cpu_ms_per_plant",
            "caught_up_before_close",
            "first_due_after_close_s",
            "failed_cycles",
            "polls",
            "polls_due_in_the_catch_up",
            "requests",
            "traced_bytes_per_plant",
            "sites",
            "by_type",
        )
    }
    rows = [
        row(
            SECTION,
            f"{label}: RSS after catch-up",
            result["rss_after_mib"],
            "MiB",
            baseline=result["rss_before_mib"],
            baseline_name="the same process before follow",
            target=f"<= {RSS_TARGET_MIB:g} MiB" if count == TARGET_PLANTS else None,
            met=result["rss_after_mib"] <= RSS_TARGET_MIB if count == TARGET_PLANTS else None,
            extra=extra,
        ),
        row(SECTION, f"{label}: RSS growth per plant", result["per_plant_bytes"], "bytes"),
    ]
    if result["tracemalloc"]:
        return rows
    worst = DESIGN_OFFSET + result["late_max"]
    rows += [
        row(
            SECTION,
            f"{label}: steady CPU per poll, commit included ({SLICE:g} s slice)",
            result["cpu_ms_per_poll"] or 0.0,
            "ms",
            target="<= 1.0 (noisy: shared machine)",
            met=result["cpu_ms_per_poll"] is not None and result["cpu_ms_per_poll"] <= 1.0,
            extra={
                k: result[k]
                for k in ("load_avg_in_slice", "transactions_per_poll", "pages_per_transaction")
            },
        ),
        row(
            SECTION,
            f"{label}: poll ran after it was due, max",
            result["late_max"],
            "periods",
            extra={"p99": result["late_p99"]},
        ),
        row(
            SECTION,
            f"{label}: record appeared -> stored, max over a period (design {DESIGN_OFFSET:g}"
            " + worst delay)",
            worst,
            "periods",
            target="< 1",
            met=result["polls"] > result["polls_due_in_the_catch_up"] and worst < 1,
        ),
        row(
            SECTION,
            f"{label}: record appeared -> stored, p99 in the slice",
            result["lateness_p99"],
            "periods",
            target="<= 0.35",
            met=result["polls"] > result["polls_due_in_the_catch_up"]
            and result["lateness_p99"] <= 0.35,
            extra={"max_in_slice": result["lateness_max"]},
        ),
        row(
            SECTION,
            f"{label}: 429s",
            result["rejections"],
            "responses",
            target="0",
            met=result["rejections"] == 0,
        ),
    ]
    return rows


def run(smoke: bool = False, runs: tuple[tuple[int, bool], ...] | None = None) -> list[Row]:
    """Follow 5,000 (traced) and 100,000 plants; report RSS a plant, CPU a poll, lateness, 429s."""
    chosen = runs or (SMOKE_RUNS if smoke else RUNS)
    rows: list[Row] = []
    per_plant: float | None = None  # the last catch-up's real seconds a plant
    for count, trace in chosen:
        result = asyncio.run(_measure(count, trace, per_plant))
        if not trace:
            per_plant = result["catchup_s"] / SPEED / count
        rows += _rows(result)
    return rows


def _child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_plants child")
    parser.add_argument("--url", required=True)
    parser.add_argument("--ids", type=Path, required=True)
    parser.add_argument("--start", type=int, required=True)
    parser.add_argument("--close", type=float, required=True)
    parser.add_argument("--epoch", type=float, required=True)
    parser.add_argument("--trace", action="store_true")
    options = parser.parse_args(argv)
    result = asyncio.run(
        _child_follow(
            options.url,
            # From a file: the process holds the plants' inputs and nothing else.
            options.ids.read_text().split(),
            options.start,
            options.close,
            options.epoch,
            options.trace,
        )
    )
    print(json.dumps(result))


def main(argv: list[str]) -> None:
    """``python -m benchmarks.bench_plants [--plants N] [--trace]``: one run, rows printed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_plants")
    parser.add_argument("--plants", type=int, default=10_000)
    parser.add_argument("--trace", action="store_true")
    options = parser.parse_args(argv)
    for result in run(runs=((options.plants, options.trace),)):
        print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        _child(sys.argv[2:])
    else:
        main(sys.argv[1:])
