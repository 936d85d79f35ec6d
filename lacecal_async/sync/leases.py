"""Leases: the arithmetic and values a store's lease operations share with the fleet.

A store that workers share (`PostgresStore`) leases each plant to one worker at a time; its
`balance_leases` gives each live worker its `fair_share`, and asks one over it by more than
a slack to give back its `surplus`, in a `LeaseBalance`. A write fenced by a lease that is
gone raises `LeaseLostError`. The fleet that uses them (its loop, protocols, fencing
wrapper) is `lacecal_async.sync.fleet`; this module sits below the stores, which import it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs

from lacecal_async.sync.store import StoreError

__all__ = [
    "DEFAULT_SLACK",
    "LeaseBalance",
    "LeaseLostError",
    "fair_share",
    "surplus",
]

#: A worker gives plants back only when it holds more than its share by this fraction.
DEFAULT_SLACK = 0.1


def fair_share(plants: int, workers: int) -> int:
    """Return the plants each of `workers` live workers should hold: a ceiling division."""
    if plants < 0 or workers < 0:
        raise ValueError("plants and workers are counts: not negative")
    return math.ceil(plants / max(workers, 1))


def surplus(held: int, share: int, slack: float = DEFAULT_SLACK) -> int:
    """Return how many plants to give back: down to `share`, once over it by `slack`.

    The hysteresis keeps workers from trading plants back and forth over a rounding; a
    worker that gives back goes down to its share so that a newcomer gets a full one.
    """
    if slack < 0:
        raise ValueError(f"slack is a fraction of the share, not negative: {slack}")
    return held - share if held > share + int(share * slack) else 0


@attrs.frozen
class LeaseBalance:
    """What one round of a store's `balance_leases` left a worker with.

    held: the plants leased to the worker now (renewed, plus those just taken), sorted.
    taken: those of `held` it did not hold before this round.
    share: its fair share; workers: the live workers it was computed with (itself included).
    surplus: how many of `held` to stop and release (0 unless over the share plus slack).
    adopted: those of `held` taken beyond the share because another worker lacked their
    identifiers: never given back to balance (and not counted in `surplus`).
    idle: for each plant of `taken` that a worker held before, the seconds since that
    holder let go of it (released it, or its lease expired), by the database's clock; a
    plant no worker ever held is not in it. The taker waits out only the rest of the
    hand-over (`lacecal_async.sync.fleet`).
    """

    held: tuple[str, ...]
    taken: tuple[str, ...]
    share: int
    workers: int
    surplus: int
    adopted: tuple[str, ...] = ()
    idle: Mapping[str, float] = attrs.field(factory=dict, hash=False)


class LeaseLostError(StoreError):
    """A fenced write came from a worker that no longer holds the plant's lease."""
