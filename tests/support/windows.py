"""Identifiers spelled as a hostile server may echo them, and a hunt for them in any text.

The hunt is written apart from the library's hiding: each reading of a text undoes escapes
(XML/HTML references, percent, JSON ``\\u`` and ``\\x``), normalises it (NFKC), case-folds
it and drops everything but letters and digits; 8 consecutive characters of an identifier
in any reading are a leak. The spellings turn ASCII into fullwidth, mathematical bold and
enclosed (circled) forms, each of which NFKC reads back as the ASCII.
"""

from __future__ import annotations

import html
import re
import unicodedata
import urllib.parse
from collections.abc import Iterable

#: Shortest run of an identifier's characters that counts as a leak.
RUN = 8


def fullwidth(text: str) -> str:
    """The fullwidth forms of printable ASCII (U+FF01 to U+FF5E)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def math_bold(text: str) -> str:
    """Mathematical bold letters and digits (U+1D400 on)."""

    def one(c: str) -> str:
        if "A" <= c <= "Z":
            return chr(0x1D400 + ord(c) - ord("A"))
        if "a" <= c <= "z":
            return chr(0x1D41A + ord(c) - ord("a"))
        return chr(0x1D7CE + ord(c) - ord("0")) if "0" <= c <= "9" else c

    return "".join(map(one, text))


def circled(text: str) -> str:
    """Enclosed (circled) letters and digits (U+24B6 on, U+2460 on)."""

    def one(c: str) -> str:
        if "A" <= c <= "Z":
            return chr(0x24B6 + ord(c) - ord("A"))
        if "a" <= c <= "z":
            return chr(0x24D0 + ord(c) - ord("a"))
        if "1" <= c <= "9":
            return chr(0x2460 + ord(c) - ord("1"))
        return "\u24ea" if c == "0" else c

    return "".join(map(one, text))


def readings(text: str) -> list[str]:
    """`text` as found, and with escapes undone, normalised, folded and squeezed."""
    plain = html.unescape(html.unescape(text))
    plain = urllib.parse.unquote(urllib.parse.unquote(plain, errors="replace"), errors="replace")
    plain = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m[1], 16)), plain)
    plain = re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m[1], 16)), plain)
    normal = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", plain).casefold())
    squeezed = "".join(char for char in normal if char.isalnum())
    return [text.casefold(), normal, squeezed]


def leak(text: str, itrs: Iterable[str]) -> str | None:
    """Return which window of which identifier `text` shows in some reading, if any."""
    found = readings(text)
    for itr in itrs:
        folded = itr.casefold()
        for start in range(len(folded) - RUN + 1):
            window = folded[start : start + RUN]
            if any(window in reading for reading in found):
                return f"{window!r} of ...{itr[-4:]}"
    return None


def assert_no_leak(text: str, itrs: Iterable[str]) -> None:
    """Fail if `text` shows 8 consecutive characters of any identifier, in any spelling."""
    found = leak(text, itrs)
    assert found is None, f"{found} in {text[:2000]!r}"
