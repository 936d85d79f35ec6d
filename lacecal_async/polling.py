"""When follow mode asks a plant again (pure: no I/O, no clock of its own).

A plant's records close at the end of each integration period, so once caught up it is
asked once per period, shortly after a period closes. Each plant waits a fixed fraction of
its period after the close, derived from its fingerprint (so a fleet's polls spread over
the period instead of landing in the same second), plus a little random jitter. Every delay
and backoff is counted in the plant's own periods, so a test with 2-second periods runs the
same schedule 300 times faster than 10-minute ones.
"""

from __future__ import annotations

import hashlib
import math
import random

__all__ = [
    "BACKOFF_MAX_PERIODS",
    "JITTER",
    "POLL_DELAY",
    "POLL_SPREAD",
    "backoff",
    "next_poll",
    "phase_of",
]

#: A poll comes at least this fraction of a period after the period closes.
POLL_DELAY = 0.02
#: Plants' phases spread their polls over this fraction of the period after that.
POLL_SPREAD = 0.3
#: Random jitter added to each poll, as a fraction of the period.
JITTER = 0.03
#: The longest wait after repeated failures [periods].
BACKOFF_MAX_PERIODS = 32


def phase_of(key: str) -> float:
    """Return the plant's fixed phase in [0, 1), from its key (a fingerprint or an alias)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def poll_offset(phase: float, jitter: float) -> float:
    """Return how far after a period's close the plant polls, as a fraction of the period."""
    return POLL_DELAY + POLL_SPREAD * phase + JITTER * jitter


def next_poll(
    now: float,
    interval: int,
    *,
    grid: int = 0,
    phase: float = 0.0,
    rng: random.Random | None = None,
) -> float:
    """Return the first poll instant after `now`: a period's close plus the plant's offset.

    Periods start at `grid` (any record's start) plus a multiple of `interval` [s].
    """
    # The period is chosen without the jitter, so two polls never share a period.
    base = poll_offset(phase, 0.0) * interval
    k = math.floor((now - base - grid) / interval) + 1
    jitter: float = (rng or random).random()
    return grid + k * interval + poll_offset(phase, jitter) * interval


def backoff(failures: int, interval: int, *, rng: random.Random | None = None) -> float:
    """Return the wait [s] after `failures` failures in a row: 1, 2, 4, ... periods, capped.

    Up to a quarter more at random, so plants that failed together retry apart.
    """
    periods = min(1 << min(max(failures - 1, 0), 10), BACKOFF_MAX_PERIODS)
    spread: float = (rng or random).random()
    return periods * interval * (1.0 + 0.25 * spread)
