r"""Hiding identifiers in text a server may have echoed, in whatever form it chose.

A server can send the identifier back raw, in another case, or encoded: JSON ``\u0053``,
XML ``&#83;`` / ``&#x53;``, percent ``%53``, one character at a time or all at once. The
rule: no run of 8 consecutive characters of an identifier survives, whatever mix of those
forms spells it. A run is replaced by the redacted form (``...WXYZ``).

Bodies are turned into text first, by the rules of their format (a UTF-16 body is read as
UTF-16, not shown as bytes); text is hidden first and cut after (an identifier straddling
a length cap must not leave its head behind). Only a bounded prefix is examined, so a
16 MiB error body costs no more than a small one.

This module imports nothing from the package: `errors` builds its messages with it.
"""

from __future__ import annotations

import codecs
import functools
import json
import re
from collections.abc import Iterable
from typing import Final

__all__ = ["MIN_RUN", "Hider", "body_text", "cut", "excerpt", "hide", "printable"]

#: Shortest run of an identifier's characters that is hidden.
MIN_RUN: Final = 8
#: Characters of a text examined (and shown at most); a longer text is cut here first.
SCAN_CHARS: Final = 1 << 16
_SHOWN = 4
_ESCAPE = re.compile(
    r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|&#[xX]([0-9a-fA-F]{1,8});?|&#([0-9]{1,10});?"
    r"|%([0-9a-fA-F]{2})"
)
_RUN = re.compile(rf"\w{{{MIN_RUN},}}")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_BOMS: Final = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _unescape_one(match: re.Match[str]) -> str:
    """Return the character an escape stands for; the escape itself if none."""
    digits = next(group for group in match.groups() if group is not None)
    code = int(digits, 10 if match.group(4) is not None else 16)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return match.group(0)
    return chr(code)


def _unit(char: str) -> str:
    """Return a pattern for one character of an identifier, in any case and escape form."""
    forms = [re.escape(char)]
    for variant in {char.lower(), char.upper()}:
        code = ord(variant)
        forms += [
            rf"\\u00{code:02x}",
            rf"\\x{code:02x}",
            rf"&#0*{code};?",
            rf"&#x0*{code:x};?",
            rf"%{code:02x}",
        ]
    return "(?:" + "|".join(forms) + ")"


@functools.lru_cache(maxsize=1024)
def _pattern(itr: str) -> re.Pattern[str]:
    """Match runs of `MIN_RUN` or more consecutive characters of `itr`, each in any form.

    For each start, the run extends as far along the identifier as the text follows it.
    """
    units = [_unit(char) for char in itr]
    alternatives = []
    for start in range(len(itr) - MIN_RUN + 1):
        tail = ""
        for unit in reversed(units[start + MIN_RUN :]):
            tail = f"(?:{unit}{tail})?"
        alternatives.append("".join(units[start : start + MIN_RUN]) + tail)
    return re.compile("|".join(alternatives), re.IGNORECASE)


def _windows(itr: str) -> frozenset[str]:
    folded = itr.casefold()
    return frozenset(folded[i : i + MIN_RUN] for i in range(len(folded) - MIN_RUN + 1))


class Hider:
    """Hides runs of any of a set of identifiers; cheap when a text holds none.

    An index of every identifier's 8-character windows finds which identifiers a text may
    hold (after undoing escapes and case), so a fleet of thousands costs one pass per text.
    """

    def __init__(self, itrs: Iterable[str]) -> None:
        self._by_window: dict[str, list[str]] = {}
        for itr in dict.fromkeys(itrs):
            if len(itr) >= MIN_RUN:
                for window in _windows(itr):
                    self._by_window.setdefault(window, []).append(itr)

    def suspects(self, text: str) -> list[str]:
        """Return the identifiers whose windows occur in `text` (escapes undone, any case)."""
        if not self._by_window:
            return []
        plain = _ESCAPE.sub(_unescape_one, text).casefold()
        found: dict[str, None] = {}
        for run in _RUN.findall(plain):
            for i in range(len(run) - MIN_RUN + 1):
                for itr in self._by_window.get(run[i : i + MIN_RUN], ()):
                    found[itr] = None
        return list(found)

    def __call__(self, text: str) -> str:
        """Return `text` with every run of 8+ characters of an identifier redacted."""
        for itr in self.suspects(text):
            text = _hide_one(text, itr)
        return text


def _hide_one(text: str, itr: str) -> str:
    pattern = _pattern(itr)
    shown = "..." + itr[-_SHOWN:]
    while True:  # a replacement can complete a new run with what follows; each pass shrinks
        hidden = pattern.sub(shown, text)
        if hidden == text:
            return text
        text = hidden


def hide(text: str, itrs: Iterable[str]) -> str:
    """Return `text` (its first `SCAN_CHARS` characters) with no 8-run of any identifier."""
    text = text[:SCAN_CHARS]
    itrs = tuple(itrs)
    return Hider(itrs)(text) if itrs else text


def printable(text: str) -> str:
    """Return `text` with control characters (C0, C1, DEL, format) escaped as repr() does.

    A terminal acts on ESC, CSI and friends; a message must only ever be read.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def cut(text: str, limit: int) -> str:
    """Return `text` cut to `limit` characters, with ``...`` when something was dropped."""
    return text if len(text) <= limit else text[:limit] + "..."


def _encoding(body: bytes, wire_format: str | None, content_type: str | None) -> str:
    """Return the encoding a body's format says (BOM, XML declaration, charset, sniffing)."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return encoding
    if wire_format == "xml" or body.startswith(b"<?xml"):
        declared = _XML_ENCODING.match(body)
        if declared:
            return declared.group(1).decode("ascii")
    elif wire_format != "json" and content_type:
        charset = _CHARSET.search(content_type)
        if charset:
            return charset.group(1)
    return json.detect_encoding(body)  # UTF-16/32 without a BOM, by its zero bytes


def body_text(
    body: bytes, wire_format: str | None = None, content_type: str | None = None
) -> str | None:
    """Decode (a prefix of) `body` as its format says; None if it is not text in it.

    JSON by RFC 8259's detection, XML by its BOM or declaration, anything else by the
    Content-Type charset, else by sniffing for UTF-16/32, else UTF-8. Text holding a NUL
    (a wide encoding read as a narrow one) counts as undecodable, not as text.
    """
    try:
        codec = codecs.lookup(_encoding(body, wire_format, content_type))
        if not codec._is_text_encoding:  # hex, base64, rot13: not a charset
            return None
        decoder = codec.incrementaldecoder("strict")
        text = decoder.decode(body[: 4 * SCAN_CHARS], final=len(body) <= 4 * SCAN_CHARS)
    except (LookupError, ValueError, TypeError):  # an unknown codec, or not text in it
        return None
    return text if isinstance(text, str) and "\x00" not in text else None


def excerpt(
    body: bytes,
    limit: int,
    itrs: Iterable[str] = (),
    *,
    wire_format: str | None = None,
    content_type: str | None = None,
) -> str:
    """Return what a message shows of a body: its text quoted, identifiers hidden, then cut.

    A body that is not text in its encoding is described, never shown as bytes.
    """
    text = body_text(body, wire_format, content_type)
    if text is None:
        return f"<{len(body)} bytes that are not text>"
    hidden = hide(text, itrs)
    return repr(hidden[:limit]) + ("..." if len(hidden) > limit else "")
