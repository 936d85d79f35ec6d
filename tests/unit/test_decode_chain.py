"""The public `decode(..., hide=...)` raises a `LacecalParseError` with nothing chained.

The parsers' and converters' own errors quote the offending value whole; a chained cause
or context would print it in every traceback (``logging.exception``, an uncaught error).
"""

from __future__ import annotations

import traceback

import pytest

from lacecal_async import LacecalParseError, decode
from tests.support.checks import assert_no_fragment, fragment_of

ITR = "SECRETabcd1234XY"
HEAD = '"unix_time":1496660400,"date":"2017-06-05 13:00:00 +0200","interval":600'
XML_HEAD = (
    '<?xml version="1.0"?><root><record><unix_time>1496660400</unix_time>'
    "<date>2017-06-05 13:00:00 +0200</date><interval>600</interval>"
)
BODIES = {
    "json field": ("json", f'[{{{HEAD},"Esum":"{ITR}","Inverters":[]}}]'),
    "json syntax": ("json", f'[{{{HEAD},"Esum":{ITR}}}]'),
    "json shape": ("json", f'{{"{ITR}": 1}}'),
    "xml field": ("xml", f"{XML_HEAD}<Esum>{ITR}</Esum></record></root>"),
    "xml syntax": ("xml", f"{XML_HEAD}<Esum {ITR}></record></root>"),
    "xml shape": ("xml", f"<root><{ITR}>1</{ITR}></root>"),
}


@pytest.mark.parametrize("name", list(BODIES))
def test_a_decode_error_chains_nothing_that_shows_the_identifier(name: str) -> None:
    wire_format, body = BODIES[name]
    with pytest.raises(LacecalParseError) as caught:
        decode("inverter", body.encode(), wire_format, hide=(ITR,))
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None
    assert fragment_of("".join(traceback.format_exception(error)), ITR) is None
    assert_no_fragment(error, ITR)
