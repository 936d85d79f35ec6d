"""Identifiers echoed by a hostile server: every spelling, case and separator (Hypothesis)."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

ITRS = ("SECRETabcd1234XY", "q7Wz0Kp3Lm9Xr2Tb")

FORMS: dict[str, Callable[[str], str]] = {
    "raw": lambda c: c,
    "json": lambda c: f"\\u{ord(c):04x}",
    "JSON": lambda c: f"\\u{ord(c):04X}",
    "xml-dec": lambda c: f"&#{ord(c)};",
    "xml-hex": lambda c: f"&#x{ord(c):x};",
    "percent": lambda c: f"%{ord(c):02X}",
}
CASES: dict[str, Callable[[str], str]] = {
    "same": lambda s: s,
    "upper": str.upper,
    "lower": str.lower,
    "swap": str.swapcase,
}
#: What a server may put between the characters: nothing, or UTF-16's zero bytes in some form.
SEPARATORS = ("", "\x00", "\x01", "\x1f", "\x85", "\t", " ", "\u200b", "\\u0000", "\\x00", "-")
RECORD_HEAD = '{"unix_time":1496660400,"date":"2017-06-05 13:00:00 +0200","interval":600,'
XML_HEAD = (
    "<InvertersRecords><InvertersRecord><unix_time>1496660400</unix_time>"
    "<date>2017-06-05 13:00:00 +0200</date><interval>600</interval>"
)


@st.composite
def echoes(
    draw: st.DrawFn,
    *,
    forms: tuple[str, ...] = tuple(FORMS),
    separators: tuple[str, ...] = SEPARATORS,
) -> tuple[str, str]:
    """An identifier and an echo of 8 to 16 of its characters, each in a drawn form.

    Between the characters: one drawn separator throughout (UTF-16 code units), or a drawn
    one at each place.
    """
    itr = draw(st.sampled_from(ITRS))
    length = draw(st.integers(8, 16))
    start = draw(st.integers(0, 16 - length))
    part = CASES[draw(st.sampled_from(list(CASES)))](itr[start : start + length])
    spelled = [FORMS[draw(st.sampled_from(forms))](char) for char in part]
    if draw(st.booleans()):
        return itr, draw(st.sampled_from(separators)).join(spelled)
    gaps = [draw(st.sampled_from(separators)) for _ in spelled]
    return itr, "".join(gap + char for gap, char in zip(gaps, spelled, strict=True))
