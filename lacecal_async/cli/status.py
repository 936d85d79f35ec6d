"""``lacecal status``: where each plant's endpoint stands in a ``lacecal sync`` database.

On a fleet's PostgreSQL database it also shows who holds each plant's lease, and flags a
plant that no live worker can sync: every one of them was started without its identifier.
Its exit status is a health verdict a monitoring system can page on (`lacecal_async.cli.health`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from lacecal_async.cli.health import UNKNOWN, VERDICTS, Thresholds, judge, worst
from lacecal_async.cli.options import UsageError, add_store_argument
from lacecal_async.cli.stores import check_db, is_dsn, make_store, store_error
from lacecal_async.cli.sync import parse_duration
from lacecal_async.cli.sync_progress import when
from lacecal_async.errors import LacecalError
from lacecal_async.redaction import printable
from lacecal_async.sync import StatusRow
from lacecal_async.watch import future_tolerance

__all__ = ["add_parser", "format_lag", "run", "status_objects"]

_COLUMNS = ("plant", "endpoint", "first", "latest", "lag", "holes", "failures", "next poll")
#: The column a fleet's store adds: the worker holding the plant's lease, or "free".
_LEASE = "lease"


def status_objects(rows: list[StatusRow], now: float) -> list[dict[str, Any]]:
    """One JSON-ready object per row: UNIX times, their ISO forms, lag [s] behind `now`.

    A negative lag: the latest stored record is dated after `now`.
    """
    out = []
    for row in rows:
        lag = None if row.latest_record is None else now - row.latest_record
        out.append(
            {
                "plant": row.plant,
                "endpoint": None if row.endpoint is None else row.endpoint.value,
                "first_record": row.first_record,
                "first": None if row.first_record is None else when(row.first_record),
                "latest_record": row.latest_record,
                "latest": None if row.latest_record is None else when(row.latest_record),
                "lag_s": None if lag is None else round(lag),
                "holes": row.holes,
                "missing_periods": row.missing_periods,
                "failures": row.failures,
                "last_error": row.last_error,
                "last_error_at": row.last_error_at,
                "next_poll": row.next_poll,
                "lease_holder": row.holder,
                "refused_by": list(row.refused_by),
                "orphaned": row.orphaned,
                "future_record": row.future_record,
                "future": None if row.future_record is None else when(row.future_record),
                "future_seen_at": row.future_seen_at,
                "future_removed": row.future_removed,
            }
        )
    return out


def format_lag(seconds: float | None) -> str:
    """Return the lag column's text: ``-`` (no record), else seconds, minutes, hours or days."""
    if seconds is None:
        return "-"
    if seconds < 0:
        return f"ahead {format_lag(-seconds)}"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _fault_notes(o: dict[str, Any]) -> list[str]:
    """Return the lines under a row naming what was ignored, or is off, in time."""
    notes = []
    if o["future_record"] is not None:
        seen = o["future_seen_at"]
        ahead = "" if seen is None else f", {format_lag(o['future_record'] - seen)} after the clock"
        removed = o["future_removed"]
        notes.append(
            f"    ignored a record dated {o['future']}{ahead} (last at {when(seen)}): a clock "
            "fault of the logger or server"
            + (f"; {removed} stored record(s) dated after the clock removed" if removed else "")
        )
    if o["lag_s"] is not None and -o["lag_s"] > future_tolerance(None):
        notes.append(
            "    the latest stored record is dated after this machine's clock: the next "
            "`lacecal sync` removes it and catches up from the last believable one"
        )
    return notes


def _orphan_note(o: dict[str, Any]) -> str:
    return (
        f"    no live worker has its identifier (refused by {', '.join(o['refused_by'])}): "
        "restart one of them with its identifier, or start a worker that has it"
    )


def _table(objects: list[dict[str, Any]], *, fleet: bool = False) -> str:
    """Return the table; `fleet`: a store with leases, whose holders get a column of their own."""
    columns = (*_COLUMNS, _LEASE) if fleet else _COLUMNS
    lines = [
        (
            o["plant"],
            o["endpoint"] or "-",
            o["first"] or "-",
            o["latest"] or "-",
            format_lag(o["lag_s"]),
            "-"
            if o["endpoint"] == "inverter_list"
            else f"{o['holes']} ({o['missing_periods']} periods)",
            str(o["failures"]),
            when(o["next_poll"]),
            *((o["lease_holder"] or "free",) if fleet else ()),
        )
        for o in objects
    ]
    widths = [max([len(c), *(len(line[i]) for line in lines)]) for i, c in enumerate(columns)]
    out = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    noted: set[str] = set()
    for line, o in zip(lines, objects, strict=True):
        out.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if o["orphaned"] and o["plant"] not in noted:  # once per plant, under its first row
            noted.add(o["plant"])
            out.append(_orphan_note(o))
        if o["last_error"]:
            out.append(f"    last error at {when(o['last_error_at'])}: {o['last_error']}")
        out.extend(_fault_notes(o))
    if not objects:
        out.append("(no plants yet: `lacecal sync` adds them)")
    return "\n".join(printable(line) for line in out) + "\n"


