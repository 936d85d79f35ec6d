"""LacecalClient failures: what is retried, the typed error when retries run out, timeouts,
odd bodies, and the ITR kept out of every exception and log record.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket

import pytest

from lacecal_async import (
    InvalidITRError,
    LacecalConnectionError,
    LacecalError,
    LacecalParseError,
    LacecalRateLimitError,
    LacecalResponseError,
    RequestDone,
)
from lacecal_async.client import LacecalClient
from lacecal_async.itr import redact
from lacecal_async.testing import FakeLacecalServer, Faults, Plant
from tests.support.checks import (
    assert_logs_redacted,
    assert_secret_absent,
    exception_chain,
    wait_until,
)
from tests.support.fixtures import ClientFactory, ServerFactory
from tests.support.scripted import INVERTER_LIST_JSON, STALL, ScriptFactory

DAY = 86_400
#: A reply that never comes while a test runs (the server closes before it would) [s].
NEVER = 3600.0


def statuses(server: FakeLacecalServer, itr: str) -> list[int]:
    return [entry.status for entry in server.stats(itr).log]


# -- what is retried ------------------------------------------------------------------------


async def test_5xx_is_retried_until_it_succeeds(
    server: FakeLacecalServer, make_client: ClientFactory, plant: Plant
) -> None:
    server.set_faults(plant.itr, Faults(fail_first=2, fail_status=502))
    client = make_client(server.base_url, retries=2)
    start = plant.first + DAY
    records = await client.meter_records(plant.itr, start, start + 3600)
    assert records == tuple(plant.meter_records(start, start + 3600))
    assert statuses(server, plant.itr) == [502, 502, 200]


async def test_5xx_after_the_retries_is_a_response_error(
    server: FakeLacecalServer, make_client: ClientFactory, plant: Plant
) -> None:
    server.set_faults(plant.itr, Faults(always_fail=True))
    client = make_client(server.base_url, retries=2)
    with pytest.raises(LacecalResponseError) as info:
        await client.inverters(plant.itr)
    assert type(info.value) is LacecalResponseError
    assert info.value.status == 503
    assert "HTTP 503" in str(info.value)
    assert statuses(server, plant.itr) == [503, 503, 503]
    assert_secret_absent(info.value, plant.itr)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
async def test_other_4xx_are_not_retried(
    server: FakeLacecalServer, make_client: ClientFactory, plant: Plant, status: int
) -> None:
    server.set_faults(plant.itr, Faults(always_fail=True, fail_status=status))
    client = make_client(server.base_url, retries=3)
    with pytest.raises(LacecalResponseError) as info:
        await client.meter_records(plant.itr)
    assert info.value.status == status
    assert server.stats(plant.itr).requests == 1
    assert_secret_absent(info.value, plant.itr)


async def test_unknown_itr_is_a_404_response_error(
    server: FakeLacecalServer, client: LacecalClient
) -> None:
    unknown = "Unknown0Plant123"
    with pytest.raises(LacecalResponseError) as info:
        await client.inverters(unknown)
    assert info.value.status == 404
    assert redact(unknown) in str(info.value)
    assert_secret_absent(info.value, unknown)


async def test_429_after_the_retries_is_a_rate_limit_error(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant
) -> None:
    server = await make_server([plant], rate_limit=(1, 10.0))
    client = make_client(server.base_url, rate_limit=(6, 0.6), retries=0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await client.inverters(plant.itr)
    with pytest.raises(LacecalRateLimitError) as info:
        await client.inverters(plant.itr)
    took = loop.time() - began
    assert info.value.status == 429
    # The window reopens 10 s after the first request arrived: what is left of that when
    # the second arrived (both within `took`), rounded up to the millisecond.
    assert info.value.retry_after is not None
    assert 10.0 - took <= info.value.retry_after <= 10.0
    assert statuses(server, plant.itr) == [200, 429]
    assert_secret_absent(info.value, plant.itr)


async def test_dropped_connections_are_retried_each_through_one_request(
    server: FakeLacecalServer, make_client: ClientFactory, plant: Plant
) -> None:
    client = make_client(server.base_url, retries=1)
    await client.inverters(plant.itr)  # a kept-alive connection now exists
    server.set_faults(plant.itr, Faults(drop_first=1))
    assert await client.inverters(plant.itr) == plant.inverters
    assert statuses(server, plant.itr) == [200, 0, 200]

    server.reset_stats()
    server.set_faults(plant.itr, Faults(drop_connection=True))
    with pytest.raises(LacecalConnectionError) as info:
        await client.inverters(plant.itr)
    assert "ServerDisconnected" in str(info.value)
    # One request per attempt: aiohttp must not re-send behind the limiter's back.
    # aiohttp re-sends an idempotent request once on a dropped connection unless told not
    # to (a private switch of its session: if it is renamed, this fails).
    assert statuses(server, plant.itr) == [0, 0]
    assert_secret_absent(info.value, plant.itr)


async def test_refused_connection(make_client: ClientFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    itr = "R3fusedC0nnect10"
    client = make_client(f"http://127.0.0.1:{port}/APIv1", retries=1)
    with pytest.raises(LacecalConnectionError) as info:
        await client.meter_records(itr)
    assert redact(itr) in str(info.value)
    assert "ClientConnectorError" in str(info.value)
    assert_secret_absent(info.value, itr)


async def test_a_reply_slower_than_the_timeout_is_a_connection_error(
    server: FakeLacecalServer, make_client: ClientFactory, plant: Plant
) -> None:
    server.set_faults(plant.itr, Faults(delay=NEVER))
    events: list[object] = []
    client = make_client(server.base_url, timeout=0.1, retries=1, on_event=events.append)
    with pytest.raises(LacecalConnectionError) as info:
        await client.inverters(plant.itr)
    assert "no complete reply within 0.1s" in str(info.value)
    # The timeout is retried: two attempts, each ended by it with no reply. Counted by the
    # client: the 0.1 s covers connecting too, and a busy machine may spend it all before
    # a request reaches the server (which then counts fewer).
    attempts = [(e.attempt, e.status, e.error) for e in events if isinstance(e, RequestDone)]
    assert attempts == [(1, None, "LacecalConnectionError"), (2, None, "LacecalConnectionError")]
    assert server.stats(plant.itr).requests <= 2  # nothing sent behind the client's back
    assert server.stats(plant.itr).log == []  # both given up before the server replied
    assert_secret_absent(info.value, plant.itr)


async def test_the_timeout_covers_the_body_read(
    make_scripted: ScriptFactory, make_client: ClientFactory
) -> None:
    # A first reply opens the connection, so the stalled request needs no connect: the
    # timeout covers connecting too, and a busy machine may spend it all there (no request
    # would arrive, and no body would be read).
    healthy = (200, {"Content-Type": "application/json"}, INVERTER_LIST_JSON)
    scripted = await make_scripted([healthy, (STALL, {}, b'[{"id":6,')])
    client = make_client(scripted.base_url, timeout=1.0, retries=0)
    assert len(await client.inverters("St4llingBodyRead")) == 1
    with pytest.raises(LacecalConnectionError, match=r"no complete reply within 1s"):
        await client.inverters("St4llingBodyRead")
    assert len(scripted.arrivals) == 2  # the stalled reply's request did arrive


async def test_backoff_between_retries(
    make_scripted: ScriptFactory, make_client: ClientFactory
) -> None:
    scripted = await make_scripted([(500, {}, b"")] * 3)
    # Base spacing 1/4/2 = 0.125 s, doubled each time, jittered to 50-100 %.
    client = make_client(scripted.base_url, rate_limit=(4, 1.0), retries=3)
    await client.inverters("B4ckoffB4ckoff00")
    gaps = [b - a for a, b in zip(scripted.arrivals, scripted.arrivals[1:], strict=False)]
    assert len(gaps) == 3
    assert [g >= 0.5 * 0.125 * 2**i for i, g in enumerate(gaps)] == [True] * 3


# -- odd bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize("wire", ["json", "xml"])
async def test_a_body_labelled_text_html_still_decodes(
    server: FakeLacecalServer, make_client: ClientFactory, plant: Plant, wire: str
) -> None:
    server.set_faults(plant.itr, Faults(json_as_html=True))
    client = make_client(server.base_url, wire_format=wire)
    start = plant.first + DAY
    assert await client.inverters(plant.itr) == plant.inverters
    records = await client.meter_records(plant.itr, start, start + DAY)
    assert records == tuple(plant.meter_records(start, start + DAY))


@pytest.mark.parametrize(
    "faults", [Faults(maintenance_page=True), Faults(truncate=True), Faults(garbage=True)]
)
@pytest.mark.parametrize("wire", ["json", "xml"])
async def test_a_body_that_is_not_the_reply_is_a_parse_error_not_retried(
    server: FakeLacecalServer, make_client: ClientFactory, plant: Plant, faults: Faults, wire: str
) -> None:
    server.set_faults(plant.itr, faults)
    client = make_client(server.base_url, wire_format=wire, retries=3)
    with pytest.raises(LacecalParseError) as info:
        await client.meter_records(plant.itr, plant.first, plant.first + DAY)
    assert info.value.endpoint == "meter"
    assert server.stats(plant.itr).requests == 1
    assert_secret_absent(info.value, plant.itr)


async def test_a_body_echoing_the_itr_is_redacted_in_every_error(
    make_scripted: ScriptFactory,
    make_client: ClientFactory,
    lacecal_logs: pytest.LogCaptureFixture,
) -> None:
    itr = "Ech0edInTheB0dy1"
    echo = f"<html><body>unknown id={itr}</body></html>".encode()
    scripted = await make_scripted(
        [(200, {}, echo), (200, {}, b'{"error": "' + itr.encode() + b'"}'), (404, {}, echo)]
    )
    client = make_client(scripted.base_url, retries=0)
    errors: list[LacecalError] = []
    for call in (client.inverters, client.meter_records, client.inverters):
        with pytest.raises(LacecalError) as info:
            await call(itr)
        errors.append(info.value)
    assert [type(e) for e in errors] == [LacecalParseError, LacecalParseError, LacecalResponseError]
    for error in errors:
        assert redact(itr) in str(error)  # the body is shown, redacted
        assert_secret_absent(error, itr)
    parse_error = errors[0]
    assert isinstance(parse_error, LacecalParseError)
    assert itr not in parse_error.excerpt
    assert len(lacecal_logs.records) == 3
    assert_logs_redacted(lacecal_logs.records, itr)


@pytest.mark.parametrize(
    ("wire", "template"),
    [
        ("json", b'[{"id":"%s","nombre":"x","fabricante":"y","modelo":"z"}]'),
        ("json", b'[{"%s":1}]'),
        ("xml", b"<Inverters><Inverter><id>%s</id></Inverter></Inverters>"),
        ("xml", b"<%s/>"),
    ],
)
async def test_a_parse_error_naming_the_echoed_itr_is_redacted(
    make_scripted: ScriptFactory, make_client: ClientFactory, wire: str, template: bytes
) -> None:
    # The decoder quotes the offending value or tag: here, the identifier itself.
    itr = "Qu0tedByTheDec0d"
    scripted = await make_scripted([(200, {}, template % itr.encode())])
    client = make_client(scripted.base_url, wire_format=wire, retries=0)
    with pytest.raises(LacecalParseError) as info:
        await client.inverters(itr)
    assert_secret_absent(info.value, itr)


@pytest.mark.parametrize("offset", [184, 185, 188, 192])
async def test_an_identifier_cut_by_the_excerpt_is_not_shown_either(
    make_scripted: ScriptFactory, make_client: ClientFactory, offset: int
) -> None:
    # The excerpt shows 200 bytes: an ITR straddling that edge must not leak its head.
    itr = "Str4ddl1ngTheCut"
    body = b"x" * offset + itr.encode() + b" is not a known ITR"
    scripted = await make_scripted([(404, {}, body), (500, {}, body)])
    client = make_client(scripted.base_url, retries=0)
    for _ in range(2):
        with pytest.raises(LacecalResponseError) as info:
            await client.inverters(itr)
        assert itr[:8] not in str(info.value)
        assert_secret_absent(info.value, itr)


async def test_a_reason_phrase_echoing_the_itr_is_redacted(
    make_scripted: ScriptFactory, make_client: ClientFactory
) -> None:
    itr = "Re4s0nPhr4seEch0"
    scripted = await make_scripted([(404, {"X-Reason": f"ITR {itr} unknown"}, b"")])
    client = make_client(scripted.base_url, retries=0)
    with pytest.raises(LacecalResponseError) as info:
        await client.inverters(itr)
    assert "unknown" in str(info.value)  # the reason is shown, redacted
    assert_secret_absent(info.value, itr)


async def test_a_redirect_is_a_response_error_not_followed(
    make_scripted: ScriptFactory, make_client: ClientFactory
) -> None:
    scripted = await make_scripted([(302, {"Location": "http://127.0.0.1:9/x"}, b"")])
    client = make_client(scripted.base_url, retries=3)
    with pytest.raises(LacecalResponseError) as info:
        await client.inverters("Redirect3dPlant0")
    assert info.value.status == 302
    assert len(scripted.arrivals) == 1


# -- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "0123456789abcdefX",  # one too many
        "0123456789abcde",  # one too few
        "0123456789abcde!",
        " 0123456789abcdef",
        "0123456789abcdéf",
        b"0123456789abcdef",
        None,
        1234567890123456,
    ],
)
async def test_invalid_identifier_is_refused_without_showing_it(
    client: LacecalClient, server: FakeLacecalServer, bad: object
) -> None:
    secret = str(bad) if isinstance(bad, int) else "0123456789abcde"
    calls = (
        lambda: client.inverters(bad),  # type: ignore[arg-type]
        lambda: client.meter_records(bad, 0, 600),  # type: ignore[arg-type]
        lambda: client.inverter_records(bad),  # type: ignore[arg-type]
    )
    for call in calls:
        with pytest.raises(InvalidITRError) as info:
            await call()
        assert isinstance(info.value, ValueError)
        assert_secret_absent(info.value, secret)
    with pytest.raises(InvalidITRError) as info:
        client.iter_meter_records(bad, 0)  # type: ignore[arg-type]
    assert_secret_absent(info.value, secret)


async def test_every_log_record_is_redacted_and_each_request_is_logged(
    server: FakeLacecalServer,
    make_client: ClientFactory,
    make_server: ServerFactory,
    plant: Plant,
    lacecal_logs: pytest.LogCaptureFixture,
) -> None:
    client = make_client(server.base_url, retries=1)
    start = plant.first + DAY
    await client.meter_records(plant.itr, start, start + 2 * DAY)  # two pages
    await client.inverters(plant.itr)
    server.set_faults(plant.itr, Faults(fail_first=1))
    await client.inverters(plant.itr)
    server.set_faults(plant.itr, Faults(delay=NEVER))
    with pytest.raises(LacecalConnectionError):  # two timeouts
        await client.with_options(timeout=0.2).inverters(plant.itr)
    strict = await make_server([plant], rate_limit=(1, 10.0))
    other = make_client(strict.base_url, rate_limit=(6, 0.1), retries=0)
    await other.inverters(plant.itr)
    with pytest.raises(LacecalRateLimitError):
        await other.inverters(plant.itr)

    records = lacecal_logs.records
    assert records
    assert all(r.name.startswith("lacecal_async") for r in records)
    assert_logs_redacted(records, plant.itr)
    messages = [r.getMessage() for r in records]
    done = [m for m in messages if re.match(r"GET \S+\.php itr=\.\.\.\w{4} .*-> \d{3} in", m)]
    # 2 pages, the inverter list, a 503 and its retry, then 200 and 429 on the other server.
    assert len(done) == 7
    assert sum(" -> 200 " in m for m in done) == 5
    assert all(redact(plant.itr) in m and re.search(r"in \d+\.\d{3}s", m) for m in done)
    assert sum("meter.php" in m for m in done) == 2
    failed = [m for m in messages if "failed in" in m]
    assert len(failed) == 2  # the two timeouts
    assert any("retrying" in m for m in messages)
    assert any(r.levelno == logging.WARNING and "HTTP 429" in r.getMessage() for r in records)


async def test_the_client_repr_shows_no_identifier(
    client: LacecalClient, server: FakeLacecalServer, plant: Plant
) -> None:
    await client.inverters(plant.itr)
    assert plant.itr not in repr(client)
    assert plant.itr not in repr(client.limit_state(plant.itr))
    assert "json" in repr(client)


# -- the checks this module relies on ----------------------------------------------------


def test_exception_chain_helper_walks_cause_and_context() -> None:
    # The redaction checks above rely on this walk; prove it reaches both links.
    middle = ValueError("middle")
    middle.__cause__ = KeyError("inner")
    outer = RuntimeError("outer")
    outer.__context__ = middle
    chain = exception_chain(outer)
    assert [type(e) for e in chain] == [RuntimeError, ValueError, KeyError]
    with pytest.raises(AssertionError):
        assert_secret_absent(outer, "inner")


async def test_cancelled_error_is_not_wrapped(
    server: FakeLacecalServer, make_client: ClientFactory, plant: Plant
) -> None:
    server.set_faults(plant.itr, Faults(delay=NEVER))
    client = make_client(server.base_url)
    task = asyncio.create_task(client.inverters(plant.itr))
    await wait_until(lambda: server.stats(plant.itr).requests == 1)  # in flight
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
