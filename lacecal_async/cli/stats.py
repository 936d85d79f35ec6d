"""``lacecal stats``: a sync store's energies per hour, day or month, ready for dashboards.

The store's periods are rolled up by `lacecal_async.stats_store.rollup_store` (batch by
batch: a year of a fleet never sits in memory) and written as ``lacecal export`` writes
(typed Parquet, files 0600, nothing overwritten without --force), or as Home Assistant
statistics (``ha-json``) whose sums continue a previous export's (``--continue-from``).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Sequence
from contextlib import aclosing
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from lacecal_async.cli.interrupt import Interrupted, run_interruptible
from lacecal_async.cli.options import (
    UsageError,
    add_endpoint_option,
    add_store_argument,
    add_when_option,
)
from lacecal_async.cli.stats_output import (
    STATS_FORMATS,
    HaJsonWriter,
    StatsFormat,
    StatsOutput,
    choose_stats_format,
    open_stats_output,
    read_continuation,
    stats_files,
)
from lacecal_async.cli.stores import chosen_plants, is_dsn, make_store, read_failed, shown
from lacecal_async.cli.when import WHEN_HELP, parse_when
from lacecal_async.endpoints import Endpoint
from lacecal_async.errors import LacecalError
from lacecal_async.stats import StatsRow
from lacecal_async.stats_buckets import BUCKETS, Bucket
from lacecal_async.stats_ha import HA_RELEASE, SOURCE, ha_release, statistic_id
from lacecal_async.stats_store import rollup_store
from lacecal_async.stats_sums import SumAnchor
from lacecal_async.sync import PostgresStore, SQLiteStore

__all__ = [
    "StatsTally",
    "add_parser",
    "parse_zone",
    "run",
    "settled_hours",
    "stats_rows",
    "when_in",
]

#: Rows handed to the output at once.
_BATCH = 1000

STATS_EPILOG = f"""\
{WHEN_HELP}
With --tz, dates and times without an offset are local time in that zone instead.

Rows: one per plant and bucket: each quantity's energy (meter: grid import and export
three-phase and per phase, Q1 to Q4, load, renewable; inverter: the plant's total, and
each inverter beside it), the periods the bucket has and the periods it should have. A
bucket with a missing period is marked (complete false), never filled with zeros. A local
day is 23 or 25 hours at a DST change; the repeated autumn hour is two buckets.

--start and --end are widened to whole buckets. A plant's rows begin with its first
stored period (periods before it are not missing: they never existed) and end with the
bucket of its newest one (counted whole: an hour in progress is incomplete).

Without --tz, buckets follow the UTC offsets the records carry (the plants' local time as
the service dates them; exact unless a hole spans a DST change). --tz ZONE (an IANA name:
Europe/Madrid, UTC) buckets in that zone.

Formats (--format, else the extension): .csv, .jsonl, .parquet (typed) and .json for
ha-json: Home Assistant statistics (hourly only), one object per statistic id
(<source>:<plant>_<quantity>) with the metadata and stats async_add_external_statistics
takes and the resume point of the next export. --continue-from PREVIOUS.json continues
each statistic's sum from that point: give --start at or before it, and import every
row (rows with the same start replace the old ones, so repaired holes are corrected).
The resume point never passes an hour with a hole the store may still repair.
Inverter rollups into X.csv write each inverter's rows beside it, in X.inverters.csv.
JSON Lines on stdout without -o. An existing output is never overwritten without --force.

DB is the SQLite file or PostgreSQL DSN `lacecal sync` writes; it is only read.

Exit status: 0 written; 1 the store could not be read, or a sum could not be continued;
2 usage error (no such store, an unknown plant, a window the sums cannot continue);
130 interrupted by Ctrl-C.
"""


@attrs.define
class StatsTally:
    """What a run wrote: rows, plants, incomplete rows."""

    rows: int = 0
    incomplete: int = 0
    plants: set[str] = attrs.field(factory=set)

    def count(self, rows: Sequence[StatsRow]) -> None:
        """Count a batch."""
        self.rows += len(rows)
        self.incomplete += sum(not row.complete for row in rows)
        self.plants.update(row.plant for row in rows)


def parse_zone(name: str) -> tzinfo:
    """Return the IANA zone `name` (``Europe/Madrid``, ``UTC``), or raise `UsageError`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"--tz {name!r}: no such time zone (an IANA name: Europe/Madrid, UTC)"
        ) from None


def when_in(text: str, zone: tzinfo | None) -> int:
    """Return the UNIX time of a WHEN; without an offset, local time in `zone` if given."""
    return parse_when(text) if zone is None else parse_when(text, zone=zone)


