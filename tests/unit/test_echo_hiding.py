"""An identifier echoed by the server, in any form and at any position, never shows.

Pure tests of the reply classification (bytes in, typed error out): the same code the
client runs on every reply. Echoes are raw, in another case, or spelled with JSON ``\\u``,
XML decimal and hex character references and percent escapes, one character at a time
(mixed), with or without separators between the characters (NUL and other controls,
whitespace, zero-width characters, ``\\u0000``/``\\x00`` escapes as text: UTF-16 code units
echoed one level down); bodies are UTF-8, UTF-16 or UTF-32; the echo sits before, across
and after every length cap (the 200-character excerpt, the 300-character reason).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lacecal_async import LacecalError, LacecalParseError, LacecalResponseError
from lacecal_async._protocol import check_status, decode_reply
from lacecal_async.endpoints import Endpoint, WireFormat
from tests.support.checks import assert_no_fragment, fragment_of
from tests.support.echoes import FORMS, ITRS, RECORD_HEAD, XML_HEAD, echoes


def padding(draw: st.DrawFn) -> str:
    # around every cap: the 200-character excerpt, the 300-character reason, and 0
    size = draw(st.one_of(st.integers(0, 20), st.integers(180, 320), st.integers(0, 600)))
    return draw(st.sampled_from("A7x ")) * size


@st.composite
def hostile_replies(draw: st.DrawFn) -> tuple[str, Endpoint, WireFormat, int, str, bytes]:
    """A reply echoing an identifier somewhere: (itr, endpoint, format, status, reason, body)."""
    place = draw(
        st.sampled_from(
            ["json-number", "json-garbage", "xml-number", "xml-name", "http-error", "reason"]
        )
    )
    if place == "xml-name":  # a name holds letters and digits only
        itr, echo = draw(echoes(forms=("raw",), separators=("",)))
    else:
        itr, echo = draw(echoes())
    if place == "xml-name":
        echo = echo.upper() if echo[0].isdigit() else echo  # a name starts with a letter
    text = padding(draw) + echo + padding(draw)
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "utf-16-le", "utf-32"]))
    status, reason, wire_format = 200, "OK", WireFormat.JSON
    endpoint = Endpoint.INVERTER
    if place == "json-number":
        body = f'[{RECORD_HEAD}"Esum":"{text}","Inverters":[]}}]'
    elif place == "json-garbage":
        body = text
    elif place == "xml-number":
        wire_format = WireFormat.XML
        body = f"{XML_HEAD}<Esum>{text}</Esum><Inverters/></InvertersRecord></InvertersRecords>"
    elif place == "xml-name":
        wire_format = WireFormat.XML
        name = "A" * len(text.split(echo)[0]) + echo
        body = f"{XML_HEAD}<{name}>1</{name}></InvertersRecord></InvertersRecords>"
    else:
        status = draw(st.sampled_from([400, 404, 429, 500, 503]))
        body = f"<html><body>unknown id {text}</body></html>"
        if place == "reason":
            reason = text
    if wire_format is WireFormat.XML and encoding != "utf-8":
        body = f'<?xml version="1.0" encoding="{encoding.upper()}"?>{body}'
    return itr, endpoint, wire_format, status, reason, body.encode(encoding)


def classify_reply(
    endpoint: Endpoint,
    itr: str,
    wire_format: WireFormat,
    *,
    status: int,
    reason: str,
    headers: Mapping[str, str],
    body: bytes,
) -> tuple[Any, ...]:
    """The transport's two steps on a reply, in its order: the status, then the body."""
    check_status(endpoint, itr, status=status, reason=reason, headers=headers, body=body)
    return decode_reply(endpoint, itr, wire_format, body)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_replies())
def test_no_eight_characters_of_an_echoed_identifier_show(
    reply: tuple[str, Endpoint, WireFormat, int, str, bytes],
) -> None:
    itr, endpoint, wire_format, status, reason, body = reply
    with pytest.raises(LacecalError) as caught:
        classify_reply(
            endpoint,
            itr,
            wire_format,
            status=status,
            reason=reason,
            headers={"Content-Type": "text/html"},
            body=body,
        )
    assert isinstance(caught.value, LacecalParseError | LacecalResponseError)
    assert_no_fragment(caught.value, itr)


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("pad", [0, 100, 115, 190, 250, 258, 265, 285, 300])
@pytest.mark.parametrize("wire_format", ["json", "xml"])
def test_a_long_echo_in_a_number_shows_no_fragment(form: str, pad: int, wire_format: str) -> None:
    # The review's finding: "A"*300 + ITR in a numeric field showed 15 of 16 characters.
    itr = ITRS[0]
    echo = "A" * pad + "".join(FORMS[form](char) for char in itr)
    if wire_format == "json":
        body = f'[{RECORD_HEAD}"Esum":"{echo}","Inverters":[]}}]'.encode()
    else:
        body = (
            f"{XML_HEAD}<Esum>{echo}</Esum><Inverters/></InvertersRecord></InvertersRecords>"
        ).encode()
    with pytest.raises(LacecalParseError) as caught:
        classify_reply(
            Endpoint.INVERTER,
            itr,
            WireFormat(wire_format),
            status=200,
            reason="OK",
            headers={},
            body=body,
        )
    assert_no_fragment(caught.value, itr)
    assert caught.value.path == "$[0].Esum"


@pytest.mark.parametrize("pad", [0, 150, 250, 258, 265, 300])
def test_a_long_echo_in_an_xml_element_name_shows_no_fragment(pad: int) -> None:
    itr = ITRS[0]
    name = "A" * pad + itr
    body = f"<InvertersRecords><{name}>1</{name}></InvertersRecords>".encode()
    with pytest.raises(LacecalParseError) as caught:
        classify_reply(
            Endpoint.INVERTER,
            itr,
            WireFormat.XML,
            status=200,
            reason="OK",
            headers={},
            body=body,
        )
    assert_no_fragment(caught.value, itr)


@pytest.mark.parametrize("status", [200, 500])
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_wide_body_is_shown_as_text_with_the_identifier_hidden(
    status: int, encoding: str
) -> None:
    itr = ITRS[0]
    body = f"<html><p>no plant {itr}</p></html>".encode(encoding)
    with pytest.raises(LacecalError) as caught:
        classify_reply(
            Endpoint.INVERTER_LIST,
            itr,
            WireFormat.JSON,
            status=status,
            reason="Oops",
            headers={"Content-Type": "text/html"},
            body=body,
        )
    message = str(caught.value)
    assert "no plant ...34XY" in message  # decoded as text: readable, and hidden
    assert "\\x00" not in message
    assert_no_fragment(caught.value, itr)


def test_a_body_that_is_not_text_is_described_not_shown() -> None:
    itr = ITRS[0]
    body = b"\xc3\x28 id=" + itr.encode()  # not UTF-8, and no charset says otherwise
    with pytest.raises(LacecalResponseError) as caught:
        classify_reply(
            Endpoint.METER,
            itr,
            WireFormat.JSON,
            status=502,
            reason="Bad Gateway",
            headers={"Content-Type": "application/octet-stream"},
            body=body,
        )
    assert f"body <{len(body)} bytes that are not text>" in str(caught.value)
    assert fragment_of(str(caught.value), itr) is None
