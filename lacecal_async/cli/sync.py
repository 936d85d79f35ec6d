"""``lacecal sync``: keep plants' records in a SQLite or PostgreSQL database, once or as a daemon.

With a PostgreSQL DSN and ``--follow`` the process is one worker of a fleet: it shares the
plants listed in the database with every other such process through leases, and
``--workers N`` starts N of them. Each page is committed with the plant's sync state in
one transaction, so a crash (even a SIGKILL) loses at most the page in flight and a rerun
resumes after the last committed record. With ``--follow`` it keeps polling each plant
once per its integration period; SIGTERM or Ctrl-C stops it after the commit in flight
(exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import sys
import time
from collections.abc import Mapping, Sequence

from lacecal_async.cli.bounds import MAX_UNIX, check_duration, check_workers
from lacecal_async.cli.counted_store import CountedPostgresStore, counted_store
from lacecal_async.cli.fetch import add_plant_options, add_progress_options
from lacecal_async.cli.fleet import default_workers, run_workers, watch_parent
from lacecal_async.cli.gc_tuning import bulk_gc
from lacecal_async.cli.interrupt import Interrupted, run_interruptible
from lacecal_async.cli.itrs import Redactor, collect_plants, read_stdin
from lacecal_async.cli.log_lines import library_logs, stamped
from lacecal_async.cli.options import (
    UsageError,
    add_client_options,
    add_endpoint_option,
    add_when_option,
    make_client,
)
from lacecal_async.cli.progress import choose_mode
from lacecal_async.cli.stores import check_db, is_dsn, make_store, shown, store_error
from lacecal_async.cli.sync_progress import SyncProgress
from lacecal_async.cli.when import WHEN_HELP, parse_when
from lacecal_async.clock import Clock, ScaledClock, SystemClock
from lacecal_async.endpoints import Endpoint
from lacecal_async.errors import LacecalError
from lacecal_async.itr import fingerprint
from lacecal_async.sync import (
    NoStoreError,
    PlantReport,
    PostgresStore,
    SQLiteStore,
    SyncPlant,
    follow,
    follow_fleet,
    sync,
    worker_id,
)
from lacecal_async.sync.fleet import join

__all__ = ["add_parser", "parse_duration", "run"]

#: The fastest trial clock, and the latest epoch (10000-01-01) a trial clock may name.
MAX_CLOCK_SPEED = 100_000.0
MAX_EPOCH = 253_402_300_800.0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhd]?)", re.ASCII)


def parse_duration(text: str) -> float:
    """Parse ``90``, ``90s``, ``15m``, ``2h``, ``1d`` or ``1h30m`` into seconds (bounded)."""
    value = text.strip().lower()
    pos, total = 0, 0.0
    while pos < len(value):
        match = _DURATION.match(value, pos)
        # A bare number is seconds only on its own: "1h30" is ambiguous, not 1h + 30s.
        if match is None or (not match[2] and (pos or match.end() != len(value))):
            raise UsageError(f"invalid duration {text!r}: use e.g. 90s, 15m, 2h, 1d or 1h30m")
        total += float(match[1]) * _UNITS[match[2] or "s"]
        pos = match.end()
    if not value:
        raise UsageError("an empty duration")
    return check_duration(total, text)


def _failures(reports: Mapping[str, PlantReport], names: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for key, report in reports.items():
        out.extend(
            f"{names.get(key, key)} {entry.endpoint.value} failed: {entry.error}"
            for entry in report.endpoints
            if entry.error is not None
        )
        if report.inventory_error is not None:
            out.append(f"{names.get(key, key)} inverter list failed: {report.inventory_error}")
    return out


async def _fleet_size(db: str, plants: Sequence[SyncPlant]) -> int:
    """Add `plants` to the database (one transaction) and return how many it lists.

    As the fleet adds them (`join`): one given without an alias keeps the key it is stored
    under (a worker knows identifiers, the store holds their aliases).
    """
    async with PostgresStore(db) as store:
        await join(store, [(plant.itr, plant.alias) for plant in plants])
        return len(await store.plants())


async def _new_plants(
    db: str, plants: Sequence[SyncPlant], endpoints: Sequence[str]
) -> list[str] | None:
    """Return the names of `plants` with an endpoint `db` holds no sync state for.

    None: `db` holds no store yet. One of an older schema is upgraded first, as this sync
    upgrades it anyway: its plants keep their state.
    """
    chosen = [Endpoint(e) for e in endpoints]
    try:
        return await _unsynced(make_store(db, create=False), plants, chosen)
    except NoStoreError as exc:
        if not exc.older:
            return None
    return await _unsynced(make_store(db), plants, chosen)


async def _unsynced(
    opened: PostgresStore | SQLiteStore, plants: Sequence[SyncPlant], chosen: Sequence[Endpoint]
) -> list[str]:
    """Return the names of `plants` with one of the `chosen` endpoints unsynced in the store.

    A plant the store holds is named with those endpoints: ``roof (inverter)``.
    """
    async with opened as store:
        # A plant's state is under the key its fingerprint is stored with: a fleet
        # worker given it without its alias follows it so (elsewhere the sync refuses
        # the mismatch, saying so).
        keys = {entry.fingerprint: entry.plant for entry in await store.plants()}
        registered = set(keys.values())
        stored = [await store.states(e) for e in chosen]  # a query each: fleets are large
        new = []
        for plant in plants:
            key = keys.get(fingerprint(plant.itr), plant.key)
            missing = [
                endpoint.value
                for endpoint, by_key in zip(chosen, stored, strict=True)
                if (s := by_key.get(key)) is None or (s.latest is None and s.since is None)
            ]
            if missing:  # a plant the store holds is new to these endpoints: say which
                listed = key in registered
                new.append(f"{plant.name} ({', '.join(missing)})" if listed else plant.name)
        return new


def _check_resumes(
    db: str, plants: Sequence[SyncPlant], endpoints: Sequence[str], redact: Redactor
) -> None:
    """Without ``--start``: `UsageError` unless every plant resumes from `db`.

    `redact`: DB is named in it, and its name may hold part of an identifier.
    """
    new = asyncio.run(_new_plants(db, plants, endpoints))
    if new is None:
        raise UsageError(
            redact(
                f"--start is needed: {shown(db)} holds no lacecal store yet, so every plant "
                "is new to it"
            )
        )
    if new:
        listed = ", ".join(new[:5]) + (f" and {len(new) - 5} more" if len(new) > 5 else "")
        raise UsageError(
            redact(
                f"--start is needed: {len(new)} of {len(plants)} plants are new to "
                f"{shown(db)} (no sync state): {listed}"
            )
        )


async def _no_plain_follow(db: str) -> None:
    """Raise `StoreInUseError` if a plain `follow` (a library user's) holds the database."""
    async with PostgresStore(db) as store, store.following(fleet=True):
        pass


def _check_workers(args: argparse.Namespace) -> None:
    """Check ``--workers`` (usage errors, before the database is read)."""
    workers: int | None = args.workers
    if workers is not None:
        check_workers(workers)
    if workers is not None and workers > 1:
        if not is_dsn(args.db):
            raise UsageError(
                "--workers above 1 needs a PostgreSQL database (postgresql://...): SQLite has "
                "no leases, so run one process per SQLite file"
            )
        if not args.follow:
            raise UsageError("--workers needs --follow (workers share plants by leases)")


def _workers(args: argparse.Namespace, plants: Sequence[SyncPlant]) -> int:
    """Return how many worker processes to run (`_check_workers` checked ``--workers``).

    For more than one, a plain `follow` holding the database is refused here, once, not
    by each worker process, restarted again and again (`StoreInUseError`).
    """
    workers: int | None = args.workers
    if workers is None:
        if not (is_dsn(args.db) and args.follow):
            return 1
        workers = default_workers(asyncio.run(_fleet_size(args.db, plants)))
    if workers > 1:
        asyncio.run(_no_plain_follow(args.db))
    return workers


def _options(args: argparse.Namespace, clock: Clock) -> tuple[int | None, float | None, float]:
    """Return ``--start``, ``--lookback`` and ``--lease-ttl``, checking ``--workers`` too.

    Usage errors all, before the database is read.
    """
    since = None if args.start is None else parse_when(args.start, now=clock.now)
    lookback = parse_duration(args.lookback) if args.lookback is not None else None
    lease_ttl = _lease_ttl(args.lease_ttl)
    _check_workers(args)
    return since, lookback, lease_ttl


def _lease_ttl(text: str) -> float:
    """Parse ``--lease-ttl``: a positive duration."""
    ttl = parse_duration(text)
    if not ttl > 0:
        raise UsageError("--lease-ttl is a positive duration")
    return ttl


def _clock(args: argparse.Namespace) -> Clock:
    """Return the clock `--clock-speed` and `--clock-epoch` describe (default: the system's)."""
    speed: float = args.clock_speed
    if speed == 1.0 and args.clock_epoch is None:
        return SystemClock()
    if args.clock_epoch is None:
        raise UsageError("--clock-speed needs --clock-epoch (lacecal serve prints both)")
    epoch: float = args.clock_epoch
    now = epoch + (time.time() - epoch) * speed
    if not 0 <= now <= MAX_UNIX:  # no date holds it: every stamp and state would fail
        raise UsageError(
            f"--clock-speed {speed:g} --clock-epoch {epoch:.3f} put the clock outside 1970 to "
            "9999: give the values lacecal serve printed"
        )
    return ScaledClock(now, speed)


async def _plan(
    store: PostgresStore | SQLiteStore,
    plants: Sequence[SyncPlant],
    endpoints: Sequence[str],
    since: int | None,
    progress: SyncProgress,
) -> None:
    """Tell `progress` where each plant's endpoints start: their sync state, else `since`."""
    chosen = [Endpoint(e) for e in endpoints]
    stored = [await store.states(e) for e in chosen]  # a query each, not one per plant
    for plant in plants:
        progress.plan(plant.key, chosen, [by_key.get(plant.key) for by_key in stored], since)


def _progress(
    args: argparse.Namespace, plants: Sequence[SyncPlant], redact: Redactor, clock: Clock
) -> SyncProgress:
    """Return the progress display of a run: on stderr, stamped unless journald stamps it."""
    stderr = sys.stderr
    return SyncProgress(
        stderr,
        choose_mode(args.progress, stderr),
        {plant.key: plant.name for plant in plants},
        redact,
        {fingerprint(plant.itr): plant.key for plant in plants},
        follow=args.follow,
        rate=args.rate,
        stamps=stamped(stderr),
        clock=clock.now,
    )


def run(args: argparse.Namespace) -> int:
    """Run ``lacecal sync``; return the exit status."""
    stderr = sys.stderr
    check_db(args.db)
    # Read once: the --workers children get it through a pipe on their stdin.
    stdin = read_stdin() if "-" in args.itr_file else None
    refs = collect_plants(args.itr, args.itr_file, stdin=stdin)
    clock = _clock(args)
    since, lookback, lease_ttl = _options(args, clock)
    endpoints = ("meter", "inverter") if args.endpoint == "all" else (args.endpoint,)
    try:
        plants = [SyncPlant(ref.itr, ref.alias) for ref in refs]
        names = {plant.key: plant.name for plant in plants}
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    redact = Redactor(tuple(ref.itr for ref in refs))
    try:
        if since is None:
            _check_resumes(args.db, plants, endpoints, redact)
        workers = _workers(args, plants)
    except (LacecalError, ValueError, OSError) as exc:
        print(redact(f"lacecal: error: {store_error(args.db, exc)}"), file=stderr)
        return 1
    if workers > 1:
        return run_workers(args.argv, workers, stdin=stdin)
    # A --workers child: leave with the parent, and stay stopping once signalled.
    child = watch_parent(min(max(lease_ttl / 3, 0.1), 1.0))
    progress = _progress(args, plants, redact, clock)
    worker = worker_id()
    fleet = is_dsn(args.db) and args.follow

    async def work() -> dict[str, PlantReport]:
        agent = f"worker/{worker}" if fleet else None
        store = counted_store(args.db, progress.committed, dsn=is_dsn(args.db))
        async with make_client(args, user_agent=agent) as client, store:
            client.add_listener(progress.on_event)
            if not fleet:  # a fleet's plants come and go with its leases: lines only
                await _plan(store, plants, endpoints, since, progress)
            ticker = asyncio.ensure_future(progress.run())
            try:
                if args.follow and isinstance(store, CountedPostgresStore):  # a fleet worker
                    await follow_fleet(
                        client,
                        store,
                        plants,
                        endpoints,
                        since,
                        lookback=lookback,
                        on_cycle=progress,
                        worker=worker,
                        lease_ttl=lease_ttl,
                        on_fleet=progress.fleet_log,
                        clock=clock,
                    )
                elif args.follow:
                    await follow(
                        client,
                        store,
                        plants,
                        endpoints,
                        since,
                        lookback=lookback,
                        on_cycle=progress,
                        clock=clock,
                    )
                return await sync(
                    client,
                    store,
                    plants,
                    endpoints,
                    since,
                    lookback=lookback,
                    on_cycle=progress,
                    clock=clock,
                )
            finally:
                ticker.cancel()

    try:
        with bulk_gc(), library_logs(progress.log, verbose=args.verbose):
            outcome = run_interruptible(work, stay_stopping=child)
    except (LacecalError, ValueError, OSError) as exc:
        progress.stopped(interrupted=True)
        progress.log(f"lacecal: error: {store_error(args.db, exc)}")
        return 1
    if isinstance(outcome, Interrupted):
        done = progress.stopped(interrupted=True)
        progress.log(f"lacecal: {'stopped' if args.follow else 'interrupted'}; {done}")
        return 0 if args.follow else outcome.exit_status
    return _report(outcome, names, progress)


def _report(
    outcome: Mapping[str, PlantReport], names: Mapping[str, str], progress: SyncProgress
) -> int:
    """Log the failures and the summary of a one-shot sync; return its exit status."""
    done = progress.stopped(interrupted=False)
    failed = _failures(outcome, names)
    for line in failed:
        progress.log(f"lacecal: {line}")
    up_to_date = len(outcome) - len({f.split(" ")[0] for f in failed})
    progress.log(f"lacecal: {up_to_date} of {len(outcome)} plants up to date; {done}")
    return 1 if failed else 0


SYNC_EPILOG = f"""\
{WHEN_HELP}

Each plant is stored under its alias (alias=IDENTIFIER), else its fingerprint
("itr-" + 12 hex digits of SHA-256): the database never holds an identifier (an alias with
16 or more ASCII letters and digits in a row, or 8 characters of any identifier given, in
any case, width or spacing, is refused: exit 2). Its file is created readable by its owner
only (0600).

--start is where a plant NEW to the database starts; a plant with sync state resumes
after its latest stored record and --start is ignored for it. Without --start every plant
must have sync state (a rerun, a daemon's restart): a new one is a usage error naming it.
A record dated more than one period and 5 minutes after this machine's clock (a logger's
clock glitch) is never stored: the records before it are, the plant fails (see lacecal
status) and goes on once the logger is fixed; such records an older version stored are
removed.

Progress: on a terminal, a live table of the backfill (plants caught up, pages and records
done of expected, an ETA from --rate: a plant's endpoints share its limit, 144 records a
request); otherwise, and once caught up, one line per plant's endpoint per cycle (new
records apart from those --lookback re-read). -v adds a line per request. Every line starts
with a UTC timestamp unless stderr is the systemd journal (JOURNAL_STREAM), which stamps
lines itself; LACECAL_LOG_TIMESTAMPS=on|off decides otherwise. Ctrl-C or SIGTERM ends with
the records this run committed.

Without --follow: exit 0 once every plant is up to date, 1 if some failed (each listed) or
the database stayed unavailable for about 30 s (one line; run it again to complete).
With --follow it runs until stopped: each plant is asked once per its integration
period, shortly after a period closes; after downtime it backfills first. SIGTERM or
Ctrl-C stops it after the pages in flight are committed (exit 0). A SIGKILL loses at most
those pages: run it again and it resumes exactly after the last committed record.
Holes (periods missing between stored records) are asked for again 6, 36, 144 and 1008
periods after they were found, with the requests the polls leave free (a poll never waits
for a repair); --lookback DURATION (e.g. 2h) also re-reads that window before the latest
record on every cycle. A failing inverter list backs off on its own. See: lacecal status DB.

DB may be a PostgreSQL DSN (postgresql://user@host/db; needs lacecal_async[postgres]).
With --follow each such process is one worker of a fleet: the workers share the plants
listed in the database through leases (one worker per plant at a time), each taking about
its fair share; plants given here are added to it. Each worker reads identifiers from its
own arguments, --itr-file or LACECAL_ITR (the database holds aliases and fingerprints);
a plant it has no identifier for is reported and left to another worker (never taken
again by this one; lacecal status DB flags a plant no live worker has). A worker that
dies loses its leases after --lease-ttl and the others take its plants over.
--workers N runs N such workers on this host (default: one per usable core when the
database lists more plants than one process keeps up with, 1500; else 1). SQLite takes
one worker only. Without --follow the plants given are synced once, without leases.
The parent of --workers N logs a worker that dies (its signal or exit status) and starts
it again after 1 s, doubling to 60 s; exit 0 or 2 is not restarted.

Trials: lacecal serve --follow --speed N prints --clock-speed N --clock-epoch T; given to
sync, they make its clock run as the fake's, so --follow keeps up with it.
"""


def _no_end(text: str) -> None:  # noqa: ARG001 - refused whatever it is
    """Refuse ``sync --end``: a sync runs up to now, and ``--follow`` keeps it so."""
    raise argparse.ArgumentTypeError("sync has no end: it syncs up to now (--follow: and on)")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sync`` to the command."""
    parser = subparsers.add_parser(
        "sync",
        allow_abbrev=False,
        help="keep plants' records in a SQLite or PostgreSQL database (--follow: a daemon)",
        description="Bring the plants' records in DB up to date; with --follow, keep them so.",
        epilog=SYNC_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "db",
        metavar="DB",
        help="the SQLite file (created if missing), or a PostgreSQL DSN postgresql://...",
    )
    add_plant_options(parser)
    add_when_option(
        parser,
        "--start",
        old="--since",
        help="first instant for plants new to DB (needed while one is; ignored for plants "
        "with sync state)",
    )
    add_endpoint_option(
        parser,
        choices=("meter", "inverter", "all"),
        default="all",
        help="which records (default all: meter and inverter, and the inverter list)",
    )
    # Hidden: fetch's and export's --end, refused with a reason (not "unrecognized").
    parser.add_argument("--end", type=_no_end, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--follow", action="store_true", help="keep going until stopped")
    parser.add_argument(
        "--lookback",
        metavar="DURATION",
        default=None,
        help="re-read this window before each plant's latest record every cycle (e.g. 2h)",
    )
    fleet = parser.add_argument_group("fleet (PostgreSQL with --follow)")
    fleet.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes on this host (default: cores if the fleet needs them, else 1)",
    )
    fleet.add_argument(
        "--lease-ttl",
        default="30s",
        metavar="DURATION",
        help="how long a worker's leases last unrenewed: a dead worker's plants move after "
        "it (default 30s)",
    )
    trial = parser.add_argument_group("trials against `lacecal serve --follow --speed N`")
    trial.add_argument(
        "--clock-speed",
        type=_clock_speed,
        default=1.0,
        metavar="N",
        help="run this process's clock N times real time, as the fake server's (with "
        "--clock-epoch; never against the real service)",
    )
    trial.add_argument(
        "--clock-epoch",
        type=_clock_epoch,
        default=None,
        metavar="T",
        help="the UNIX time at which that clock read the real time (lacecal serve prints it)",
    )
    add_client_options(parser)
    add_progress_options(parser)
    parser.set_defaults(func=run)


def _clock_speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (math.isfinite(value) and 0 < value <= MAX_CLOCK_SPEED):
        raise argparse.ArgumentTypeError(
            f"expected a speed above 0 and at most {MAX_CLOCK_SPEED:g}, not {text!r}"
        )
    return value


def _clock_epoch(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and 0 <= value < MAX_EPOCH):
        raise argparse.ArgumentTypeError(f"expected a UNIX time, not {text!r}")
    return value