async def settled_hours(
    store: SQLiteStore | PostgresStore, plants: Sequence[str] | None, endpoint: Endpoint
) -> dict[str, int]:
    """Return, per plant, up to when [UNIX s] the store will repair nothing more.

    That is the start of its first hole still scheduled for repair, else of its newest
    period: ha-json's ``resume`` may pass an incomplete hour before it (a hole given up),
    never one a repair may still fill. The schedule counts periods from when the store
    found a hole, not from the hole's own time: an old hole of a backlog synced today is
    repaired for days yet.
    """
    keys = plants if plants is not None else [entry.plant for entry in await store.plants()]
    found: dict[str, int] = {}
    for key in keys:
        state = await store.state(key, endpoint)
        holes = await store.holes(key, endpoint)
        cuts = [hole.start for hole in holes if hole.next_attempt is not None]
        if state is not None and state.latest is not None:
            cuts.append(state.latest)
        if cuts:
            found[key] = min(cuts)
    return found


async def stats_rows(
    store: SQLiteStore | PostgresStore,
    output: StatsOutput,
    tally: StatsTally,
    *,
    endpoint: Endpoint,
    bucket: Bucket,
    zone: tzinfo | None,
    plants: Sequence[str] | None,
    since: int,
    until: int | None,
) -> None:
    """Roll the store's periods up into `output`, a plant's rows in batches, and finish it."""
    batch: list[StatsRow] = []
    rows = rollup_store(store, endpoint, bucket, zone, plants=plants, start=since, end=until)
    async with aclosing(rows):
        async for row in rows:
            if batch and (row.plant != batch[0].plant or len(batch) >= _BATCH):
                output.write(batch[0].plant, batch)
                tally.count(batch)
                batch = []
            batch.append(row)
    if batch:
        output.write(batch[0].plant, batch)
        tally.count(batch)
    output.finish()


def _check_continuation(path: str, since: int, until: int | None) -> dict[str, SumAnchor]:
    anchors, starts = read_continuation(path)
    for sid, start in sorted(starts.items(), key=lambda item: datetime.fromisoformat(item[1])):
        at = datetime.fromisoformat(start).timestamp()
        if since > at:
            raise UsageError(
                f"{path}: {sid} resumes at {start}: give --start at or before it, so its "
                "sum continues"
            )
        if until is not None and until <= at:
            raise UsageError(f"{path}: {sid} resumes at {start}: --end must be after it")
    return anchors


@attrs.frozen
class _Plan:
    """The checked options of a run."""

    zone: tzinfo | None
    since: int
    until: int | None
    endpoint: Endpoint
    bucket: Bucket
    fmt: StatsFormat
    anchors: dict[str, SumAnchor]


