"""Fuzz: a hostile server on loopback, driven by Hypothesis, against every public call.

The server answers with any status from 100 to 599, a reason phrase with control
characters or an echo, contradictory Content-Type, Content-Encoding, Content-Length and
Retry-After headers, and bodies that are valid pages, garbage, or echo the identifier in
the forms a server might use. Whatever it sends, each call returns records or raises a
`LacecalError` within its timeout, and no exception, result or log record shows 8
consecutive characters of the identifier.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import urllib.parse
import zlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lacecal_async import LacecalClient, LacecalError
from lacecal_async.fanout import FetchResult
from lacecal_async.testing import make_plants, wire
from tests.support.checks import exception_chain, fragment_of
from tests.support.echoes import FORMS, ITRS, RECORD_HEAD, XML_HEAD, echoes
from tests.support.raw_http import http_reply, threaded_raw_server
from tests.support.scripted import INVERTER_LIST_JSON

START = 1_496_660_400
#: The client's timeout per exchange, and the bound a whole call must finish within. A call
#: makes a few exchanges at most, each ended by TIMEOUT: what the bound catches is a call
#: that never ends (a body read outside the timeout, a retry loop), so it is generous, for
#: a busy machine, and only a failing example ever waits that long.
TIMEOUT = 0.25
CALL_BOUND = 30.0
METER_PAGE = wire.encode("meter", make_plants(1)[0].meter_records(START, START + 1800), "json")

Reply = tuple[int, str, list[tuple[str, str]], bytes, bool]


@st.composite
def bodies(draw: st.DrawFn, itr: str, echo: str) -> bytes:
    kind = draw(
        st.sampled_from(
            ["valid-list", "valid-meter", "echo-number", "echo-xml", "echo-text", "bytes", "empty"]
        )
    )
    text = draw(st.sampled_from(["", "A" * 190, "A" * 260])) + echo
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "utf-32", "latin-1"]))
    if kind == "valid-list":
        return INVERTER_LIST_JSON
    if kind == "valid-meter":
        return METER_PAGE
    if kind == "echo-number":
        body = f'[{RECORD_HEAD}"Esum":"{text}","Inverters":[]}}]'
    elif kind == "echo-xml":
        body = f"{XML_HEAD}<Esum>{text}</Esum><Inverters/></InvertersRecord></InvertersRecords>"
    elif kind == "echo-text":
        body = f"<html>\x1b[2J no plant {text}</html>"
    elif kind == "bytes":
        return draw(st.binary(max_size=300))
    else:
        return b""
    return body.encode(encoding, "replace")


@st.composite
def replies(draw: st.DrawFn) -> tuple[str, Reply]:
    """An identifier and a hostile reply: (status, reason, headers, body, echo the URL)."""
    itr, echo = draw(echoes())
    status = draw(st.one_of(st.sampled_from([200, 200, 429, 500, 503, 404]), st.integers(100, 599)))
    reason = draw(st.sampled_from(["OK", "", "\x1b]0;x\x07 fine", f"bad id {echo}"]))
    body = draw(bodies(itr, echo))
    headers: list[tuple[str, str]] = [("Connection", "close")]
    encoding = draw(st.sampled_from(["", "gzip", "deflate", "br", "identity", "x-junk", "gzip"]))
    if encoding == "gzip" and draw(st.booleans()):
        body = gzip.compress(body)
    elif encoding == "deflate" and draw(st.booleans()):
        body = zlib.compress(body)
    if encoding:
        headers.append(("Content-Encoding", encoding))
    content_type = draw(
        st.sampled_from(
            [
                "application/json",
                "text/html",
                "text/xml; charset=utf-16",
                "text/plain; charset=utf-32",
                "text/html; charset=x-unknown",
                "application/json; charset=hex",
                "",
            ]
        )
    )
    if content_type:
        headers.append(("Content-Type", content_type))
    length = draw(
        st.sampled_from(["exact", "exact", "none", "short", "long", "negative", "junk", "two"])
    )
    lengths = {
        "exact": [str(len(body))],
        "none": [],
        "short": [str(max(len(body) - 3, 0))],
        "long": [str(len(body) + 50)],
        "negative": ["-1"],
        "junk": ["12abc"],
        "two": [str(len(body)), str(len(body) + 1)],
    }[length]
    headers += [("Content-Length", value) for value in lengths]
    retry_after = draw(
        st.sampled_from(
            ["", "0", "0.01", "-5", "1e999", "nan", "Wed, 21 Oct 2015 07:28:00 GMT", "x"]
        )
    )
    if retry_after:
        headers.append(("Retry-After", retry_after))
    return itr, (status, reason, headers, body, draw(st.booleans()))


class Script:
    """What the threaded server answers: the current example's reply."""

    reply: Reply = (200, "OK", [], INVERTER_LIST_JSON, False)

    def __call__(self, target: str) -> bytes:
        status, reason, headers, body, echo_target = self.reply
        if echo_target:  # the request's URL (which holds the identifier), percent-decoded too
            echoed = f" {target} {urllib.parse.unquote(target)}"
            reason += echoed
            body += echoed.encode()
            headers = [(n, v) for n, v in headers if n != "Content-Length"]
        return http_reply(status, reason, headers, body)


