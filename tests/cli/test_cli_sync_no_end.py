"""``lacecal sync --end``: the one spelling has ``--end`` on fetch, export and stats, so a
user writes it on sync too. Sync has no end (it syncs up to now); argparse's prefix matching
took ``--end`` for ``--endpoint`` and answered about an endpoint ("argument --endpoint:
invalid choice: '2024-02'"), or, given an endpoint's name, ran with that endpoint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lacecal_async.cli import main


@pytest.mark.parametrize("value", ["2024-02", "meter"])
def test_sync_end_is_a_usage_error_about_the_end(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "x.db"
    assert main(["sync", str(db), "--start", "2024-01", "--end", value]) == 2
    err = capsys.readouterr().err
    assert "argument --end:" in err, err
    assert "argument --endpoint" not in err, err
    assert "sync has no end" in err, err
    assert not db.exists()
