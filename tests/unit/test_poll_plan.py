"""The one rule for when follow mode polls a plant again (`PollPlan`), and its vocabulary.

`client.watch` and `sync.follow` both ask a plant's `PollPlan`; these are its decisions on
plain numbers: after a catch-up that worked, after a clock fault, after a failure.
"""

from __future__ import annotations

import random

import pytest

from lacecal_async.endpoints import DEFAULT_INTERVAL, Endpoint, timed
from lacecal_async.itr import fingerprint
from lacecal_async.polling import (
    BACKOFF_MAX_PERIODS,
    JITTER,
    POLL_DELAY,
    POLL_SPREAD,
    Outcome,
    PollPlan,
    phase_of,
    plant_phase,
)

ITR = "A1b2C3d4E5f6G7h8"


def test_a_plants_phase_comes_from_its_identifiers_fingerprint() -> None:
    plan = PollPlan.of(ITR)
    assert plan.phase == plant_phase(ITR) == phase_of(fingerprint(ITR))
    assert 0.0 <= plan.phase < 1.0
    assert PollPlan.of("B" + ITR[1:]).phase != plan.phase


@pytest.mark.parametrize("outcome", [Outcome.CAUGHT_UP, Outcome.CLOCK_FAULT])
def test_a_plant_that_goes_on_polls_after_the_next_period_closes(outcome: Outcome) -> None:
    plan = PollPlan(0.5)
    low = POLL_DELAY + POLL_SPREAD * 0.5
    for seed in range(50):
        when = plan.next_poll(
            outcome, 1000.0, interval=600, grid=0, failures=3, rng=random.Random(seed)
        )
        assert 1200 + low * 600 <= when <= 1200 + (low + JITTER) * 600
    # The grid is any record's start: periods starting at 100 close at 1300.
    when = plan.next_poll(outcome, 1000.0, interval=600, grid=100, failures=0)
    assert 1300 + low * 600 <= when <= 1300 + (low + JITTER) * 600


def test_a_failed_plant_backs_off_in_its_own_periods() -> None:
    plan = PollPlan(0.5)
    rng = random.Random(1)
    waits = [
        plan.next_poll(Outcome.FAILED, 1000.0, interval=2, grid=0, failures=n, rng=rng) - 1000.0
        for n in (1, 2, 3, 50)
    ]
    for wait, periods in zip(waits, (1, 2, 4, BACKOFF_MAX_PERIODS), strict=True):
        assert periods * 2 <= wait <= periods * 2 * 1.25


def test_a_plant_whose_period_is_unknown_polls_on_the_default_period() -> None:
    plan = PollPlan(0.0)
    when = plan.next_poll(Outcome.FAILED, 0.0, interval=None, grid=None, failures=1)
    assert DEFAULT_INTERVAL <= when <= DEFAULT_INTERVAL * 1.25
    # Past the first period's poll (at 2% of it): the next is at 2% of the second one.
    when = plan.next_poll(Outcome.CAUGHT_UP, 100.0, interval=None, grid=None, failures=0)
    assert (
        DEFAULT_INTERVAL * (1 + POLL_DELAY) <= when <= DEFAULT_INTERVAL * (1 + POLL_DELAY + JITTER)
    )


def test_one_check_and_one_message_for_records_per_period() -> None:
    assert timed("meter") is Endpoint.METER
    assert timed(Endpoint.INVERTER) is Endpoint.INVERTER
    with pytest.raises(ValueError, match="inverter_list has no records per period"):
        timed("inverter_list")
    with pytest.raises(ValueError, match="is not a valid"):
        timed("nope")
