"""A `Hider` of a large fleet finds each identifier's runs, and only those, from a compact index.

The index keeps every identifier's 8-character windows as 64-bit numbers in a hash table
of arrays (about 300 bytes an identifier, where a dict of strings took about 950): a follow
of 100,000 plants gives its client every identifier.
"""

from __future__ import annotations

import random
import string

from lacecal_async.redaction import Hider

ALNUM = string.ascii_letters + string.digits


def _itrs(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ALNUM) for _ in range(16)) for _ in range(count)]


def test_every_window_of_thousands_of_identifiers_names_its_own() -> None:
    itrs = _itrs(3000, seed=5)
    hider = Hider(itrs[:1000])
    hider.add(itrs[1000:])  # added later: the table grows, nothing is lost
    assert len(hider) == 3000
    for itr in itrs[::7]:
        for start in range(9):
            text = f"error: {itr[start : start + 8]} was refused"
            assert hider.suspects(text) == [itr]
            assert itr[start : start + 8] not in hider(text)
    assert hider.suspects("a text that holds no identifier at all, however long " * 20) == []


def test_a_window_two_identifiers_share_names_both() -> None:
    first, second = "AAAAbbbbCCCC1234", "zzzzbbbbCCCC9876"
    hider = Hider([first, second])
    assert sorted(hider.suspects("<< bbbbcccc >>")) == sorted([first, second])
    assert sorted(hider.suspects("zzzzbbbbcccc")) == sorted([first, second])


def test_a_text_with_other_letters_is_read_window_by_window() -> None:
    itr = _itrs(1, seed=9)[0]
    hider = Hider([itr])
    text = f"Wechselrichter «{itr[2:11]}» des Geräts außer Betrieb"
    assert hider.suspects(text) == [itr]
    assert itr[2:10] not in hider(text)


def test_an_identifier_beyond_ascii_is_still_hidden() -> None:
    # Not a valid ITR (the client refuses one), but a Hider takes any string it is given.
    odd = "ééééëëëë12345678"
    hider = Hider([odd, *_itrs(50, seed=3)])
    assert hider.suspects(f"name: {odd[:9]}!") == [odd]
    assert odd[:9] not in hider(f"name: {odd[:9]}!")
