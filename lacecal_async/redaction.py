r"""Hiding identifiers in text a server may have echoed, in whatever form it chose.

A server can send the identifier back raw, in another case, or encoded: JSON ``\u0053``,
XML ``&#83;`` / ``&#x53;``, percent ``%53``, one character at a time or all at once. The
rule: no run of 8 consecutive characters of an identifier survives, whatever mix of those
forms spells it, and whatever separators stand between its characters: NUL (UTF-16 code
units read as text), other controls, whitespace, zero-width characters, punctuation, or
escapes of any of them (``S\\u0000E\\u0000C...``, a quoted ``b'S\\x00E\\x00C...'``). A
character counts as what it reads as once NFKC-normalised and case-folded, so fullwidth
(U+FF33 for ``S``), mathematical (U+1D412) and enclosed (U+24C8) spellings are the
identifier too. A run, separators inside it included, is replaced by the redacted form
(``...WXYZ``). Letters and digits not in the run break it, so prose is left alone,
character for character.

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
import unicodedata
from array import array
from collections.abc import Iterable, Sequence
from typing import Final

__all__ = ["MIN_RUN", "Hider", "body_text", "cut", "excerpt", "hide", "printable"]

#: Shortest run of an identifier's characters that is hidden.
MIN_RUN: Final = 8
#: Characters of a text examined (and shown at most); a longer text is cut here first.
SCAN_CHARS: Final = 1 << 16
_SHOWN = 4
#: One character escaped: JSON/Python, XML/HTML references (with any leading zeros, as XML
#: allows; also escaped once more, ``&amp;#83;``), percent (also of a percent, ``%2553``).
#: Group `dec` is decimal; a named reference (``&shy;``, ``&nbsp;``) counts as a separator,
#: whatever it names.
_ESCAPE = re.compile(
    r"\\u(?P<u>[0-9a-fA-F]{4})|\\x(?P<x>[0-9a-fA-F]{2})"
    r"|&(?:amp;)?#[xX]0*(?P<hex>[0-9a-fA-F]{1,8});?|&(?:amp;)?#0*(?P<dec>[0-9]{1,10});?"
    r"|%(?:25)?(?P<pct>[0-9a-fA-F]{2})|(?P<named>&[A-Za-z][A-Za-z0-9]{1,31};)"
)
#: Characters as a server may spell them: an escape (a named group), ASCII letters and digits,
#: or one other character (which may read as letters or digits once normalised: ``Ⓢ``).
_UNIT = re.compile(_ESCAPE.pattern + r"|[A-Za-z0-9]+|[^\x00-\x7f]")
#: Anything between an identifier's characters that does not break a run.
_SEPARATORS = re.compile(r"[\W_]+")
#: What stands between a record's fields when they are read as one text (a separator).
_SEAM = "\x00"
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
    name = str(match.lastgroup)  # an escape always has one
    if name == "named":
        return " "
    code = int(match[name], 10 if name == "dec" else 16)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return match.group(0)
    return chr(code)


@functools.lru_cache(maxsize=4096)
def _fold(char: str) -> str:
    """Return the letters and digits one character reads as: NFKC, case-folded, NFKC again.

    Fullwidth, mathematical and enclosed ``S`` read as ``s``, ``ß`` as ``ss``; a separator
    reads as nothing.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", char).casefold())
    return "".join(c for c in folded if c.isalnum())


def _plain(text: str) -> str:
    """Return the letters and digits `text` spells: escapes undone, normalised, folded.

    The same reading as `_units`, without positions: what `Hider.suspects` scans.
    """
    text = _ESCAPE.sub(_unescape_one, text)
    if text.isascii():
        return _SEPARATORS.sub("", text.casefold())
    return "".join(map(_fold, text))


def _units(text: str) -> tuple[str, list[int], list[int]]:
    r"""Return the letters and digits `text` spells (escapes undone, normalised), and where.

    Everything else is a separator and dropped: NUL and other controls, whitespace,
    zero-width characters, punctuation, and escapes of any of them (``\u0000``). Each kept
    character comes with the start and end of its spelling in `text` (a character that
    reads as two, ``ß``, gives both the same span).
    """
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for match in _UNIT.finditer(text):
        start, end = match.span()
        if match.lastgroup is None:
            run = match.group(0)
            if run.isascii():  # ASCII letters and digits: one character each, as they are
                chars.append(run.lower())
                starts.extend(range(start, end))
                ends.extend(range(start + 1, end + 1))
                continue
            folded = _fold(run)  # one other character
        else:
            folded = _fold(_unescape_one(match))  # an escape of a separator reads as nothing
        for char in folded:
            chars.append(char)
            starts.append(start)
            ends.append(end)
    return "".join(chars), starts, ends


def _key(window: str) -> int | None:
    """Return a window of 8 ASCII characters as one 64-bit number, else None."""
    return int.from_bytes(window.encode("ascii"), "big") if window.isascii() else None


