"""The pure rules behind the retries (`_protocol`): what is retried, how long a 429 asks to
wait (``Retry-After``), and the jittered backoff between attempts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from lacecal_async import (
    InvalidITRError,
    LacecalConnectionError,
    LacecalParseError,
    LacecalRateLimitError,
    LacecalResponseError,
)
from lacecal_async._protocol import backoff_delay, is_retryable, parse_retry_after


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    earlier = format_datetime(now - timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(None) is None
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0.25 ") == 0.25
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("nan") is None
    assert parse_retry_after("inf") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after(later, now=now) == 90.0
    assert parse_retry_after(earlier, now=now) == 0.0
    assert parse_retry_after("Wed, 01 Jan 2026 12:00:00 -0000", now=now) is None  # no zone
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    delay = parse_retry_after(in_a_minute)
    assert delay is not None
    assert 0 < delay <= 60


def test_backoff_is_jittered_doubling_and_capped() -> None:
    rng = random.Random(1)
    for attempt in range(8):
        cap = min(60.0, 5.0 * 2**attempt)
        draws = [backoff_delay(attempt, 60.0, 6, rng) for _ in range(200)]
        assert all(cap / 2 <= d <= cap for d in draws)
        assert len(set(draws)) > 100  # jittered, so ITRs do not retry in step


def test_what_is_retryable() -> None:
    assert is_retryable(LacecalConnectionError("x"))
    assert is_retryable(LacecalRateLimitError("x", retry_after=None))
    assert is_retryable(LacecalResponseError("x", status=500))
    assert is_retryable(LacecalResponseError("x", status=599))
    assert not is_retryable(LacecalResponseError("x", status=404))
    assert not is_retryable(LacecalResponseError("x", status=302))
    assert not is_retryable(LacecalParseError("x", endpoint="meter"))
    assert not is_retryable(InvalidITRError("x"))
