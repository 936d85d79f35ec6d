"""Hostile replies at the client: an identifier smuggled into decoded values, huge bodies."""

from __future__ import annotations

import pytest

from lacecal_async import LacecalParseError
from lacecal_async.client import MAX_BODY_BYTES
from tests.support.checks import assert_secret_absent
from tests.support.fixtures import ClientFactory
from tests.support.scripted import ScriptFactory

ITR = "A123456789ABCDEF"
JSON = {"Content-Type": "application/json"}


def _escaped(itr: str) -> str:
    """The identifier with its first letter as a JSON \\u escape (no raw bytes of it)."""
    return f"\\u{ord(itr[0]):04x}{itr[1:]}"


@pytest.mark.parametrize(
    ("body", "wire_format"),
    [
        (
            f'[{{"unix_time":1496660400,"date":"2017-06-05 13:00:00 +0200","interval":600,'
            f'"Esum":"{_escaped(ITR)}","Inverters":[]}}]'.encode(),
            "json",
        ),
        (
            f"<InvertersRecords><InvertersRecord><unix_time>1496660400</unix_time>"
            f"<date>2017-06-05 13:00:00 +0200</date><interval>600</interval>"
            f"<Esum>&#{ord(ITR[0])};{ITR[1:]}</Esum><Inverters/></InvertersRecord>"
            f"</InvertersRecords>".encode(),
            "xml",
        ),
        (
            f'[{{"unix_time":1496660400,"date":"2017-06-05 13:00:00 +0200","interval":600,'
            f'"Esum":"{ITR}","Inverters":[]}}]'.encode("utf-16"),
            "json",
        ),
    ],
    ids=["json-escape", "xml-charref", "utf-16"],
)
async def test_identifier_hidden_in_decoded_values_stays_hidden(
    make_scripted: ScriptFactory, make_client: ClientFactory, body: bytes, wire_format: str
) -> None:
    assert ITR.encode() not in body
    scripted = await make_scripted([(200, JSON, body)])
    client = make_client(scripted.base_url, retries=0, wire_format=wire_format)
    with pytest.raises(LacecalParseError) as caught:
        await client.inverter_records(ITR, 1496660400, 1496661000)
    assert_secret_absent(caught.value, ITR)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


async def test_a_huge_reply_is_refused_not_read_whole(
    make_scripted: ScriptFactory, make_client: ClientFactory
) -> None:
    scripted = await make_scripted([(200, JSON, b" " * (MAX_BODY_BYTES + 1))])
    client = make_client(scripted.base_url, retries=0)
    with pytest.raises(LacecalParseError, match="larger than"):
        await client.inverters(ITR)
