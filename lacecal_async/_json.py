"""JSON bytes to plain data, by JSON's rules: orjson when it is installed, else the stdlib.

orjson is optional (not a runtime dependency) and parses a page about twice as fast as
``json``, which is half of JSON decoding. It reads UTF-8 only, so a UTF-16/32 body, or one
with a BOM, goes to the stdlib, which detects those as ``json.loads`` does. Both refuse
``NaN`` and ``Infinity`` (not JSON) and raise ValueError (or RecursionError) on bad input.
What orjson refuses and the stdlib reads (``1e400``, read as inf; lone surrogates) is read
again by the stdlib, so the result never depends on whether orjson is installed: the
converter then refuses an infinite energy and names its field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final, NoReturn

__all__ = ["fast_loads", "loads", "loads_stdlib"]


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


_STDLIB: Final = json.JSONDecoder(parse_constant=_reject_constant)


def loads_stdlib(body: bytes) -> object:
    """Parse with the stdlib: the encoding is detected from the first bytes, as RFC 8259 says."""
    return _STDLIB.decode(body.decode(json.detect_encoding(body)))


#: orjson.loads, or None to use the stdlib (tests switch it off to cover the fallback).
#: Written so that `mypy --strict` passes with orjson installed and without it.
fast_loads: Callable[[bytes], object] | None
try:
    import orjson
except ImportError:  # pragma: no cover - exercised where orjson is not installed
    fast_loads = None
else:
    fast_loads = orjson.loads


def loads(body: bytes) -> object:
    """Parse a JSON body into plain data (lists, dicts, str/int/float/bool/None)."""
    if fast_loads is not None and json.detect_encoding(body) == "utf-8":
        try:
            return fast_loads(body)
        except ValueError:  # orjson.JSONDecodeError: the stdlib decides (and explains)
            pass
    return loads_stdlib(body)