def _thresholds(args: argparse.Namespace) -> Thresholds:
    max_lag = None if args.max_lag is None else parse_duration(args.max_lag)
    warn_lag = None if args.warn_lag is None else parse_duration(args.warn_lag)
    if args.max_failures < 1:
        raise UsageError("--max-failures is at least 1")
    return Thresholds(max_lag=max_lag, warn_lag=warn_lag, max_failures=args.max_failures)


def judged(objects: list[dict[str, Any]], limits: Thresholds) -> int:
    """Add each object's ``verdict`` and ``problems``; return the worst verdict's exit status."""
    statuses = []
    for o in objects:
        status, problems = judge(o, limits)
        o["verdict"] = VERDICTS[status]
        o["problems"] = problems
        statuses.append(status)
    return worst(statuses)


def verdict_line(objects: list[dict[str, Any]], status: int) -> str:
    """Return the table's last line: the verdict and what it rests on."""
    if not objects:
        return "UNKNOWN: no plants in the database"
    bad = [o for o in objects if o["problems"]]
    if not bad:
        return f"OK: {len(objects)} plant endpoints in order"
    shown = "; ".join(
        f"{o['plant']} {o['endpoint'] or '-'}: {', '.join(o['problems'])}" for o in bad[:5]
    )
    more = f"; and {len(bad) - 5} more" if len(bad) > 5 else ""
    return f"{VERDICTS[status].upper()}: {shown}{more}"


def run(args: argparse.Namespace) -> int:
    """Print the status table (or JSON); exit with the health verdict (3: no readable store)."""
    db: str = check_db(args.db)
    limits = _thresholds(args)
    if not is_dsn(db) and not Path(db).is_file():
        print(f"lacecal: error: no database at {printable(db)}", file=sys.stderr)
        return UNKNOWN

    async def read() -> tuple[list[StatusRow], bool]:
        async with make_store(db, create=False) as store:
            return await store.status(), is_dsn(db)  # a PostgreSQL store: a fleet's

    try:
        rows, fleet = asyncio.run(read())
    except (LacecalError, OSError, ValueError) as exc:  # asyncpg: ValueError for a bad DSN
        message = store_error(db, exc) if is_dsn(db) else printable(str(exc))
        print(f"lacecal: error: {message}", file=sys.stderr)
        return UNKNOWN
    objects = status_objects(rows, time.time())
    status = judged(objects, limits)
    if args.json:
        sys.stdout.write(json.dumps(objects, indent=1) + "\n")
    else:
        sys.stdout.write(_table(objects, fleet=fleet))
        sys.stdout.write(printable(verdict_line(objects, status)) + "\n")
    return status


STATUS_EPILOG = """\
Exit status, as monitoring plugins (Nagios, Icinga, Sensu) read it; the worst plant wins:
  0 OK        every plant's endpoint is in order
  1 WARNING   a plant failed fewer than --max-failures times in a row; refused a record
              dated after the clock (a logger's clock fault), removed stored ones, or
              holds one (a store an older version wrote); its
              inverter list fails; it lags more than --warn-lag; with a lag limit: it has
              no stored record yet
  2 CRITICAL  a plant lags more than --max-lag, failed --max-failures times in a row, or
              no live worker of a fleet has its identifier
  3 UNKNOWN   the database is missing or unreadable, or lists no plant
The lag is now minus the start of the newest stored record: a healthy plant lags one to
two of its periods. Holes are shown, never judged; they count periods missing between
stored records, not the time between --start and a plant's first record (the server has
nothing there). --json adds each row's "verdict" (ok, warning, critical) and "problems".
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``status`` to the command."""
    parser = subparsers.add_parser(
        "status",
        allow_abbrev=False,
        help="show where each plant stands in a `lacecal sync` database",
        description="Per plant and endpoint: first and latest stored record (UTC), lag "
        "behind now, holes, consecutive failures and the last error, next poll; a record "
        "ignored for being dated after the clock; failed refreshes of the inverter list "
        "(endpoint inverter_list). On a fleet's "
        "PostgreSQL database also the worker holding each plant's lease (or free), and a "
        "warning for a plant every live worker refused for want of its identifier.",
        epilog=STATUS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_store_argument(parser)
    parser.add_argument(
        "--json", action="store_true", help="the same as JSON, each row with its verdict"
    )
    health = parser.add_argument_group("health (the exit status)")
    health.add_argument(
        "--max-lag",
        metavar="DURATION",
        default=None,
        help="critical when a plant's newest record is older than this (e.g. 1h)",
    )
    health.add_argument(
        "--warn-lag",
        metavar="DURATION",
        default=None,
        help="warning when a plant's newest record is older than this (e.g. 30m)",
    )
    health.add_argument(
        "--max-failures",
        type=int,
        default=3,
        metavar="N",
        help="critical after N failures in a row, warning before (default 3)",
    )
    parser.set_defaults(func=run)
