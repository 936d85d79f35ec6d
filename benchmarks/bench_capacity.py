"""The fleet plan's database figures: bytes a stored row takes, and 1,000,000 plants' load.

`docs/explanation/capacity.md` turns these into a plan. Two parts:

- **Bytes per stored record**: one plant's month of meter and inverter records (600 s
  periods, 2 inverters) committed page by page through `SQLiteStore` and `PostgresStore`,
  then each data table's size with its indexes (SQLite: the ``dbstat`` table; PostgreSQL:
  ``pg_total_relation_size`` after ``VACUUM FULL``) divided by its rows.
- **The 1,000,000-plant row's database load, simulated**: the store layer alone (no client,
  no server), `PostgresStore` against a throwaway PostgreSQL (`TemporaryPostgres`: fsync
  off) holding `PLANTS` plants with their leases and sync states. `WORKERS` worker
  processes, each a fleet worker holding its share of the leases, commit one-record meter
  pages (fenced by the worker's id) at the plan's rate, ``PLANTS / 600 s`` in all, open loop:
  each plant's commit is due at its own time in a slice of `SLICE` seconds, whatever the
  others' delay. Each commit is followed by the plant's repair round (a ``holes`` read), and
  each worker runs its lease round (`balance_leases`, renewing its share) every ttl / 3, as
  ``lacecal sync --follow`` does. Reported: commits/s achieved against the target, commit
  latency p50 / p99, lag from due to committed, the lease rounds' time, and the CPU each
  commit cost the workers and the server (the machine is shared: CPU per commit is what
  carries to a dedicated box).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from benchmarks._common import Row, child, row
from lacecal_async.endpoints import Endpoint
from lacecal_async.records import InverterRecord, MeterRecord
from lacecal_async.sync import PostgresStore, SQLiteStore, Store, SyncState
from lacecal_async.sync.engine import FOLLOW_TASKS
from lacecal_async.sync.fleet import DEFAULT_LEASE_TTL
from lacecal_async.testing import make_plants
from lacecal_async.testing.postgres import TemporaryPostgres

SECTION = "capacity"
INTERVAL = 600
PAGE = 144
#: The plan's largest row, and the worker processes sharing it here (the plan's 7 would not
#: fit 2 cores; the commits and renewals a second are the same however they are spread).
PLANTS, WORKERS = 1_000_000, 4
#: Seconds of commits measured (each plant commits at most once: PLANTS / INTERVAL * SLICE
#: plants of the million).
SLICE = 30.0
#: Days of one plant's records stored to measure bytes per row.
SIZE_DAYS = 30
SMOKE = {"plants": 1_000, "workers": 2, "slice": 1.0, "days": 2}
#: Seconds from starting the workers to the slice: every worker is connected and waiting by
#: then. A smoke run measures nothing, so it waits less.
LEAD, SMOKE_LEAD = 5.0, 1.0
#: Keeping up: at least this share of the target rate, and every commit within this of due.
KEEP_UP_RATIO, KEEP_UP_LAG = 0.98, 5.0
_TICKS = os.sysconf("SC_CLK_TCK")
#: A data table -> the endpoint's records it holds (an inverter period: a row in each).
_DATA_TABLES = {"meter": "meter", "inverter_periods": "inverter", "inverter": "inverter"}


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (0 if there are none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(math.ceil(fraction * len(ordered)) - 1, 0))]


# -- bytes per stored record ----------------------------------------------------------------
async def _fill(store: Store, days: int) -> tuple[int, int, int]:
    """Commit `days` of one plant's meter and inverter records; return the counts stored."""
    plant = make_plants(1, seed=4, days=days, gaps=False)[0]
    await store.add_plant("itr-000000000bed", "size")
    span = (plant.first, (plant.latest or 0) + 1)
    meter = plant.meter_records(*span)
    inverter = plant.inverter_records(*span)
    pages: list[tuple[Endpoint, list[MeterRecord] | list[InverterRecord]]] = [
        (Endpoint.METER, meter[i : i + PAGE]) for i in range(0, len(meter), PAGE)
    ]
    pages += [(Endpoint.INVERTER, inverter[i : i + PAGE]) for i in range(0, len(inverter), PAGE)]
    for endpoint, page in pages:
        state = SyncState(latest=page[-1].unix_time, interval=INTERVAL)
        await store.commit_page("size", endpoint, page, state, now=1.0)
    return len(meter), len(inverter), len(plant.inverters)


