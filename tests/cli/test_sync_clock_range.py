"""A trial clock (``--clock-speed``/``--clock-epoch``) that reads a time no date can hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from lacecal_async.cli import main
from lacecal_async.testing import make_plants

ITR = make_plants(1, seed=3)[0].itr


@pytest.mark.parametrize("epoch", ["0", "253402300000"])
def test_a_clock_out_of_range_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, epoch: str
) -> None:
    monkeypatch.setenv("LACECAL_LOG_TIMESTAMPS", "on")  # a terminal's default: stamped lines
    # 100000 times real time since 1970 is the year 5695339; 9999 run back, before 1970.
    argv = [
        *("sync", str(tmp_path / "s.db"), ITR, "--start", "2024-01-01"),
        *("--clock-speed", "100000", "--clock-epoch", epoch),
        *("--base-url", "http://127.0.0.1:1", "--retries", "0"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "--clock-speed" in err
    assert ITR[:8] not in err