SCRIPT = Script()


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with threaded_raw_server(SCRIPT) as url:
        yield url


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def _call(base_url: str, itr: str, call: str) -> Any:
    async with LacecalClient(
        base_url=base_url, rate_limit=(1000, 1.0), timeout=TIMEOUT, retries=0
    ) as client:

        async def iterate() -> list[Any]:
            return [r async for r in client.iter_meter_records(itr, START, START + 1800)]

        async def stream() -> list[Any]:
            return [event async for event in client.stream_many([itr], "inverter_list")]

        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "inverters": lambda: client.inverters(itr),
            "latest": lambda: client.meter_records(itr),
            "range": lambda: client.inverter_records(itr, START, START + 1800),
            "iterate": iterate,
            "many": lambda: client.fetch_many([itr], "meter"),
            "stream": stream,
        }
        async with asyncio.timeout(CALL_BOUND):
            try:
                return await calls[call]()
            except LacecalError as exc:
                return exc


def _texts(outcome: object) -> list[str]:
    if isinstance(outcome, BaseException):
        links = exception_chain(outcome)
        return [t for link in links for t in (str(link), repr(link), repr(vars(link)))]
    if isinstance(outcome, dict):  # keyed by the caller's own identifiers: the values count
        return [t for value in outcome.values() for t in (repr(value), *_texts(value))]
    if isinstance(outcome, FetchResult) and outcome.error is not None:
        return [repr(outcome), *_texts(outcome.error)]
    return (
        [repr(outcome)]
        if isinstance(outcome, list) and outcome and hasattr(outcome[0], "itr_id")
        else []
    )


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    replies(),
    st.sampled_from(["inverters", "latest", "range", "iterate", "many", "stream"]),  # every call
)
@pytest.mark.slow
def test_every_call_returns_records_or_a_lacecal_error_and_hides_the_identifier(
    base_url: str, example: tuple[str, Reply], call: str
) -> None:
    itr, SCRIPT.reply = example
    logger = logging.getLogger("lacecal_async")
    handler, level = Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        outcome = asyncio.run(_call(base_url, itr, call))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, LacecalError)
    elif isinstance(outcome, dict):
        assert all(r.error is None or isinstance(r.error, LacecalError) for r in outcome.values())
    else:
        assert isinstance(outcome, tuple | list)
    for text in [*_texts(outcome), *handler.messages]:
        for secret in ITRS:
            assert fragment_of(text, secret) is None, text


def test_the_forms_cover_the_issue() -> None:
    assert {"raw", "json", "xml-dec", "xml-hex", "percent"} <= set(FORMS)