def _per_record(sizes: dict[str, int], meter: int, periods: int) -> tuple[float, float]:
    """Bytes per meter record, and per inverter period (its periods row and inverters' rows)."""
    return sizes["meter"] / meter, (sizes["inverter_periods"] + sizes["inverter"]) / periods


async def _sqlite_sizes(directory: Path, days: int) -> tuple[float, float, int]:
    path = directory / "size.db"
    async with SQLiteStore(path) as store:
        meter, periods, inverters = await _fill(store, days)
    db = sqlite3.connect(path)
    try:
        db.execute("VACUUM")
        owner = dict(db.execute("SELECT name, tbl_name FROM sqlite_master"))
        sizes = dict.fromkeys(_DATA_TABLES, 0)
        for name, size in db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            table = owner.get(name, name)
            if table in sizes:
                sizes[table] += size
    finally:
        db.close()
    return (*_per_record(sizes, meter, periods), inverters)


async def _postgres_sizes(server: TemporaryPostgres, days: int) -> tuple[float, float, int]:
    admin = await asyncpg.connect(server.dsn)
    try:
        await admin.execute("CREATE DATABASE sizes")
    finally:
        await admin.close()
    dsn = server.dsn_for("sizes")
    async with PostgresStore(dsn) as store:
        meter, periods, inverters = await _fill(store, days)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM FULL")
        sizes = {
            table: await conn.fetchval("SELECT pg_total_relation_size($1)", table)
            for table in _DATA_TABLES
        }
    finally:
        await conn.close()
    return (*_per_record(sizes, meter, periods), inverters)


# -- the simulation: setup ------------------------------------------------------------------
def _alias(index: int) -> str:
    return f"sim{index:07d}"


def _worker_id(index: int) -> str:
    return f"sim-worker-{index}"


