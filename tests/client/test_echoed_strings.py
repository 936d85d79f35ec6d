"""Every string the client takes from a reply hides identifiers, in any width or spelling.

Inverter lists that echo identifiers (their own plant's, and other plants' of the run),
and error bodies that echo one in fullwidth or mathematical letters: what a caller gets
(records, exceptions) shows no 8 consecutive characters of any of them; the rest of the
text is left as served.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from lacecal_async import InvalidITRError, LacecalParseError, LacecalResponseError
from lacecal_async.decoding import decode
from lacecal_async.endpoints import Endpoint
from lacecal_async.testing import FakeLacecalServer
from tests.support.checks import exception_chain
from tests.support.echoing import INNOCENT, echoing_plants
from tests.support.fixtures import ClientFactory, ServerFactory
from tests.support.scripted import ScriptFactory
from tests.support.windows import assert_no_leak, fullwidth, math_bold

PLANTS = echoing_plants(seed=32)
A, B, C = PLANTS
ITRS = [plant.itr for plant in PLANTS]


def assert_exception_hides(exc: BaseException, itrs: list[str]) -> None:
    for link in exception_chain(exc):
        for text in (str(link), repr(link), *map(repr, link.args), *map(repr, vars(link).values())):
            assert_no_leak(text, itrs)


@pytest.fixture
async def echo_server(make_server: ServerFactory) -> FakeLacecalServer:
    return await make_server(PLANTS, rate_limit=None)


@pytest.mark.parametrize("wire_format", ["json", "xml"])
async def test_an_inverter_list_hides_the_identifiers_the_client_was_given(
    echo_server: FakeLacecalServer, make_client: ClientFactory, wire_format: str
) -> None:
    client = make_client(echo_server.base_url, wire_format=wire_format, rate_limit=(100, 1.0))
    client.hide_identifiers([B.itr, C.itr])
    inverters = await client.inverters(A.itr)
    assert_no_leak(repr(inverters), ITRS)
    assert inverters[0].name == f"Tejado ...{A.itr[-4:]}"
    assert inverters[0].serial_number == f"...{A.itr[-4:]}"
    assert inverters[2].manufacturer.endswith(" Fronius")  # the split echo is cut, not the rest
    assert inverters[3] == INNOCENT[0]


async def test_plants_asked_about_before_are_hidden_in_any_later_reply(
    echo_server: FakeLacecalServer, make_client: ClientFactory
) -> None:
    client = make_client(echo_server.base_url, rate_limit=(100, 1.0))
    view = client.with_options(retries=0)
    assert await view.latest_meter_record(B.itr) is not None
    assert await client.latest_meter_record(C.itr) is not None
    many = await view.fetch_many([A.itr], Endpoint.INVERTER_LIST)
    assert_no_leak(repr(many[A.itr].records), ITRS)
    assert many[A.itr].records[3] == INNOCENT[0]


async def test_hide_identifiers_refuses_what_is_not_an_identifier(
    echo_server: FakeLacecalServer, make_client: ClientFactory
) -> None:
    client = make_client(echo_server.base_url)
    with pytest.raises(InvalidITRError) as caught:
        client.hide_identifiers([B.itr, "short"])
    assert B.itr not in str(caught.value)


@pytest.mark.parametrize(
    "spell",
    [fullwidth, math_bold, lambda itr: " ".join(fullwidth(itr.lower()))],
    ids=["fullwidth", "bold", "spaced-fullwidth"],
)
async def test_an_echo_in_another_width_is_hidden_in_errors(
    make_scripted: ScriptFactory, make_client: ClientFactory, spell: Callable[[str], str]
) -> None:
    echo = f"{spell(A.itr)} (like {spell(B.itr)})"
    body = json.dumps({"error": f"unknown plant {echo}"}, ensure_ascii=False).encode()
    scripted = await make_scripted(
        [
            (500, {"Content-Type": "application/json", "X-Reason": "No " + echo}, body),
            (200, {"Content-Type": "text/html; charset=utf-8"}, f"<p>{echo}</p>".encode()),
            (404, {"Content-Type": "text/plain; charset=utf-16"}, echo.encode("utf-16")),
        ]
    )
    client = make_client(scripted.base_url, retries=0)
    client.hide_identifiers([B.itr])
    with pytest.raises(LacecalResponseError) as failed:
        await client.inverters(A.itr)
    with pytest.raises(LacecalParseError) as garbled:
        await client.meter_records(A.itr, A.first, A.first + 600)
    with pytest.raises(LacecalResponseError) as missing:
        await client.latest_meter_record(A.itr)
    for exc in (failed.value, garbled.value, missing.value):
        assert_exception_hides(exc, [A.itr, B.itr])
        assert f"...{A.itr[-4:]} (like ...{B.itr[-4:]})" in str(exc)
    assert "HTTP 500 No ..." in str(failed.value)


def test_decode_hides_inverter_strings_when_given_identifiers() -> None:
    body = json.dumps(
        [{"id": 1, "nombre": fullwidth(A.itr), "fabricante": "SMA", "modelo": "M", "nserie": None}]
    ).encode()
    (shown,) = decode("inverter_list", body, hide=[A.itr])
    assert shown.name == f"...{A.itr[-4:]}"
    assert shown.serial_number is None
    (raw,) = decode("inverter_list", body)  # nothing to hide given: as served
    assert raw.name == fullwidth(A.itr)
