"""Identifiers spelled in other widths and styles are hidden too (NFKC before matching).

A server may echo an identifier in fullwidth forms (U+FF33 for ``S``), mathematical
alphanumerics (U+1D412), enclosed letters (U+24C8), or escapes of them; each reads as
the identifier once normalised (NFKC) and case-folded. Innocent text around a run, and
text in those forms that spells no identifier, is left exactly as it was.
"""

from __future__ import annotations

import pytest

from lacecal_async.redaction import Hider, hide
from tests.support.windows import circled, fullwidth, leak, math_bold

ITR = "SECRETabcd1234XY"
OTHER = "q7Wz0Kp3Lm9Xr2Tb"


def nfkc_fragment(text: str, itr: str) -> str | None:
    return leak(text, [itr])


@pytest.mark.parametrize(
    "echo",
    [
        fullwidth(ITR),
        fullwidth(ITR[2:10]),  # a run of 8
        fullwidth(ITR).lower(),
        math_bold(ITR),
        math_bold(ITR[8:]),
        circled(ITR),
        "".join(f"\\u{ord(c):04x}" for c in fullwidth(ITR)),  # JSON escapes of fullwidth
        "".join(f"&#{ord(c)};" for c in math_bold(ITR[:9])),  # XML references of bold
        " ".join(fullwidth(ITR)),  # spaced out
        "\u3000".join(fullwidth(ITR[:8])),  # ideographic spaces between
        fullwidth(ITR[:4]) + ITR[4:8] + math_bold(ITR[8:12]),  # mixed styles
    ],
)
def test_other_widths_and_styles_of_an_identifier_are_hidden(echo: str) -> None:
    assert nfkc_fragment(echo, ITR) is not None  # the check itself sees the echo
    shown = hide(f"id=«{echo}»;", [ITR])
    assert nfkc_fragment(shown, ITR) is None
    assert shown.startswith("id=«")
    assert shown.endswith("»;")
    assert Hider([OTHER, ITR]).suspects(echo) == [ITR]


def test_only_the_run_is_replaced() -> None:
    assert hide(f"Tejado {fullwidth(ITR)} Ñ", [ITR]) == "Tejado ...34XY Ñ"
    assert hide(f"Cubierta·{math_bold(ITR)}·Peñalara", [ITR]) == "Cubierta·...34XY·Peñalara"


@pytest.mark.parametrize(
    "text",
    [
        "Inversor Año Ñ, Nave Logroño 2, «El Páramo», Müller, straße, ﬁnal",
        fullwidth("ROOF 2024 inverter") + " " + math_bold("Bold7"),
        fullwidth(ITR[:7]) + " " + math_bold(ITR[9:]),  # 7 characters each, apart
        circled("abc") + "日本語のテキスト" + "①②③",
    ],
)
def test_innocent_text_in_any_width_is_left_alone(text: str) -> None:
    assert hide(text, [ITR, OTHER]) == text
    assert Hider([ITR, OTHER]).suspects(text) == []
