"""Decoding a valid page leaves nothing for the cyclic garbage collector.

A daemon may run with the collector tuned down (as `lacecal` does in bulk work): a page the
decoder leaves in a reference cycle is then kept until a full collection, tens of MB per
hundred pages. A page must be freed when its records are.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from lacecal_async import decode
from lacecal_async.testing import wire
from tests.support.samples import EXPECTED


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("collector_off")
@pytest.mark.parametrize("wire_format", ["json", "xml"])
@pytest.mark.parametrize("endpoint", sorted(EXPECTED))
def test_a_decoded_page_leaves_no_cycles(endpoint: str, wire_format: str) -> None:
    records: Any = EXPECTED[endpoint]
    body = wire.encode(endpoint, records, wire_format)
    assert decode(endpoint, body, wire_format) == records
    assert gc.collect() == 0