async def _populate(dsn: str, plants: int, workers: int, latest: int) -> float:
    """The fleet's steady state: plants, their sync states, leases held in fair shares.

    Written in bulk with SQL (adding a million plants one by one takes an hour): the rows
    `add_plant`, a first commit and a lease round would leave. Returns the seconds it took.
    """
    started = time.perf_counter()
    async with PostgresStore(dsn):  # the schema
        pass
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            # Consistent by construction: skip the foreign keys' per-row checks (a superuser's
            # bulk load), which took most of a minute on the shared machine.
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(
                "INSERT INTO plants (plant, fingerprint, alias, added_at) "
                "SELECT 'sim' || lpad(i::text, 7, '0'), 'itr-' || lpad(to_hex(i), 12, '0'), "
                "'sim' || lpad(i::text, 7, '0'), 0 FROM generate_series(0, $1 - 1) AS i",
                plants,
            )
            await conn.execute(
                "INSERT INTO workers (worker, started_at, heartbeat_at, expires_at) "
                "SELECT 'sim-worker-' || w, clock_timestamp(), clock_timestamp(), "
                "clock_timestamp() + interval '10 minutes' FROM generate_series(0, $1 - 1) AS w",
                workers,
            )
            await conn.execute(
                "INSERT INTO leases (plant, worker, acquired_at, expires_at) "
                "SELECT 'sim' || lpad(i::text, 7, '0'), 'sim-worker-' || (i % $2), "
                "clock_timestamp(), clock_timestamp() + interval '10 minutes' "
                "FROM generate_series(0, $1 - 1) AS i",
                plants,
                workers,
            )
            await conn.execute(
                "INSERT INTO sync_state (plant, endpoint, latest, interval_s, next_poll, "
                "failures, updated_at) SELECT plant, 'meter', $1, $2, 0, 0, 0 FROM plants",
                latest,
                INTERVAL,
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - started


def _postgres_cpu(directory: Path) -> float:
    """CPU seconds of the server so far: the postmaster, its live children and reaped ones."""
    postmaster = int((directory / "data" / "postmaster.pid").read_text().split()[0])
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, parent = int(entry.name), int(fields[1])
        if pid == postmaster:
            total += sum(int(f) for f in fields[11:15])  # its own and its reaped children's
        elif parent == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


# -- the simulation: one worker process ------------------------------------------------------
async def _worker(options: argparse.Namespace) -> dict[str, Any]:
    """Commit this worker's plants' pages when due; run lease rounds; report what it saw."""
    me, rate, ttl = _worker_id(options.index), options.plants / INTERVAL, DEFAULT_LEASE_TTL
    template = make_plants(1, seed=5, days=1, gaps=False)[0]
    record = template.meter_records(template.first, (template.latest or 0) + 1)[-1]
    arrivals = range(options.index, int(rate * options.slice), options.workers)
    loop = asyncio.get_running_loop()
    start = loop.time() + (options.start - time.time())
    commits: list[float] = []
    lags: list[float] = []
    reads: list[float] = []
    rounds: list[float] = []
    errors: dict[str, int] = {}
    held = 0
    gate = asyncio.Semaphore(FOLLOW_TASKS)

    async with PostgresStore(options.dsn) as store:

        async def poll(plant: str, due: float) -> None:
            try:
                began = loop.time()
                state = SyncState(latest=record.unix_time, interval=INTERVAL, next_poll=1e9)
                await store.commit_page(
                    plant, Endpoint.METER, [record], state, now=time.time(), worker=me
                )
                done = loop.time()
                await store.holes(plant, Endpoint.METER, due_by=time.time())
                commits.append(done - began)
                lags.append(done - due)
                reads.append(loop.time() - done)
            except Exception as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            finally:
                gate.release()

        async def lease_rounds() -> None:
            nonlocal held
            while True:
                began = loop.time()
                balance = await store.balance_leases(me, ttl=ttl)
                rounds.append(loop.time() - began)
                held = len(balance.held)
                await asyncio.sleep(max(0.0, began + ttl / 3 - loop.time()))

        cpu = time.process_time()
        async with asyncio.TaskGroup() as group:
            renewing = group.create_task(lease_rounds() if options.rounds else asyncio.sleep(0))
            await asyncio.sleep(max(0.0, start - loop.time()))
            for k in arrivals:
                due = start + k / rate
                if (delay := due - loop.time()) > 0:
                    await asyncio.sleep(delay)
                await gate.acquire()
                group.create_task(poll(_alias(k), due))
            for _ in range(FOLLOW_TASKS):
                await gate.acquire()
            finished = loop.time()
            renewing.cancel()
        cpu = time.process_time() - cpu
    return {
        "commits": commits,
        "lags": lags,
        "reads": reads,
        "rounds": rounds,
        "held": held,
        "errors": errors,
        "cpu": cpu,
        "finished": finished - start,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# -- the simulation: the fleet ---------------------------------------------------------------
async def _simulate(
    server: TemporaryPostgres,
    plants: int,
    workers: int,
    span: float,
    *,
    rounds: bool,
    lead: float,
) -> dict[str, Any]:
    """One slice of commits at the plan's rate by `workers` processes; with lease `rounds`."""
    with tempfile.TemporaryDirectory(prefix="lacecal-capacity-") as directory:
        fleet = (plants, workers, span)
        return await _slice(server, fleet, Path(directory), rounds=rounds, lead=lead)


async def _slice(
    server: TemporaryPostgres,
    fleet: tuple[int, int, float],
    out: Path,
    *,
    rounds: bool,
    lead: float,
) -> dict[str, Any]:
    plants, workers, span = fleet
    assert server.directory is not None
    start = time.time() + lead  # every worker connected and waiting by then
    wal_at = await _wal_position(server.dsn)
    cpu = _postgres_cpu(server.directory)
    async with asyncio.TaskGroup() as group:
        for index in range(workers):
            group.create_task(
                _run_worker(server.dsn, index, (plants, workers, span, start), out, rounds)
            )
    server_cpu = _postgres_cpu(server.directory) - cpu
    wal = await _wal_since(server.dsn, wal_at)
    results = [_read_json(out / f"{index}.json") for index in range(workers)]
    commits = [x for r in results for x in r["commits"]]
    lags = [x for r in results for x in r["lags"]]
    reads = [x for r in results for x in r["reads"]]
    round_times = [x for r in results for x in r["rounds"]]
    errors: dict[str, int] = {}
    for r in results:
        for name, count in r["errors"].items():
            errors[name] = errors.get(name, 0) + count
    target = plants / INTERVAL
    finished = max(r["finished"] for r in results)
    achieved = len(commits) / max(finished, span)
    worker_cpu = sum(r["cpu"] for r in results)
    count = max(len(commits) + sum(errors.values()), 1)  # CPU per attempt: failed ones cost too
    load = os.getloadavg()[0]
    return {
        "plants": plants,
        "workers": workers,
        "slice_s": span,
        "lease_rounds_run": rounds,
        "target_per_s": round(target, 1),
        "achieved_per_s": round(achieved, 1),
        "commits": len(commits),
        "errors": errors,
        "commit_p50_ms": round(percentile(commits, 0.5) * 1e3, 2),
        "commit_p99_ms": round(percentile(commits, 0.99) * 1e3, 2),
        "lag_p50_ms": round(percentile(lags, 0.5) * 1e3, 2),
        "lag_p99_ms": round(percentile(lags, 0.99) * 1e3, 2),
        "lag_max_ms": round(max(lags, default=0.0) * 1e3, 2),
        "holes_read_p50_ms": round(percentile(reads, 0.5) * 1e3, 2),
        "lease_round_p50_ms": round(percentile(round_times, 0.5) * 1e3, 1),
        "lease_round_max_ms": round(max(round_times, default=0.0) * 1e3, 1),
        "lease_rounds": len(round_times),
        "leases_held": sum(r["held"] for r in results),
        "worker_cpu_ms_per_commit": round(worker_cpu / count * 1e3, 3),
        "server_cpu_ms_per_commit": round(server_cpu / count * 1e3, 3),
        "wal_mib_per_s": round(wal / max(finished, span) / 2**20, 2),
        "wal_bytes_per_commit": round(wal / count),
        "worker_rss_mib": round(max(r["rss_mib"] for r in results), 1),
        "load_average": round(load, 1),
        "keeps_up": bool(
            achieved >= KEEP_UP_RATIO * target
            and not errors
            and max(lags, default=math.inf) <= KEEP_UP_LAG
        ),
    }


def _read_json(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(path.read_bytes())
    return result


async def _wal_position(dsn: str) -> str:
    """The server's WAL position now."""
    conn = await asyncpg.connect(dsn)
    try:
        position: str = await conn.fetchval("SELECT pg_current_wal_lsn()::text")
    finally:
        await conn.close()
    return position


async def _wal_since(dsn: str, position: str) -> int:
    """WAL bytes the server wrote after `position`."""
    conn = await asyncpg.connect(dsn)
    try:
        sql = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)::bigint"
        written: int = await conn.fetchval(sql, position)
    finally:
        await conn.close()
    return written


async def _run_worker(
    dsn: str, index: int, fleet: tuple[int, int, float, float], out: Path, rounds: bool
) -> None:
    command = [sys.executable, "-m", "benchmarks.bench_capacity", "worker", dsn, str(index)]
    command += [*(str(x) for x in fleet), str(out / f"{index}.json")]
    command += ["--rounds"] if rounds else []
    async with child(*command) as process:
        code = await asyncio.wait_for(process.wait(), fleet[2] + 300)
    if code != 0:
        raise RuntimeError(f"simulated worker {index} exited {code}")


# -- the section ----------------------------------------------------------------------------
def _simulation_rows(sim: dict[str, Any], what: str) -> list[Row]:
    label = f"{sim['plants']:,} plants, {sim['workers']} workers, {what}"
    return [
        row(
            SECTION,
            f"{label}: one-record commits/s achieved (target plants / 600 s)",
            sim["achieved_per_s"],
            "commits/s",
            baseline=sim["target_per_s"],
            baseline_name="the plan's rate",
            target=f">= {KEEP_UP_RATIO}, none refused, due -> committed <= {KEEP_UP_LAG:g} s",
            met=sim["keeps_up"],
            extra={"simulation": sim},
        ),
        row(
            SECTION,
            f"{label}: commits refused (lease lost) or failed",
            sum(sim["errors"].values()),
            "commits",
        ),
        row(SECTION, f"{label}: commit latency p50", sim["commit_p50_ms"], "ms"),
        row(SECTION, f"{label}: commit latency p99", sim["commit_p99_ms"], "ms"),
        row(SECTION, f"{label}: due -> committed, p99", sim["lag_p99_ms"], "ms"),
        row(SECTION, f"{label}: workers' CPU per commit", sim["worker_cpu_ms_per_commit"], "ms"),
        row(
            SECTION, f"{label}: PostgreSQL's CPU per commit", sim["server_cpu_ms_per_commit"], "ms"
        ),
        row(SECTION, f"{label}: WAL per commit", sim["wal_bytes_per_commit"], "bytes"),
    ]


async def _run(smoke: bool) -> dict[str, Any]:
    plants, workers, span, days = (
        (SMOKE["plants"], SMOKE["workers"], SMOKE["slice"], SMOKE["days"])
        if smoke
        else (PLANTS, WORKERS, SLICE, SIZE_DAYS)
    )
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="lacecal-capacity-") as directory:
        found["sqlite"] = await _sqlite_sizes(Path(directory), int(days))
    with TemporaryPostgres() as server:
        found["postgres"] = await _postgres_sizes(server, int(days))
        latest = int(time.time()) // INTERVAL * INTERVAL
        found["setup_s"] = await _populate(server.dsn, int(plants), int(workers), latest)
        for rounds in (False, True):
            sim = await _simulate(
                server,
                int(plants),
                int(workers),
                float(span),
                rounds=rounds,
                lead=SMOKE_LEAD if smoke else LEAD,
            )
            found["with_rounds" if rounds else "commits_only"] = sim
    return found


def _rows(found: dict[str, Any]) -> list[Row]:
    rows = []
    for store, name in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        meter, period, inverters = found[store]
        rows += [
            row(SECTION, f"{name}: bytes per meter record (table + indexes)", meter, "bytes"),
            row(
                SECTION,
                f"{name}: bytes per inverter period ({inverters} inverters, + indexes)",
                period,
                "bytes",
            ),
        ]
    rows.append(
        row(
            SECTION,
            f"setup: {found['commits_only']['plants']:,} plants, leases, sync states in bulk",
            found["setup_s"],
            "s",
        )
    )
    rows += _simulation_rows(found["commits_only"], "commits only")
    rounds = found["with_rounds"]
    rows += _simulation_rows(rounds, f"lease rounds every {DEFAULT_LEASE_TTL / 3:g} s")
    label = f"{rounds['plants']:,} plants, {rounds['workers']} workers"
    share = rounds["plants"] // rounds["workers"]
    rows.append(
        row(
            SECTION,
            f"{label}: lease round (renew a share of {share:,}), max",
            rounds["lease_round_max_ms"],
            "ms",
            target=f"< ttl / 3 = {DEFAULT_LEASE_TTL / 3 * 1e3:g} ms",
            met=rounds["lease_round_max_ms"] < DEFAULT_LEASE_TTL / 3 * 1e3,
        )
    )
    return rows


def run(smoke: bool = False) -> list[Row]:
    """Measure bytes per stored record, then simulate the 1,000,000-plant row's commits."""
    return _rows(asyncio.run(_run(smoke)))


def _worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.bench_capacity worker")
    parser.add_argument("dsn")
    for name in ("index", "plants", "workers"):
        parser.add_argument(name, type=int)
    parser.add_argument("slice", type=float)
    parser.add_argument("start", type=float)
    parser.add_argument("output", type=Path)
    parser.add_argument("--rounds", action="store_true", help="run lease rounds (ttl / 3)")
    options = parser.parse_args(argv)
    result = asyncio.run(_worker(options))
    options.output.write_text(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        _worker_main(sys.argv[2:])
    else:
        print(json.dumps(asyncio.run(_run("--smoke" in sys.argv)), indent=2))