def _check_whole_hours(zone: tzinfo, name: str, since: int, until: int | None) -> None:
    """`UsageError` where `zone`'s offset is not whole hours in ``[since, until)``.

    Home Assistant's hours start on the UTC hour, so a half-hour zone's local hours cannot be
    its statistics: said before anything is read, not after (exit 1). Checked daily over
    the range (to now when open, at most 100 years): offsets change at most twice a year.
    """
    end = min(until if until is not None else int(time.time()), since + 100 * 366 * 86400)
    for when in [*range(since, end, 86400), end - 1]:
        offset = datetime.fromtimestamp(max(when, since), zone).utcoffset()
        seconds = 0 if offset is None else int(offset.total_seconds())
        if seconds % 3600:
            hours, minutes = divmod(abs(seconds) // 60, 60)
            raise UsageError(
                f"{name} is UTC{'-' if seconds < 0 else '+'}{hours:02d}:{minutes:02d} there: Home "
                "Assistant's hours start on the UTC hour, so ha-json needs a zone whose offset "
                "is whole hours (--tz UTC)"
            )


def _plan(args: argparse.Namespace) -> _Plan:
    """Check the options before anything is opened; `UsageError` for the first wrong one."""
    if not is_dsn(args.db) and not Path(args.db).is_file():
        raise UsageError(f"{shown(args.db)}: no such store")
    zone = None if args.tz is None else parse_zone(args.tz)
    since = when_in(args.start, zone)
    until = None if args.end is None else when_in(args.end, zone)
    if until is not None and until <= since:
        raise UsageError("--end is not after --start")
    endpoint = Endpoint(args.endpoint)
    fmt = choose_stats_format(args.output, args.format)
    if fmt == "ha-json" and args.by != "hour":
        raise UsageError("ha-json is Home Assistant's hourly statistics: use --by hour")
    if fmt == "ha-json" and zone is not None:
        _check_whole_hours(zone, args.tz, since, until)
    try:
        statistic_id("plant", "load_kwh", source=args.source)
    except ValueError as exc:
        raise UsageError(f"--source: {exc}") from None
    try:
        ha_release(args.ha_version)
    except ValueError as exc:
        raise UsageError(f"--ha-version: {exc}") from None
    anchors: dict[str, SumAnchor] = {}
    if args.continue_from is not None:
        if fmt != "ha-json":
            raise UsageError("--continue-from continues the sums of ha-json: --format ha-json")
        anchors = _check_continuation(args.continue_from, since, until)
    existing = [file for file in stats_files(args.output, fmt, endpoint) if file.exists()]
    if existing and not args.force:
        raise UsageError(f"{existing[0]} exists: --force overwrites it")
    return _Plan(zone, since, until, endpoint, args.by, fmt, anchors)


def run(args: argparse.Namespace) -> int:
    """Run ``lacecal stats``; return the exit status."""
    plan = _plan(args)
    output: StatsOutput | None = None
    tally = StatsTally()

    async def work() -> None:
        nonlocal output
        async with make_store(args.db, create=False) as store:
            plants = await chosen_plants(store, args.plant)
            settled = None
            if plan.fmt == "ha-json":
                settled = await settled_hours(store, plants, plan.endpoint)
            output = open_stats_output(
                args.output, plan.fmt, plan.endpoint, sys.stdout,
                source=args.source, anchors=plan.anchors, release=args.ha_version,
                settled=settled,
            )  # fmt: skip
            await stats_rows(
                store, output, tally, endpoint=plan.endpoint, bucket=plan.bucket,
                zone=plan.zone, plants=plants, since=plan.since, until=plan.until,
            )  # fmt: skip

    failed: Exception | None = None
    outcome: Interrupted | None = None
    try:
        outcome = run_interruptible(work)
    except BrokenPipeError:
        _finish(output, ok=False)
        return 1
    except (LacecalError, sqlite3.Error, ValueError, OSError) as exc:
        failed = exc
    closing = _finish(output, ok=failed is None)
    failed = failed or closing
    if failed is not None:
        return read_failed(args.db, failed, opened=output is not None, own_value_errors=True)
    written = "nothing written" if output is None else _written(tally, plan.bucket, output)
    if isinstance(outcome, Interrupted):
        print(f"lacecal: interrupted; {written}", file=sys.stderr)
        return outcome.exit_status
    if not args.quiet:
        print(f"lacecal: {written}", file=sys.stderr)
    return 0


def _finish(output: StatsOutput | None, *, ok: bool) -> OSError | None:
    """Close the output (a failed run's ha-json is discarded); return the error closing it.

    After a failure, an error closing (a full disk again) is not the one to report.
    """
    if output is None:
        return None
    try:
        if not ok and isinstance(output, HaJsonWriter):
            output.discard()
        else:
            output.close()
    except OSError as exc:
        return exc if ok else None
    return None


def _written(tally: StatsTally, bucket: Bucket, output: StatsOutput) -> str:
    where = ", ".join(f"{n:,} to {d}" for d, n in output.counts())
    incomplete = f"{tally.incomplete:,} incomplete"
    plants = f"{len(tally.plants)} plant{'s' if len(tally.plants) != 1 else ''}"
    text = f"{tally.rows:,} {bucket} rows of {plants} ({incomplete})"
    if isinstance(output, HaJsonWriter):
        return f"{text}: {where or 'nothing'} (statistics)"
    return f"{text}: {where or 'nothing written'}"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``stats`` to the command."""
    parser = subparsers.add_parser(
        "stats",
        allow_abbrev=False,
        help="a sync store's energies per hour, day or month (CSV, Parquet, Home Assistant)",
        description="Sum the meter or inverter periods a sync store holds per plant and "
        "hour, local day or month, marking every bucket with a missing period.",
        epilog=STATS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_store_argument(parser)
    parser.add_argument(
        "plant",
        nargs="*",
        metavar="PLANT",
        help="only these plants: aliases or fingerprints (default: all)",
    )
    parser.add_argument("--by", choices=BUCKETS, required=True, help="the bucket")
    parser.add_argument(
        "--tz",
        metavar="ZONE",
        default=None,
        help="buckets in this IANA zone (default: the offsets the records carry)",
    )
    add_when_option(
        parser, "--start", required=True, old="--since", help="first instant (included)"
    )
    add_when_option(parser, "--end", old="--until", help="last instant (excluded)")
    add_endpoint_option(parser)
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default=None,
        help="FILE.csv, .jsonl, .parquet or .json (ha-json) ('-': stdout; default: "
        "JSON Lines on stdout)",
    )
    parser.add_argument(
        "--format",
        choices=STATS_FORMATS,
        default=None,
        help="the output format (default: from FILE's extension; JSON Lines on stdout)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    parser.add_argument(
        "--continue-from",
        metavar="PREVIOUS",
        default=None,
        help="an earlier ha-json output: continue each statistic's sum from it",
    )
    parser.add_argument(
        "--source",
        default=SOURCE,
        metavar="NAME",
        help=f"ha-json: the statistics' source and id prefix (default {SOURCE}; "
        "an integration's domain)",
    )
    parser.add_argument(
        "--ha-version",
        default=HA_RELEASE,
        metavar="YEAR.MONTH",
        help=f"ha-json: the Home Assistant release whose metadata keys to write (default "
        f"{HA_RELEASE}: mean_type and unit_class; before 2025.4: has_mean)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no summary line on stderr; only errors"
    )
    parser.set_defaults(func=run, trailing="plant")  # plants after the options too
