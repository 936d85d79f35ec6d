"""Character references padded with zeros: XML and HTML allow any number of leading zeros.

``&#x000000053;`` is ``S`` as much as ``&#x53;`` is (XML 1.0 CharRef, HTML numeric
character reference), so a server may spell an echoed identifier that way.
"""

from __future__ import annotations

import pytest

from lacecal_async.redaction import hide
from tests.support.checks import fragment_of

ITR = "SECRETabcd1234XY"


@pytest.mark.parametrize(
    "echo",
    [
        "".join(f"&#x{ord(c):012x};" for c in ITR),  # 12 hex digits
        "".join(f"&#{ord(c):015d};" for c in ITR),  # 15 decimal digits
        "".join(f"&amp;#X{ord(c):010X};" for c in ITR),  # escaped once more, 10 hex digits
    ],
    ids=["hex", "decimal", "escaped-hex"],
)
def test_a_reference_padded_with_zeros_is_hidden(echo: str) -> None:
    shown = hide(f"<id>{echo}</id>", [ITR])
    assert fragment_of(shown, ITR) is None
    assert shown == f"<id>...{ITR[-4:]}</id>"


def test_a_reference_past_unicode_is_not_a_character() -> None:
    # a huge code point stays as written (and breaks nothing): no character to read
    text = "&#x0000110000;&#99999999999;"
    assert hide(text, [ITR]) == text
