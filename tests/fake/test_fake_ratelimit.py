"""The per-ITR sliding-window limit, over real HTTP with a limit scaled to half a second."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from lacecal_async.testing import FakeLacecalServer, Faults, format_retry_after, make_plants
from lacecal_async.testing.ratelimit import SlidingWindow

PLANTS = make_plants(2, seed=3)
A, B = (p.itr for p in PLANTS)
#: The window over HTTP: a minute, so that no machine is slow enough to let a burst of
#: requests spill out of it. What happens once a window is over is tested on the
#: `SlidingWindow` itself, with explicit times.
PERIOD = 60.0


@pytest.fixture
async def server() -> AsyncIterator[FakeLacecalServer]:
    async with FakeLacecalServer(PLANTS, rate_limit=(6, PERIOD)) as fake:
        yield fake


async def status_of(
    session: aiohttp.ClientSession, server: FakeLacecalServer, itr: str
) -> tuple[int, str | None]:
    async with session.get(
        server.base_url + "meter.php", params={"out": "json", "id": itr}
    ) as response:
        await response.read()
        return response.status, response.headers.get("Retry-After")


async def test_burst_admits_exactly_n_then_429_with_retry_after(
    server: FakeLacecalServer,
) -> None:
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        burst = [await status_of(session, server, A) for _ in range(6)]
        assert burst == [(200, None)] * 6
        status, retry_after = await status_of(session, server, A)
        elapsed = time.monotonic() - started
        assert status == 429
        assert retry_after is not None
        wait = float(retry_after)
        first_arrival = server.stats(A).log[0].time
        rejected_arrival = server.stats(A).log[-1].time
        exact = first_arrival + PERIOD - rejected_arrival
        assert exact <= wait <= exact + 0.001 + 1e-9
        assert 0 < wait <= PERIOD
        assert wait >= PERIOD - elapsed - 0.001
        # Another ITR has its own budget.
        assert (await status_of(session, server, B))[0] == 200
        # Rejected requests are counted, and logged, as such.
        assert (await status_of(session, server, A))[0] == 429
        stats = server.stats(A)
        assert (stats.requests, stats.rejections) == (8, 2)
        assert [e.status for e in stats.log] == [200] * 6 + [429, 429]


def test_a_request_that_waits_its_retry_after_is_admitted() -> None:
    window = SlidingWindow(6, 0.5)
    for i in range(6):
        assert window.admit(i / 64) is None
    rejected = 0.25
    wait = window.admit(rejected)
    assert wait is not None
    assert wait == pytest.approx(0.5 - rejected)
    hint = float(format_retry_after(wait))  # rounded up to the millisecond: never too early
    assert window.admit(rejected + hint - 0.001) is not None  # a millisecond early: not yet
    assert window.admit(rejected + hint) is None


def test_rejections_do_not_occupy_the_window() -> None:
    window = SlidingWindow(6, 0.5)
    for i in range(6):
        assert window.admit(i / 64) is None
    for i in range(5):
        assert window.admit(0.125 + i / 16) is not None
    # All six admissions left the window; the rejected ones never entered it.
    later = 0.5 + 6 / 64
    assert [window.admit(later + i / 1024) is None for i in range(7)] == [True] * 6 + [False]


async def test_retry_after_override_and_unlimited() -> None:
    async with FakeLacecalServer(PLANTS, rate_limit=(1, 60.0)) as fake:
        fake.set_faults(A, Faults(retry_after=7.5))
        assert fake.faults(A).retry_after == 7.5
        async with aiohttp.ClientSession() as session:
            assert (await status_of(session, fake, A))[0] == 200
            assert await status_of(session, fake, A) == (429, "7.5")
            assert await status_of(session, fake, B) == (200, None)
            status, retry_after = await status_of(session, fake, B)
            assert status == 429
            assert retry_after is not None
            assert 59 < float(retry_after) <= 60
    async with FakeLacecalServer(PLANTS, rate_limit=None) as fake:
        async with aiohttp.ClientSession() as session:
            statuses = [(await status_of(session, fake, A))[0] for _ in range(20)]
        assert statuses == [200] * 20


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (60, "60"),
        (59.0000001, "59.001"),
        (0.5, "0.5"),
        (0.4991, "0.5"),
        (0.12345, "0.124"),
        (1.25, "1.25"),
        (0.0, "0"),
        (-0.1, "0"),
        (2.0009999, "2.001"),
    ],
)
def test_format_retry_after(seconds: float, text: str) -> None:
    assert format_retry_after(seconds) == text


def test_sliding_window_edges() -> None:
    window = SlidingWindow(2, 10.0)
    assert window.admit(0.0) is None
    assert window.admit(4.0) is None
    assert window.admit(9.0) == pytest.approx(1.0)
    assert window.admit(10.0) is None  # the arrival at 0.0 left the window exactly now
    assert window.admit(13.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="rate limit"):
        SlidingWindow(0, 1.0)
    with pytest.raises(ValueError, match="rate limit"):
        SlidingWindow(1, 0.0)
