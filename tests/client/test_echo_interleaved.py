"""An identifier echoed with separators between its characters never shows, end to end.

UTF-16 code units are the realistic source: a status line aiohttp quotes as bytes
(``b'S\\x00E\\x00...'``), a reason phrase with control characters, a JSON body spelling
``"S\\u0000E\\u0000..."`` (PHP's json_encode of a UCS-2 value), on the HTTP error and the
parse-error paths. Real HTTP from a raw server on loopback.
"""

from __future__ import annotations

import traceback

import pytest

from lacecal_async import LacecalClient, LacecalError
from tests.support.checks import assert_no_fragment, fragment_of
from tests.support.raw_http import http_reply, raw_server

ITR = "SECRETabcd1234XY"
JSON_UCS2 = "\\u0000".join(ITR)
RECORD = (
    '[{"unix_time":1496660400,"date":"2017-06-05 13:00:00 +0200","interval":600,'
    '"Esum":1,"Inverters":[{"id":"ID","E":1}]}]'
)


def _sized(status: int, reason: str, body: bytes) -> bytes:
    return http_reply(
        status, reason, [("Content-Length", str(len(body))), ("Connection", "close")], body
    )


REPLIES = {
    "utf-16 status line": b"HTTP/1.1 5x0 " + ITR.encode("utf-16-le") + b"\r\n\r\n",
    "controls in the reason": b"HTTP/1.1 500 "
    + "\x01".join(ITR).encode()
    + b"\r\nContent-Length: 0\r\n\r\n",
    "tabs in the reason": b"HTTP/1.1 500 "
    + "\t".join(ITR).encode()
    + b"\r\nContent-Length: 0\r\n\r\n",
    "ucs-2 json in a 500 body": _sized(500, "X", f'{{"error": "unknown id {JSON_UCS2}"}}'.encode()),
    "ucs-2 json in a bad 200 body": _sized(
        200, "OK", RECORD.replace("ID", JSON_UCS2).encode() + b"x"
    ),
    "ucs-2 json, not records": _sized(200, "OK", f'{{"error": "unknown id {JSON_UCS2}"}}'.encode()),
    "utf-16 body, no BOM, as bytes": _sized(502, "X", b"id=" + ITR.encode("utf-16-le")),
}


@pytest.mark.parametrize("name", list(REPLIES))
async def test_an_identifier_with_separators_between_its_characters_never_shows(
    name: str,
) -> None:
    reply = REPLIES[name]
    async with (
        raw_server(lambda _target: reply) as url,
        LacecalClient(base_url=url, retries=0) as client,
    ):
        with pytest.raises(LacecalError) as caught:
            await client.inverter_records(ITR)
    assert_no_fragment(caught.value, ITR)
    assert fragment_of("".join(traceback.format_exception(caught.value)), ITR) is None