#: Fibonacci hashing: a window's number times this, top bits, is its first slot.
_SPREAD: Final = 0x9E3779B97F4A7C15
_BITS: Final = 64


class _WindowTable:
    """Every identifier's windows as 64-bit numbers in an open-addressing table of arrays.

    About 12 bytes a slot, at most half of them used: some 300 bytes an identifier (9
    windows), where a dict of window strings took about 950. A follow of 100,000 plants
    gives its client every identifier; this is what each costs it. Each window has one
    slot: the owners after the first of a window that identifiers share (a common prefix,
    sequential identifiers) are kept in `_more`, so probes stay short however many share it.
    """

    __slots__ = ("_bits", "_keys", "_more", "_owners", "_used")

    def __init__(self) -> None:
        self._bits = 4
        self._keys = array("Q", bytes(8 << self._bits))  # 0: a free slot (no window is 0)
        self._owners = array("I", bytes(4 << self._bits))
        self._more: dict[int, list[int]] = {}
        self._used = 0

    def _slot(self, key: int) -> int:
        """Return the slot holding `key`, else the free slot where it would go."""
        keys, mask = self._keys, len(self._keys) - 1
        slot = ((key * _SPREAD) & 0xFFFFFFFFFFFFFFFF) >> (_BITS - self._bits)
        while (stored := keys[slot]) and stored != key:
            slot = (slot + 1) & mask
        return slot

    def add(self, windows: Sequence[int], owner: int) -> None:
        """Note that the identifier at `owner` has these windows (a window may repeat)."""
        while 2 * (self._used + len(windows)) > len(self._keys):
            self._grow()
        keys = self._keys
        for key in windows:
            slot = self._slot(key)
            if keys[slot]:  # another identifier has this window too
                self._more.setdefault(key, []).append(owner)
                continue
            keys[slot] = key
            self._owners[slot] = owner
            self._used += 1

    def scan(self, data: bytes) -> list[int]:
        """Return the owners of every window of `data` (ASCII text), in its order."""
        keys, owners, more = self._keys, self._owners, self._more
        found: list[int] = []
        for i in range(len(data) - MIN_RUN + 1):
            key = int.from_bytes(data[i : i + MIN_RUN], "big")
            slot = self._slot(key)
            if keys[slot]:  # no list made for the usual window, which no identifier has
                found.append(owners[slot])
                found += more.get(key, ())
        return found

    def owners_of(self, key: int) -> list[int]:
        """Return the owners of window `key` (none, usually)."""
        slot = self._slot(key)
        if not self._keys[slot]:
            return []
        return [self._owners[slot], *self._more.get(key, ())]

    def _grow(self) -> None:
        keys, owners = self._keys, self._owners
        self._bits += 1
        self._keys = array("Q", bytes(8 << self._bits))
        self._owners = array("I", bytes(4 << self._bits))
        for key, owner in zip(keys, owners, strict=True):
            if key:
                slot = self._slot(key)
                self._keys[slot] = key
                self._owners[slot] = owner


def _windows(folded: str) -> frozenset[str]:
    return frozenset(folded[i : i + MIN_RUN] for i in range(len(folded) - MIN_RUN + 1))


def _squeezed(itr: str) -> str:
    """Return an identifier's letters and digits, read as `_units` reads text."""
    return _plain(itr)


class _Target:
    """One identifier's 8-character windows, and where each starts in it."""

    __slots__ = ("first", "folded", "offsets", "shown")

    def __init__(self, itr: str) -> None:
        self.folded = _squeezed(itr)
        self.shown = "..." + itr[-_SHOWN:]
        self.offsets: dict[str, list[int]] = {}
        for i in range(len(self.folded) - MIN_RUN + 1):
            self.offsets.setdefault(self.folded[i : i + MIN_RUN], []).append(i)
        #: Finds the next window anywhere (leftmost first).
        self.first = re.compile("|".join(map(re.escape, self.offsets)))

    def runs(self, chars: str) -> list[tuple[int, int]]:
        """Return the runs (first, last + 1) of 8+ consecutive characters of the identifier.

        From each start the run extends as far along the identifier as `chars` follows it.
        """
        found: list[tuple[int, int]] = []
        folded, size = self.folded, len(chars)
        match = self.first.search(chars)
        while match is not None:
            i = match.start()
            longest = 0
            for j in self.offsets[match.group(0)]:
                k = MIN_RUN
                while i + k < size and j + k < len(folded) and chars[i + k] == folded[j + k]:
                    k += 1
                longest = max(longest, k)
            found.append((i, i + longest))
            match = self.first.search(chars, i + longest)
        return found

    def cut(self, fields: list[str]) -> list[str]:
        """Return `fields` with every run of their joined text replaced, field by field.

        Each field keeps what lies outside a run; a run's piece in a field becomes
        ``...`` (``...WXYZ`` where the run ends), so letters only ever get fewer.
        """
        joined = _SEAM.join(fields)
        chars, starts, ends = _units(joined)
        spans = [(starts[first], ends[stop - 1]) for first, stop in self.runs(chars)]
        out, lo = [], 0
        for field in fields:
            hi = lo + len(field)
            pieces, last = [], lo
            for start, end in spans:
                if start < hi and end > lo and field:
                    pieces += [joined[last : max(start, lo)], self.shown if end <= hi else "..."]
                    last = min(end, hi)
            pieces.append(joined[last:hi])
            out.append("".join(pieces))
            lo = hi + len(_SEAM)
        return out

    def hide(self, text: str) -> str:
        """Return `text` with every run replaced, separators inside it included."""
        while True:  # a replacement can complete a new run with what follows; each pass shrinks
            chars, starts, ends = _units(text)
            runs = self.runs(chars)
            if not runs:
                return text
            pieces, last = [], 0
            for first, stop in runs:
                pieces += [text[last : starts[first]], self.shown]
                last = ends[stop - 1]
            pieces.append(text[last:])
            text = "".join(pieces)


