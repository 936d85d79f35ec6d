"""Sans-I/O decoding of reply bodies into records (placeholder until the decoder lands)."""

from __future__ import annotations

from typing import Any

from lacecal_async.endpoints import Endpoint, WireFormat

__all__ = ["decode"]


def decode(
    endpoint: Endpoint | str, body: bytes, wire_format: WireFormat | str = "json"
) -> tuple[Any, ...]:
    """Decode a reply body of `endpoint` into a tuple of records."""
    raise NotImplementedError
