"""When follow mode asks a plant again (pure: no I/O, no clock of its own).

A plant's records close at the end of each integration period, so once caught up it is
asked once per period, shortly after a period closes. Each plant waits a fixed fraction of
its period after the close, derived from its identifier's fingerprint (so a fleet's polls
spread over the period instead of landing in the same second), plus a little random jitter.
Every delay and backoff is counted in the plant's own periods, so a test with 2-second
periods runs the same schedule 300 times faster than 10-minute ones.

`PollPlan` is that decision for one plant, and the only one: `client.watch` (one task per
plant) and `sync.follow` (heap entries worked by a task pool) both catch up with
`catch_up`, then ask their plant's plan when to poll next.
"""

from __future__ import annotations

import enum
import hashlib
import math
import random

import attrs

from lacecal_async.endpoints import DEFAULT_INTERVAL
from lacecal_async.itr import fingerprint

__all__ = [
    "BACKOFF_MAX_PERIODS",
    "JITTER",
    "POLL_DELAY",
    "POLL_SPREAD",
    "Outcome",
    "PollPlan",
    "backoff",
    "next_poll",
    "phase_of",
    "plant_phase",
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


def plant_phase(itr: str) -> float:
    """Return the phase of the plant with identifier `itr`: from its fingerprint.

    Never from an alias: renaming a plant does not move its polls, and a plant polls at the
    same phase whichever loop follows it (`client.watch` or `sync.follow`).
    """
    return phase_of(fingerprint(itr))


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


class Outcome(enum.Enum):
    """How a plant's catch-up went, which decides when it is asked next."""

    #: Up to date: the next poll comes after the next period closes.
    CAUGHT_UP = "caught up"
    #: A record dated after the clock was refused, the ones before it kept: the plant goes
    #: on, so it keeps its schedule (the failure is counted and reported all the same).
    CLOCK_FAULT = "clock fault"
    #: Failed: it backs off, 1, 2, 4 ... of its periods (`backoff`).
    FAILED = "failed"


@attrs.frozen
class PollPlan:
    """One plant's poll schedule: its phase, and the rule that gives its next poll."""

    phase: float

    @classmethod
    def of(cls, itr: str) -> PollPlan:
        """Return the plan of the plant with identifier `itr` (`plant_phase`)."""
        return cls(plant_phase(itr))

    def next_poll(
        self,
        outcome: Outcome,
        now: float,
        *,
        interval: int | None,
        grid: int | None,
        failures: int,
        rng: random.Random | None = None,
    ) -> float:
        """Return when to ask the plant again after a catch-up that ended with `outcome`.

        interval: the plant's period [s] (None: not known yet, `DEFAULT_INTERVAL`).
        grid: any record's start, on which its periods lie (None: none known, 0).
        failures: its failures in a row, this one included (0 after a success).
        """
        period = interval or DEFAULT_INTERVAL
        if outcome is Outcome.FAILED:
            return now + backoff(failures, period, rng=rng)
        return next_poll(now, period, grid=grid or 0, phase=self.phase, rng=rng)
