"""The exception tree and what each error carries."""

from __future__ import annotations

import pytest

from lacecal_async import (
    InvalidITRError,
    LacecalConnectionError,
    LacecalError,
    LacecalParseError,
    LacecalRateLimitError,
    LacecalResponseError,
)
from lacecal_async.errors import BODY_EXCERPT_BYTES


@pytest.mark.parametrize(
    ("cls", "bases"),
    [
        (InvalidITRError, (LacecalError, ValueError)),
        (LacecalParseError, (LacecalError,)),
        (LacecalResponseError, (LacecalError,)),
        (LacecalRateLimitError, (LacecalResponseError, LacecalError)),
        (LacecalConnectionError, (LacecalError,)),
    ],
)
def test_hierarchy(cls: type[Exception], bases: tuple[type[Exception], ...]) -> None:
    for base in bases:
        assert issubclass(cls, base)
    assert issubclass(cls, Exception)


def test_parse_error_is_not_a_value_error() -> None:
    # callers catching ValueError for programming errors must not swallow bad replies
    assert not issubclass(LacecalParseError, ValueError)
    assert not issubclass(LacecalResponseError, LacecalParseError)


def test_parse_error_attributes_and_message() -> None:
    body = b"x" * 250
    error = LacecalParseError("bad", endpoint="meter", body=body, path="$[3].GRID_meter")
    assert (error.reason, error.endpoint, error.path) == ("bad", "meter", "$[3].GRID_meter")
    assert error.excerpt == body[:BODY_EXCERPT_BYTES].decode()  # text, not bytes
    assert len(error.excerpt) == 200
    assert str(error) == f"meter: bad at $[3].GRID_meter; body starts {error.excerpt!r}..."


def test_parse_error_of_a_short_or_empty_body() -> None:
    short = LacecalParseError("bad", endpoint="inverter", body=b"<html/>")
    assert str(short) == "inverter: bad; body starts '<html/>'"
    assert short.path is None
    empty = LacecalParseError("no records", endpoint="inverter_list")
    assert str(empty) == "inverter_list: no records; empty body"
    assert empty.excerpt == ""


def test_response_and_rate_limit_errors_carry_status_and_hint() -> None:
    error = LacecalResponseError("HTTP 503", status=503)
    assert (str(error), error.status) == ("HTTP 503", 503)
    limited = LacecalRateLimitError("slow down", retry_after=12.5)
    assert (limited.status, limited.retry_after) == (429, 12.5)
    assert LacecalRateLimitError("x", retry_after=None, status=503).status == 503


def test_a_parse_error_reason_is_kept_short() -> None:
    error = LacecalParseError("bad value " + "x" * 10_000_000, endpoint="meter", body=b"[]")
    assert len(error.reason) < 400
    assert len(str(error)) < 1000
