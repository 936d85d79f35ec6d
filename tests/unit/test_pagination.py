"""The pager against an in-memory model of both readings of `n` (records or periods)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lacecal_async._pagination import MAX_PAGE, Pager, PageRequest
from lacecal_async.errors import LacecalParseError


@attrs.frozen
class Rec:
    unix_time: int
    interval: int


@attrs.define
class Model:
    """A plant's data: sorted period starts; `n` counts records or periods."""

    times: list[int]
    interval: int
    counts_periods: bool = False

    def answer(self, req: PageRequest) -> list[Rec]:
        if req.t is None:
            return [Rec(self.times[-1], self.interval)] if self.times else []
        assert 1 <= req.n <= MAX_PAGE
        if self.counts_periods:
            first = math.ceil(req.t / self.interval) * self.interval
            stop = first + req.n * self.interval
            return [Rec(x, self.interval) for x in self.times if first <= x < stop]
        return [Rec(x, self.interval) for x in self.times if x >= req.t][: req.n]


def run(model: Model, start: int, end: int | None) -> tuple[list[int], int]:
    pager = Pager(start, end, "meter")
    out: list[int] = []
    while (req := pager.next_request()) is not None:
        out += [r.unix_time for r in pager.feed(req, model.answer(req))]
        assert pager.requests < 10_000
    return out, pager.requests


def expected(model: Model, start: int, end: int | None) -> list[int]:
    return [x for x in model.times if x >= start and (end is None or x < end)]


BASE = 1_700_002_800  # a multiple of 3600


@st.composite
def plants(draw: st.DrawFn) -> tuple[Model, int, int | None]:
    interval = draw(st.sampled_from([300, 600, 900, 3600]))
    periods = draw(st.integers(0, 700))
    times = [BASE + i * interval for i in range(periods)]
    for _ in range(draw(st.integers(0, 4))):  # gaps
        if not times:
            break
        a = draw(st.integers(0, len(times) - 1))
        b = draw(st.integers(a, min(len(times), a + 400)))
        del times[a:b]
    counts_periods = draw(st.booleans())
    lo = BASE - 5 * interval
    hi = BASE + (periods + 5) * interval
    start = draw(st.integers(lo, hi))
    end = draw(st.none() | st.integers(start, hi + 2000))
    return Model(times, interval, counts_periods), start, end


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(plants())
def test_never_loses_or_repeats_records(case: tuple[Model, int, int | None]) -> None:
    model, start, end = case
    got, _ = run(model, start, end)
    assert got == expected(model, start, end)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(plants())
def test_request_count_bound(case: tuple[Model, int, int | None]) -> None:
    model, start, end = case
    last = model.times[-1] if model.times else None
    got, requests = run(model, start, end)
    # A bounded range with no data at or after its end may cost a lookup of the latest
    # record: only that can tell the end of the data from a gap. An open end always costs it.
    trailing = 0 if end is None or any(x >= end for x in model.times) else 1
    if model.counts_periods:
        stop = end if end is not None else (last + 1 if last is not None else start)
        first = math.ceil(start / model.interval) * model.interval
        periods = max(0, math.ceil((min(stop, (last or 0) + 1) - first) / model.interval))
        assert requests <= math.ceil(periods / MAX_PAGE) + 2 + trailing
    else:
        assert requests <= math.ceil(len(got) / MAX_PAGE) + 1 + trailing


def test_gapless_backfill_makes_exactly_the_minimum_requests() -> None:
    model = Model([BASE + i * 600 for i in range(2000)], 600)
    end = BASE + 10 * 144 * 600  # ten full days, data beyond
    got, requests = run(model, BASE, end)
    assert len(got) == 1440
    assert requests == 10


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([300, 600, 900, 3600]),
    st.integers(1, 700),
    st.integers(0, 5),
    st.booleans(),
    st.tuples(st.floats(0, 1, exclude_max=True), st.floats(0, 1, exclude_max=True)),
)
@pytest.mark.slow
def test_a_gapless_range_before_the_latest_costs_its_pages_exactly(
    interval: int, periods: int, beyond: int, counts_periods: bool, offsets: tuple[float, float]
) -> None:
    # start anywhere in the period before the first record, end anywhere in the last one
    early, late = offsets
    start = BASE - int(early * interval)
    end = BASE + (periods - 1) * interval + 1 + int(late * (interval - 1))
    model = Model([BASE + i * interval for i in range(periods + beyond + 1)], interval)
    model.counts_periods = counts_periods
    got, requests = run(model, start, end)
    assert len(got) == periods
    assert requests == math.ceil(periods / MAX_PAGE)


