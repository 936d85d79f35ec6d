"""The hiding of echoed identifiers, piece by piece: forms, fleets, bodies, terminal text."""

from __future__ import annotations

import random
import string

import pytest

from lacecal_async.redaction import Hider, body_text, excerpt, hide, printable
from tests.support.checks import fragment_of

ITR = "SECRETabcd1234XY"


@pytest.mark.parametrize(
    "echo",
    [
        ITR,
        ITR.lower(),
        "ECRETabcd1234X",  # a part of 14
        "\\u0053\\u0045CRETabcd1234XY",
        "&#0083;&#x45;&#X43;RETabcd1234XY",
        "%53%45%43%52ETabcd1234XY",
        "\\x53ECRETabcd1234XY",
        "".join(f"&amp;#{ord(c)};" for c in ITR),  # escaped twice: XML in HTML
        "".join(f"%25{ord(c):02x}" for c in ITR),  # percent-encoded twice
        "SECR&#8203;ETa&shy;bcd&nbsp;12",  # separators as references, numeric and named
        "SECRETab" + "SECRETab",  # two runs of 8, back to back
        "ABCD1234xy" + ITR,
    ],
)
def test_every_form_of_a_run_of_eight_is_hidden(echo: str) -> None:
    shown = hide(f"id={echo};", [ITR])
    assert fragment_of(shown, ITR) is None
    assert shown.startswith("id=")
    assert shown.endswith(";")


def test_seven_characters_and_other_text_are_left_alone() -> None:
    text = "SECRETa 1234XY &#8364; %zz \\ud800 &#99999999; fine"
    assert hide(text, [ITR]) == text


def test_a_fleet_is_indexed_and_only_suspects_are_searched() -> None:
    rng = random.Random(1)
    fleet = ["".join(rng.choices(string.ascii_letters + string.digits, k=16)) for _ in range(2000)]
    hider = Hider([*fleet, ITR, "short"])
    assert hider.suspects("nothing here, not even 12345678") == []
    line = f"a {fleet[1234]} and {ITR.upper()} and {fleet[7][3:]}"
    assert sorted(hider.suspects(line)) == sorted([fleet[1234], ITR, fleet[7]])
    shown = hider(line)
    for itr in (fleet[1234], fleet[7], ITR):
        assert fragment_of(shown, itr) is None
    assert Hider([])(line) == line
    assert hide(line, []) == line


@pytest.mark.parametrize(
    ("body", "wire_format", "content_type", "expected"),
    [
        ("é ok".encode("utf-16"), "json", None, "é ok"),
        ("x".encode("utf-32-le"), None, None, "x"),
        ('<?xml version="1.0" encoding="latin-1"?><a>é</a>'.encode("latin-1"), "xml", None, None),
        ("é".encode("cp1252"), None, "text/html; charset=cp1252", "é"),
        (b"abc", None, "text/plain; charset=hex", None),
        (b"abc", None, "text/plain; charset=no-such-codec", None),
        (b"\xff\xfe" + b"a\x00\x00\x00", None, None, None),  # UTF-16 read of UTF-32: NULs
        (b"\xc3(", "json", "text/html; charset=latin-1", None),  # JSON ignores the header
    ],
)
def test_bodies_are_read_as_their_format_says(
    body: bytes, wire_format: str | None, content_type: str | None, expected: str | None
) -> None:
    text = body_text(body, wire_format, content_type)
    if expected is None and wire_format == "xml":
        assert text is not None
        assert text.endswith("<a>é</a>")
    else:
        assert text == expected


def test_an_excerpt_is_hidden_then_cut_and_quoted() -> None:
    body = ("A" * 195 + ITR + "B" * 10).encode("utf-16")
    shown = excerpt(body, 200, [ITR])
    assert shown == repr("A" * 195 + "...34") + "..."
    assert excerpt(b"\xc3(", 200) == "<2 bytes that are not text>"


def test_printable_escapes_what_a_terminal_acts_on() -> None:
    assert printable("plain text, ñ, 日本") == "plain text, ñ, 日本"
    assert (
        printable("\x1b]0;t\x07\x9b2J\u202e\n\t\x7f") == "\\x1b]0;t\\x07\\x9b2J\\u202e\\n\\t\\x7f"
    )


@pytest.mark.parametrize(
    "echo",
    [
        "\x00".join(ITR),  # UTF-16 code units read as text
        "\x01".join(ITR),
        "\t".join(ITR),
        " ".join(ITR),
        "\u200b".join(ITR),  # zero-width spaces
        "\x85".join(ITR),  # a C1 control
        "\\u0000".join(ITR),  # JSON of UCS-2 (PHP's json_encode)
        "\\x00".join(ITR),  # bytes quoted by repr(): b'S\x00E\x00...'
        "\\\\x00".join(ITR),  # ... and quoted again
        "&#0;".join(ITR),
        "%00".join(ITR),
        "\\u0053\x00\\u0045\x00&#67;\x00R\x00E\x00T\x00a\x00b",  # escapes and separators mixed
        "s e c r e t a b",  # 8 of them, another case
        "S.E.C-R_E/T:a;b",
    ],
)
def test_a_run_of_eight_with_separators_between_its_characters_is_hidden(echo: str) -> None:
    shown = hide(f"id={echo};", [ITR])
    assert fragment_of(shown, ITR) is None
    assert fragment_of(printable(shown), ITR) is None
    assert shown.startswith("id=")
    assert shown.endswith(";")


def test_prose_around_and_between_the_identifiers_characters_is_left_alone() -> None:
    prose = [
        "the plant SECRET is at abcd road, 1234 XY",  # words and separators, no 8-run
        "S\x00E\x00C\x00R\x00E\x00T\x00a",  # 7 characters with NULs between them
        "ITR ...34XY: HTTP 500 Internal Server Error",
        "error: the identifier is not known to this server (code 1234)",
    ]
    for text in prose:
        assert hide(text, [ITR]) == text
