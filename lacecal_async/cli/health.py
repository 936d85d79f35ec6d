"""The health verdict of ``lacecal status``, in the style of monitoring plugins (Nagios, Icinga).

Each row of the status gets a verdict and the problems behind it; the command exits with
the worst one, so a check in any monitoring system can page on it:

- 0 OK: every plant's endpoint is in order.
- 1 WARNING: a plant holds a fault it survives (a record dated after the clock was
  refused, stored ones removed, or its newest stored record is dated after the clock), its
  inverter list fails, it has no stored record yet (with a lag limit), it lags more than
  ``--warn-lag``, or it failed fewer than ``--max-failures`` times in a row (it is retried
  with backoff).
- 2 CRITICAL: a plant lags more than ``--max-lag``, failed ``--max-failures`` times in a row
  (default 3, counted since its last committed page), or no live worker of a fleet has its
  identifier.
- 3 UNKNOWN: the database is missing or unreadable, or lists no plant.

Holes are shown but never judged: a plant's data may have gaps that no retry fills.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import attrs

from lacecal_async.watch import future_tolerance

__all__ = ["CRITICAL", "OK", "UNKNOWN", "VERDICTS", "WARNING", "Thresholds", "judge", "worst"]

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
Verdict = Literal["ok", "warning", "critical", "unknown"]
#: The verdict's name by exit status.
VERDICTS: tuple[Verdict, ...] = ("ok", "warning", "critical", "unknown")


@attrs.frozen
class Thresholds:
    """What ``lacecal status`` judges against: lags [s] (None: not judged), failures in a row."""

    max_lag: float | None = None
    warn_lag: float | None = None
    max_failures: int = 3


def _lag_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def judge(row: dict[str, Any], limits: Thresholds) -> tuple[int, list[str]]:
    """Return a status row's exit status and its problems (plain words, worst first)."""
    critical: list[str] = []
    warning: list[str] = []
    if row.get("orphaned"):
        critical.append("no live worker has its identifier")
    failures = row.get("failures") or 0
    if row.get("endpoint") == "inverter_list":
        if failures:
            warning.append(f"the inverter list failed {failures} times in a row")
        return (CRITICAL if critical else WARNING if warning else OK), critical + warning
    if failures:
        text = f"failed {failures} times in a row"
        (critical if failures >= limits.max_failures else warning).append(text)
    if row.get("future_record") is not None:
        warning.append(f"refused a record dated {row.get('future')} (after the clock)")
    if row.get("future_removed"):
        warning.append(f"removed {row['future_removed']} stored records dated after the clock")
    lag = row.get("lag_s")
    if lag is not None and -lag > future_tolerance(None):
        warning.append("its newest stored record is dated after the clock")
    elif lag is None:
        if limits.max_lag is not None or limits.warn_lag is not None:
            warning.append("no record stored yet")
    elif limits.max_lag is not None and lag > limits.max_lag:
        critical.append(f"lags {_lag_text(lag)} (more than {_lag_text(limits.max_lag)})")
    elif limits.warn_lag is not None and lag > limits.warn_lag:
        warning.append(f"lags {_lag_text(lag)} (more than {_lag_text(limits.warn_lag)})")
    return (CRITICAL if critical else WARNING if warning else OK), critical + warning


def worst(statuses: Iterable[int]) -> int:
    """Return the overall exit status: the worst row's (UNKNOWN when there is no row)."""
    found = list(statuses)
    return max(found) if found else UNKNOWN