@pytest.mark.parametrize("periods", [1, 2, 144, 145, 146, 289, 300])
def test_an_open_end_hands_out_the_looked_up_latest_record(periods: int) -> None:
    times = [BASE + i * 600 for i in range(periods)]
    model = Model(times, 600)
    pager = Pager(BASE, None, "meter")
    assert pager.next_request() == PageRequest(t=None, n=1)
    got, requests = run(model, BASE, None)
    assert got == times
    assert requests == 1 + math.ceil((periods - 1) / MAX_PAGE)


def test_a_range_ending_in_the_future_needs_no_lookup() -> None:
    times = [BASE + i * 600 for i in range(100)]
    for counts_periods in (False, True):
        model = Model(times, 600, counts_periods)
        got, requests = run(model, BASE, BASE + 130 * 600)
        assert got == times
        assert requests == 1


def test_expected_pages_once_the_period_is_known() -> None:
    pager = Pager(BASE, BASE + 300 * 300, "meter")
    assert pager.expected_pages() is None
    req = pager.next_request()
    assert req is not None
    pager.feed(req, [Rec(BASE + i * 300, 300) for i in range(req.n)])
    assert pager.expected_pages() == 3
    assert Pager(BASE, None, "meter").expected_pages() is None


def test_first_page_asks_for_the_range_in_the_shortest_periods() -> None:
    pager = Pager(BASE, BASE + 3 * 600, "meter")
    assert pager.next_request() == PageRequest(t=BASE, n=6)  # the interval is not known yet


def test_a_bounded_range_starts_with_a_page_not_a_lookup() -> None:
    pager = Pager(BASE, BASE + 3, "meter")
    assert pager.next_request() == PageRequest(t=BASE, n=1)


def test_empty_range_makes_no_request() -> None:
    assert Pager(BASE, BASE, "meter").next_request() is None


def test_periods_mode_gap_longer_than_a_window_is_crossed() -> None:
    times = [BASE + i * 600 for i in range(10)] + [BASE + (1000 + i) * 600 for i in range(10)]
    model = Model(times, 600, counts_periods=True)
    got, requests = run(model, BASE, None)
    assert got == times
    periods = 1010
    assert requests <= math.ceil(periods / MAX_PAGE) + 2


def test_learns_a_300_second_interval() -> None:
    model = Model([BASE + i * 300 for i in range(400)], 300)
    pager = Pager(BASE, BASE + 400 * 300, "meter")
    first = pager.next_request()
    assert first == PageRequest(t=BASE, n=144)  # 600 s assumed: 200 periods left, capped
    assert first is not None
    pager.feed(first, model.answer(first))
    assert pager.interval == 300
    second = pager.next_request()
    assert second == PageRequest(t=BASE + 143 * 300 + 1, n=144)


def _feed(pager: Pager, times: Sequence[int]) -> None:
    req = pager.next_request()
    assert req is not None
    pager.feed(req, [Rec(x, 600) for x in times])


def test_server_going_backwards_is_a_parse_error() -> None:
    pager = Pager(BASE, BASE + 1000 * 600, "meter")
    _feed(pager, [BASE + i * 600 for i in range(144)])
    with pytest.raises(LacecalParseError, match="did not advance"):
        _feed(pager, [BASE + 143 * 600, BASE + 144 * 600])


def test_records_before_t_are_a_parse_error() -> None:
    pager = Pager(BASE, BASE + 1000 * 600, "meter")
    with pytest.raises(LacecalParseError, match=r"\$\[0\]\.unix_time"):
        _feed(pager, [BASE - 600])


def test_unsorted_page_is_a_parse_error() -> None:
    pager = Pager(BASE, BASE + 1000 * 600, "meter")
    with pytest.raises(LacecalParseError):
        _feed(pager, [BASE + 600, BASE])


def test_feed_rejects_a_request_it_did_not_plan() -> None:
    pager = Pager(BASE, BASE + 1000 * 600, "meter")
    with pytest.raises(ValueError, match="feed"):
        pager.feed(PageRequest(t=BASE + 5, n=3), [])
