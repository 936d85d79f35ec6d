"""A record's strings are hidden as the one text they make side by side, and a hider grows.

Fields lie next to each other in a database row or a file, so an identifier a server splits
across two of them (a name ending in its head, a manufacturer starting with its tail) is
cut from both; fields with no run are returned as they were.
"""

from __future__ import annotations

import pytest

from lacecal_async.redaction import Hider
from tests.support.windows import assert_no_leak, fullwidth, leak

ITR = "SECRETabcd1234XY"
OTHER = "q7Wz0Kp3Lm9Xr2Tb"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (["Tejado SECR", "ETab SMA", "M", ""], ["Tejado ...", "...34XY SMA", "M", ""]),
        (["a SECRET", "", "abcd b"], ["a ...", "", "...34XY b"]),  # over an empty field
        (["x SEC", "RET", "ab y"], ["x ...", "...", "...34XY y"]),  # over three
        ([f"n {ITR}", "SMA"], ["n ...34XY", "SMA"]),  # inside one field
        ([fullwidth("SECRE"), fullwidth("Tabc") + " z"], ["...", "...34XY z"]),
        (["Inversor Año", "Ñ SECRETa", "bcd"], ["Inversor Año", "Ñ ...", "...34XY"]),
    ],
)
def test_a_run_across_fields_is_cut_from_each(fields: list[str], expected: list[str]) -> None:
    hider = Hider([ITR, OTHER])
    shown = hider.fields(fields)
    assert shown == expected
    for seam in ("", " ", "\x00"):
        assert_no_leak(seam.join(shown), [ITR, OTHER])


def test_fields_without_a_run_come_back_as_they_were() -> None:
    fields = ["Inversor B", "Fronius", "Symo 20.0-3-M", "8997229604", ""]
    assert Hider([ITR, OTHER]).fields(fields) == fields
    assert Hider([]).fields(fields) == fields
    assert Hider([ITR]).fields([]) == []


def test_a_hider_grows_and_is_reused() -> None:
    hider = Hider([ITR])
    text = f"{ITR} and {OTHER.lower()}"
    assert leak(hider(text), [OTHER]) is not None
    hider.add([OTHER, ITR])
    assert len(hider) == 2
    assert OTHER in hider
    assert "x" not in hider
    assert_no_leak(hider(text), [ITR, OTHER])
    assert Hider.of(hider) is hider
    assert Hider.of([ITR]) is not hider
    twins = Hider([ITR, ITR[:8] + OTHER[8:]])  # two identifiers sharing a window
    assert sorted(twins.suspects(ITR[:8])) == sorted([ITR, ITR[:8] + OTHER[8:]])
