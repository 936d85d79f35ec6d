"""The lease gate's arithmetic on an injected clock: when a plant's requests may still leave."""

from __future__ import annotations

import pytest

from lacecal_async.sync import LeaseDeadlineError, LeaseGate, LeaseLostError, StoreError
from lacecal_async.sync.lease_gate import LEASE_MARGIN


class Clock:
    """A clock that moves only when told."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_plant_passes_until_its_deadline_less_the_margin() -> None:
    clock = Clock()
    gate = LeaseGate(30.0, clock=clock)
    assert gate.margin == 30.0 * LEASE_MARGIN == 3.0
    gate.hold(["a", "b"], renewed_at=clock.now)  # the round started now: deadline now + 30
    passes = gate.gate("a")
    assert passes() == pytest.approx(27.0)  # how long the request may take to leave
    clock.now += 26.5
    assert passes() == pytest.approx(0.5)
    clock.now += 0.5  # the deadline less the margin: refused from here on
    with pytest.raises(LeaseDeadlineError, match=r"plant a: .*deadline is only 3 s ahead"):
        passes()
    clock.now += 10
    with pytest.raises(LeaseDeadlineError, match=r"passed 7 s ago; margin 3 s"):
        gate.left("b")


def test_the_deadline_counts_from_the_rounds_start_not_its_reply() -> None:
    clock = Clock()
    gate = LeaseGate(10.0, clock=clock, margin=1.0)
    sent = clock.now
    clock.now += 8.5  # a slow round trip: its reply comes 8.5 s after it was sent
    gate.hold(["a"], renewed_at=sent)
    assert gate.left("a") == pytest.approx(0.5)
    clock.now += 0.5
    with pytest.raises(LeaseDeadlineError):
        gate.left("a")


def test_each_round_replaces_what_is_held() -> None:
    clock = Clock()
    gate = LeaseGate(10.0, clock=clock)
    gate.hold(["a", "b"], renewed_at=clock.now)
    clock.now += 5
    gate.hold(["b", "c"], renewed_at=clock.now)  # a lost: refused at once, whatever the time
    with pytest.raises(LeaseDeadlineError, match="holds no lease"):
        gate.left("a")
    assert gate.left("b") == gate.left("c") == pytest.approx(9.0)
    gate.drop(["b"])  # given back
    with pytest.raises(LeaseDeadlineError):
        gate.left("b")
    assert gate.left("c") == pytest.approx(9.0)
    gate.drop()  # a failed round, or the way out
    with pytest.raises(LeaseDeadlineError):
        gate.left("c")


def test_a_refusal_is_a_lost_lease_to_whoever_catches_those() -> None:
    gate = LeaseGate(1.0, clock=Clock())
    with pytest.raises(LeaseLostError) as caught:
        gate.left("a")
    assert isinstance(caught.value, StoreError)


@pytest.mark.parametrize(("ttl", "margin"), [(0.0, 0.0), (-1.0, 0.0), (1.0, 1.0), (1.0, -0.1)])
def test_a_ttl_and_margin_that_could_never_pass_are_refused(ttl: float, margin: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        LeaseGate(ttl, margin=margin)
