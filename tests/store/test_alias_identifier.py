"""An alias holding an identifier is refused: a store never holds one (review 2, finding 02)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lacecal_async import fingerprint
from lacecal_async.cli import main
from lacecal_async.sync import SQLiteStore, SyncPlant
from lacecal_async.testing import make_plants

ITR = make_plants(1, seed=0)[0].itr


@pytest.mark.parametrize(
    "alias", [f"site-{ITR}", f"{ITR}x", f"a {ITR[:8]}{ITR[:8]} b", "x" * 16 + "-roof", ITR]
)
async def test_an_alias_with_16_letters_and_digits_in_a_row_is_refused(
    alias: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="16 or more ASCII letters and digits") as caught:
        SyncPlant(ITR, alias)
    assert ITR[:8] not in str(caught.value)
    async with SQLiteStore(tmp_path / "a.db") as store:
        with pytest.raises(ValueError, match="16 or more"):
            await store.add_plant(fingerprint(ITR), alias)
        assert await store.plants() == []


def test_shorter_runs_are_fine() -> None:
    # 15 in a row, of an identifier not in the run (8 of the plant's own: test_alias_windows)
    other = make_plants(2, seed=0)[1].itr
    assert SyncPlant(ITR, "roof-" + other[:15]).key == "roof-" + other[:15]
    assert SyncPlant(ITR, "site 2024-10-02 inverter-7").key == "site 2024-10-02 inverter-7"


def test_sync_refuses_such_an_alias_before_storing_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "f.db"
    other = make_plants(2, seed=0)[1].itr  # not in the run: only the 16-run rule refuses it
    for alias, reason in [
        (f"site-{other}", "16 or more ASCII letters and digits"),
        (f"site-{ITR}", "8 or more characters of an identifier"),
    ]:
        argv = ["sync", str(db), f"{alias}={ITR}", "--since", "2024-10-04"]
        assert main([*argv, "--base-url", "http://127.0.0.1:9/APIv1/", "-q"]) == 2
        err = capsys.readouterr().err
        assert reason in err
        assert ITR[:8] not in err
        assert other[:8] not in err
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert ITR.encode() not in stored
