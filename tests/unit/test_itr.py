"""ITR identifiers: exactly 16 ASCII letters and digits, and never shown whole."""

from __future__ import annotations

import hashlib
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lacecal_async import InvalidITRError, LacecalError, fingerprint, redact, validate_itr
from lacecal_async.itr import ITR_LENGTH

VALID = "AbCd0123456789Zz"
ALNUM = st.text(st.sampled_from(string.ascii_letters + string.digits), min_size=16, max_size=16)


@settings(deadline=None)  # a busy machine may stall one example: no speed test
@given(ALNUM)
def test_sixteen_ascii_letters_and_digits_are_valid(itr: str) -> None:
    assert validate_itr(itr) is itr


@pytest.mark.parametrize(
    "itr",
    [
        VALID[:-1],  # 15
        VALID + "0",  # 17
        "",
        VALID[:-1] + "-",
        VALID[:-1] + " ",
        VALID[:-1] + "\n",
        VALID[:-1] + "\uff11",  # FULLWIDTH DIGIT ONE: isdigit(), not ASCII
        VALID[:-1] + "ß",
        VALID[:-1] + "é",
        VALID[:-1] + "٣",  # ARABIC-INDIC DIGIT THREE
        VALID[:-4] + "ǅ" * 4,
        "\u0130" * 16,  # I WITH DOT: lower() would change the length
        VALID + "\n",  # re.match with $ would accept a trailing newline; fullmatch must not
    ],
)
def test_anything_else_is_an_invalid_itr(itr: str) -> None:
    with pytest.raises(InvalidITRError) as caught:
        validate_itr(itr)
    assert itr not in str(caught.value) or itr == ""
    assert str(ITR_LENGTH) in str(caught.value)


@pytest.mark.parametrize("itr", [None, 1234567890123456, VALID.encode(), [VALID], bytearray(16)])
def test_a_non_str_is_an_invalid_itr(itr: object) -> None:
    with pytest.raises(InvalidITRError, match=type(itr).__name__):
        validate_itr(itr)


def test_invalid_itr_is_a_value_error_and_a_lacecal_error() -> None:
    with pytest.raises(ValueError, match="invalid ITR"):
        validate_itr("short")
    assert issubclass(InvalidITRError, LacecalError)


@settings(deadline=None)  # a busy machine may stall one example: no speed test
@given(ALNUM)
def test_redact_shows_only_the_last_four(itr: str) -> None:
    shown = redact(itr)
    assert shown == "..." + itr[-4:]
    assert itr not in shown
    assert itr[:12] not in shown


@settings(deadline=None)  # a busy machine may stall one example: no speed test
@given(st.text(max_size=40))
def test_redact_never_contains_a_whole_identifier_of_any_text(text: str) -> None:
    shown = redact(text)
    if len(text) >= 5:
        assert text not in shown
    assert len(shown) <= max(len("...") + 4, len(f"<str of {len(text)} characters>"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "<str of 3 characters>"),
        ("abcdefg", "<str of 7 characters>"),  # too short to hide the rest
        ("abcdefgh", "...efgh"),
        ("abc-efgh-ijkl-mnop", "<str of 18 characters>"),  # not alnum: maybe not an ITR
        (VALID.encode(), "<bytes>"),
        (None, "<NoneType>"),
    ],
)
def test_redact_of_odd_values(value: object, expected: str) -> None:
    assert redact(value) == expected


def test_fingerprint_is_the_documented_sha256_prefix() -> None:
    # A known answer, so a change of algorithm cannot pass unnoticed.
    assert fingerprint(VALID) == "itr-" + hashlib.sha256(VALID.encode("ascii")).hexdigest()[:12]
    assert fingerprint(VALID) == "itr-69c121cca735"
    assert fingerprint(VALID) == fingerprint("AbCd0123456789Zz")  # stable across calls
    assert fingerprint(VALID) != fingerprint(VALID.swapcase())  # identifiers are case-sensitive


@settings(deadline=None)  # a busy machine may stall one example: no speed test
@given(ALNUM)
def test_fingerprint_holds_no_run_of_the_identifier(itr: str) -> None:
    key = fingerprint(itr)
    assert len(key) == 16
    assert key.startswith("itr-")
    assert all(c in "0123456789abcdef" for c in key[4:])
    assert not any(itr[i : i + 8] in key for i in range(ITR_LENGTH - 7))


@pytest.mark.parametrize("bad", ["", VALID[:-1], VALID + "0", VALID[:-1] + "é", None, 12])
def test_fingerprint_refuses_what_validate_refuses(bad: object) -> None:
    with pytest.raises(InvalidITRError) as caught:
        fingerprint(bad)  # type: ignore[arg-type]
    assert VALID[:-1] not in str(caught.value)
