"""``lacecal status`` as a monitoring check: its exit status is the plants' health verdict.

Issue 24: status exited 0 with failing plants, and counted the time between ``--since`` and
a plant's first record (where the server has nothing) as a hole, which fired every alert.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from lacecal_async import fingerprint
from lacecal_async.cli import main
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.cli import BROKEN, FAST, threaded_server

DAY = 86400
NOW = int(time.time())
#: Two days of 600 s records up to the server's clock, no gap; and one with gaps.
FRESH, GAPPY = (
    attrs.evolve(p, interval=600, first=(NOW - 2 * DAY) // 600 * 600)
    for p in make_plants(2, seed=24, start=NOW - 2 * DAY, days=2, follow_clock=True, gaps=False)
)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLacecalServer]:
    with threaded_server([FRESH, BROKEN]) as fake:
        yield fake


def _sync(server: FakeLacecalServer, db: Path, *plants: str, since: int) -> int:
    args = [
        "sync", str(db), *plants, "--start", str(since), "--base-url", server.base_url,
        "--rate", FAST, "--retries", "0", "--timeout", "10", "-q", "--endpoint", "meter",
    ]  # fmt: skip
    return main(args)


def _status(db: Path, capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, Any]:
    capsys.readouterr()
    code = main(["status", str(db), "--json", *options])
    return code, json.loads(capsys.readouterr().out)


def test_since_long_before_the_first_record_is_no_hole_and_a_fresh_store_is_ok(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.db"
    # --since a month before the server's first record: nothing there to miss.
    assert _sync(server, db, f"roof={FRESH.itr}", since=NOW - 30 * DAY) == 0
    code, (row,) = _status(db, capsys, "--max-lag", "1h")
    assert (row["holes"], row["missing_periods"]) == (0, 0)
    assert row["first_record"] == FRESH.first
    assert (row["verdict"], row["problems"]) == ("ok", [])
    assert code == 0
    assert main(["status", str(db), "--max-lag", "1h"]) == 0
    out = capsys.readouterr().out
    assert "0 (0 periods)" in out
    assert out.splitlines()[-1] == "OK: 1 plant endpoints in order"


def test_a_plant_lagging_more_than_max_lag_is_critical(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.db"
    assert _sync(server, db, f"roof={FRESH.itr}", since=NOW - DAY) == 0
    # The newest record starts at least one 600 s period ago: 5 minutes is too long a lag.
    code, (row,) = _status(db, capsys, "--max-lag", "5m")
    assert code == 2
    assert row["verdict"] == "critical"
    assert row["problems"][0].startswith("lags ")
    code, (row,) = _status(db, capsys, "--warn-lag", "5m", "--max-lag", "1d")
    assert (code, row["verdict"]) == (1, "warning")
    assert main(["status", str(db), "--max-lag", "5m"]) == 2
    assert capsys.readouterr().out.splitlines()[-1].startswith("CRITICAL: roof meter: lags ")


def test_a_failing_plant_warns_then_pages(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.db"
    assert _sync(server, db, f"roof={FRESH.itr}", f"bad={BROKEN.itr}", since=NOW - DAY) == 1
    code, rows = _status(db, capsys)
    by_plant = {r["plant"]: r for r in rows}
    assert by_plant["bad"]["failures"] == 1
    assert (by_plant["bad"]["verdict"], by_plant["roof"]["verdict"]) == ("warning", "ok")
    assert code == 1
    code, rows = _status(db, capsys, "--max-failures", "1")
    assert code == 2
    assert {r["plant"]: r["verdict"] for r in rows} == {"bad": "critical", "roof": "ok"}
    # No record at all for `bad`: with a lag limit that alone is worth a warning.
    assert {r["plant"]: r["problems"] for r in rows}["bad"] == ["failed 1 times in a row"]


def test_a_missing_or_unreadable_store_is_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", str(tmp_path / "none.db"), "--max-lag", "1h"]) == 3
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database\n" * 200)
    assert main(["status", str(junk)]) == 3
    assert "error" in capsys.readouterr().err


def test_a_gap_between_stored_records_is_still_a_hole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A gap of six periods in the middle of the data is missing between stored records.
    gap = (FRESH.first + DAY, FRESH.first + DAY + 6 * 600)
    plant = attrs.evolve(GAPPY, interval=600, first=FRESH.first, gaps=(gap,))
    db = tmp_path / "s.db"
    with threaded_server([plant]) as fake:
        assert _sync(fake, db, plant.itr, since=NOW - 30 * DAY) == 0
    _code, (row,) = _status(db, capsys)
    assert row["plant"] == fingerprint(plant.itr)
    assert (row["holes"], row["missing_periods"]) == (1, 6)


def test_max_failures_is_at_least_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", str(tmp_path / "s.db"), "--max-failures", "0"]) == 2
    assert "--max-failures is at least 1" in capsys.readouterr().err