class Hider:
    """Hides runs of any of a set of identifiers; cheap when a text holds none.

    A run is 8 or more consecutive letters and digits of an identifier, whatever separators
    stand between them (a NUL between UTF-16 code units is no break). An index of every
    identifier's 8-character windows finds which identifiers a text may hold (after undoing
    escapes, width and case and dropping separators), so a fleet of thousands costs one
    pass per text. `add` indexes more identifiers (a client learns its plants as it goes).
    """

    def __init__(self, itrs: Iterable[str] = ()) -> None:
        #: The identifiers known, and in the order added (the index's owners are positions).
        self._itrs: set[str] = set()
        self._order: list[str] = []
        self._table = _WindowTable()
        #: Windows that are not 8 ASCII characters (none of a valid identifier's): by text.
        self._other: dict[str, tuple[str, ...]] = {}
        self.add(itrs)

    @classmethod
    def of(cls, hide: Iterable[str] | Hider) -> Hider:
        """Return `hide` if it is a Hider already, else a Hider of its identifiers."""
        return hide if isinstance(hide, Hider) else cls(hide)

    def add(self, itrs: Iterable[str]) -> None:
        """Hide these identifiers too (one already known costs a set lookup)."""
        for itr in itrs:
            if itr in self._itrs:
                continue
            self._itrs.add(itr)
            owner = len(self._order)
            self._order.append(itr)
            keys = []
            for window in _windows(_squeezed(itr)):
                key = _key(window)
                if key is None:
                    self._other[window] = (*self._other.get(window, ()), itr)
                else:
                    keys.append(key)
            self._table.add(keys, owner)

    def __contains__(self, itr: object) -> bool:
        return itr in self._itrs

    def __len__(self) -> int:
        return len(self._itrs)

    def suspects(self, text: str) -> list[str]:
        """Return the identifiers whose windows occur in `text` (read as runs are read)."""
        if not self._itrs:
            return []
        plain = _plain(text)
        order, other = self._order, self._other
        if plain.isascii():  # the usual case: every window is a number of the table's
            owners = self._table.scan(plain.encode("ascii"))
            return list(dict.fromkeys(order[owner] for owner in owners))
        found: dict[str, None] = {}
        for i in range(len(plain) - MIN_RUN + 1):
            window = plain[i : i + MIN_RUN]
            key = _key(window)
            if key is not None:
                found.update(dict.fromkeys(order[owner] for owner in self._table.owners_of(key)))
            elif other and window in other:
                found.update(dict.fromkeys(other[window]))
        return list(found)

    def __call__(self, text: str) -> str:
        """Return `text` with every run of 8+ characters of an identifier redacted."""
        for itr in self.suspects(text):
            text = _target(itr).hide(text)
        return text

    def fields(self, texts: Sequence[str]) -> list[str]:
        """Return a record's `texts` hidden each, and as the one text they make side by side.

        Fields lie next to each other in a file or a table row, so a run that crosses from
        one field into the next is hidden too: cut from both (the piece that ends it shows
        the redacted form, the others ``...``).
        """
        fields = list(texts)
        changed = True
        while changed:  # one pass over the joined text when it holds no run (the usual case)
            changed = False
            for itr in self.suspects(_SEAM.join(fields)):
                cut = _target(itr).cut(fields)
                changed = changed or cut != fields
                fields = cut
        return fields


@functools.lru_cache(maxsize=1024)
def _target(itr: str) -> _Target:
    return _Target(itr)


def hide(text: str, itrs: Iterable[str] | Hider) -> str:
    """Return `text` (its first `SCAN_CHARS` characters) with no 8-run of any identifier."""
    return Hider.of(itrs)(text[:SCAN_CHARS])


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
    itrs: Iterable[str] | Hider = (),
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
