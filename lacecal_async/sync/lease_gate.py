"""The lease gate: a fleet worker asks for a plant only while it can prove it holds its lease.

Fencing stops a worker that lost a lease from writing; it does not stop it from asking. A
worker stopped past its lease (SIGSTOP, a long GC pause, a frozen VM) wakes up with polls
overdue and would send them at once, for plants another worker now holds: the API counts
both workers' requests against the plant's one limit. So every request for a fleet plant
passes this gate right before it is sent (`LacecalClient.with_gate`), and the gate lets it
through only before the plant's lease deadline, less a margin, as the worker measures it.

The deadline is the start of the lease round that renewed (or took) the lease, plus the
ttl, on the worker's own clock: noted *before* the round's statement is sent, so a slow
round trip counts against the worker. The database set the lease's expiry later than that,
by its clock, so whatever the two clocks read, the lease cannot run out before the deadline
(only the rate at which they tick matters: parts per million).

The margin is `LEASE_MARGIN` of the ttl (3 s for the default 30 s). It covers what happens
between the gate and the server counting the request: the rest of the event loop's step
(on a kept-alive connection the request is written in the same step; the gate bounds
getting a new connection by the time it leaves), the network, and the clocks' rates, with
room to spare. It does not need to cover the reply: the server counts a request when it
arrives. The new holder waits a rate-limit period after taking the plant before asking, so
the old holder's last requests are out of the window by then too.

The clock counts the time a machine was suspended (``CLOCK_BOOTTIME`` on Linux), which the
event loop's monotonic clock does not: a laptop or VM that slept past its leases knows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import attrs

from lacecal_async.sync.leases import LeaseLostError

__all__ = ["LEASE_MARGIN", "LeaseDeadlineError", "LeaseGate", "lease_clock"]

#: The part of the ttl before a lease's deadline from which its plant's requests are refused.
LEASE_MARGIN = 0.1


_BOOTTIME: int | None = getattr(time, "CLOCK_BOOTTIME", None)


def lease_clock() -> float:
    """Return the worker's clock for leases [s]: monotonic, counting suspended time."""
    if _BOOTTIME is None:  # pragma: no cover - not Linux: the best clock there is
        return time.monotonic()
    return time.clock_gettime(_BOOTTIME)


class LeaseDeadlineError(LeaseLostError):
    """A request for a plant was refused before it was sent: the worker's lease may be gone.

    By the worker's own clock, the lease's deadline (the start of the round that last
    renewed it, plus the ttl), less the margin, has passed; or the worker holds no lease on
    the plant. Nothing was sent. The fleet stops the plant and takes it up again if its
    next round still holds the lease; it is no failure of the plant's.
    """


@attrs.define
class LeaseGate:
    """The lease deadline of each plant a worker holds, and the gate its requests pass.

    `ttl` [s] is the leases' ttl; `clock` the worker's clock (`lease_clock`; a test injects
    its own); `margin` [s] defaults to `LEASE_MARGIN` of the ttl.
    """

    ttl: float
    clock: Callable[[], float] = lease_clock
    margin: float = attrs.field()
    _deadlines: dict[str, float] = attrs.field(factory=dict, init=False)

    @margin.default
    def _margin(self) -> float:
        return self.ttl * LEASE_MARGIN

    def __attrs_post_init__(self) -> None:
        if not (self.ttl > 0 and 0 <= self.margin < self.ttl):
            raise ValueError(f"a ttl above 0 and a margin in [0, ttl): {self.ttl}, {self.margin}")

    def hold(self, plants: Iterable[str], renewed_at: float) -> None:
        """Note a round that started at `renewed_at` (on `clock`) holding exactly `plants`."""
        deadline = renewed_at + self.ttl
        self._deadlines = dict.fromkeys(plants, deadline)

    def drop(self, plants: Iterable[str] | None = None) -> None:
        """Forget the leases on `plants` (all, if None): their requests are refused."""
        if plants is None:
            self._deadlines.clear()
        for plant in plants or ():
            self._deadlines.pop(plant, None)

    def left(self, plant: str) -> float:
        """Return how long [s] `plant`'s requests may still leave; raise if they may not.

        `LeaseDeadlineError` once its deadline less the margin has passed, or for a plant
        whose lease the worker does not hold.
        """
        deadline = self._deadlines.get(plant)
        if deadline is None:
            raise LeaseDeadlineError(
                f"plant {plant}: this worker holds no lease on it; no request sent"
            )
        ahead = deadline - self.clock()
        if ahead <= self.margin:
            when = f"passed {-ahead:.3g} s ago" if ahead <= 0 else f"is only {ahead:.3g} s ahead"
            raise LeaseDeadlineError(
                f"plant {plant}: this worker cannot prove it still holds the lease (by its "
                f"clock the lease's deadline {when}; margin {self.margin:.3g} s): no request "
                "sent until a lease round renews it"
            )
        return ahead - self.margin

    def gate(self, plant: str) -> Callable[[], float]:
        """Return the gate of `plant`'s requests, for `LacecalClient.with_gate`."""
        return lambda: self.left(plant)
