"""``lacecal stats --continue-from`` with a hand-edited or foreign file: one line, exit 2.

A previous output is read before anything is opened; whatever it holds (a start that is
no ISO time, an offset on some starts and not others, a sum that is no finite number), the
command names the problem on one line and exits 2, never with a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lacecal_async.cli import main

AWARE = "2024-10-27T00:00:00+00:00"


def statistic(sid: str, resume: Any, stats: list[Any]) -> dict[str, Any]:
    return {"metadata": {"statistic_id": sid}, "resume": resume, "stats": stats}


BAD = {
    "naive first row beside an aware resume": [
        statistic("lacecal:a_load", None, [{"start": "2024-10-27T00:00:00"}]),
        statistic("lacecal:b_load", {"start": AWARE, "sum": 1}, []),
    ],
    "first row not a time": [statistic("lacecal:a_load", None, [{"start": "garbage"}])],
    "first row a number": [statistic("lacecal:a_load", None, [{"start": 5}])],
    "sum not a number": [statistic("lacecal:a_load", {"start": AWARE, "sum": "nan"}, [])],
    "sum infinite": [statistic("lacecal:a_load", {"start": AWARE, "sum": 1e400}, [])],
    "sum beyond a float": [statistic("lacecal:a_load", {"start": AWARE, "sum": 10**400}, [])],
    "sum true": [statistic("lacecal:a_load", {"start": AWARE, "sum": True}, [])],
}


@pytest.mark.parametrize("content", list(BAD.values()), ids=list(BAD))
def test_a_bad_continuation_is_one_line_and_exit_2(
    content: list[Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "plants.db"
    db.touch()  # the continuation is read before the store is opened
    previous = tmp_path / "previous.json"
    previous.write_text(json.dumps(content).replace("Infinity", "1e400"))
    args = ["stats", str(db), "--by", "hour", "--start", "2024-10-26", "-o"]
    code = main([*args, str(tmp_path / "next.json"), "--continue-from", str(previous)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert err.count("\n") == 1
    assert err.startswith(f"lacecal: error: {previous}: ")
    assert not (tmp_path / "next.json").exists()
