"""An error page that echoes the identifier as zero-padded character references.

XML and HTML allow leading zeros in ``&#x...;`` and ``&#...;``: a 400 whose body spells
the identifier that way must not show it in the exception (its message quotes the body).
"""

from __future__ import annotations

import pytest

from lacecal_async import LacecalResponseError
from tests.support.checks import assert_no_fragment
from tests.support.fixtures import ClientFactory
from tests.support.scripted import ScriptFactory

ITR = "kCbekANd0f0RpzKC"


async def test_a_zero_padded_echo_in_an_error_page_is_hidden(
    make_scripted: ScriptFactory, make_client: ClientFactory
) -> None:
    echo = "".join(f"&#x{ord(c):010x};" for c in ITR)
    body = f"<?xml version='1.0'?><error id='{echo}'>unknown plant</error>".encode()
    scripted = await make_scripted([(400, {"Content-Type": "text/xml"}, body)])
    client = make_client(scripted.base_url, retries=0)
    with pytest.raises(LacecalResponseError) as failed:
        await client.inverters(ITR)
    assert_no_fragment(failed.value, ITR)
    assert f"...{ITR[-4:]}" in str(failed.value)
