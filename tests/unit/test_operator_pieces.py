"""The pure parts of what an operator sees: the backfill cost model, the health verdict,
log timestamps, how a worker's end is told (issue 24)."""

from __future__ import annotations

import io
import os
import re
import signal
from pathlib import Path

import pytest

from lacecal_async.cli.backfill_cost import (
    backfill_requests,
    effective_period,
    endpoint_requests,
    hours_per_plant_year,
    table,
)
from lacecal_async.cli.fleet import exit_text, restarts
from lacecal_async.cli.health import CRITICAL, OK, UNKNOWN, WARNING, Thresholds, judge, worst
from lacecal_async.cli.itrs import Redactor
from lacecal_async.cli.log_lines import journald_stream, stamp, stamped
from lacecal_async.cli.sync_progress import SyncProgress
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import SyncState
from lacecal_async.telemetry import RequestDone

TIMING = Path(__file__).resolve().parents[2] / "docs" / "explanation" / "timing.md"


def test_hours_per_plant_year_follow_6_requests_a_minute_of_144_records() -> None:
    assert hours_per_plant_year(600, 1) == pytest.approx(365 / 360)
    assert hours_per_plant_year(300, 2) == pytest.approx(4 * 365 / 360)
    assert hours_per_plant_year(3600, 2, rate=(6, 1.0)) == pytest.approx(2 * 61 / 6 / 3600)
    assert [row[0] for row in table()] == [300, 600, 900, 3600]


def test_the_timing_page_shows_the_model() -> None:
    text = TIMING.read_text(encoding="utf-8")
    for period, one, both in table():
        row = rf"\|\s*{period} s\s*\|\s*{one:.2f} h\s*\|\s*{both:.2f} h\s*\|"
        assert re.search(row, text), (period, one, both)


def test_requests_of_a_backfill() -> None:
    day = 86400
    assert endpoint_requests(0, day, 600, asked_latest=False) == 2  # latest + one page
    assert endpoint_requests(0, 3 * day, 600, asked_latest=True) == 3
    assert endpoint_requests(0, 300, 600, asked_latest=False) == 1  # nothing closed yet
    assert endpoint_requests(0, 300, 600, asked_latest=True) == 0
    assert backfill_requests(365 * day, 600, 2, inventory=True) == 2 * 366 + 1
    assert effective_period(60.0, 0.5) == pytest.approx(61.5)


def _row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "plant": "roof", "endpoint": "meter", "lag_s": 900, "failures": 0,
        "future_record": None, "future": None, "future_removed": 0, "orphaned": False,
    }  # fmt: skip
    row.update(changes)
    return row


def test_the_verdict_of_each_kind_of_row() -> None:
    limits = Thresholds(max_lag=3600, warn_lag=1800, max_failures=3)
    assert judge(_row(), limits) == (OK, [])
    assert judge(_row(lag_s=2000), limits)[0] == WARNING
    assert judge(_row(lag_s=4000), limits) == (CRITICAL, ["lags 1.1h (more than 1.0h)"])
    assert judge(_row(lag_s=None), limits) == (WARNING, ["no record stored yet"])
    assert judge(_row(lag_s=None), Thresholds()) == (OK, [])
    assert judge(_row(failures=2), limits) == (WARNING, ["failed 2 times in a row"])
    assert judge(_row(failures=3), limits)[0] == CRITICAL
    assert judge(_row(orphaned=True), limits)[0] == CRITICAL
    glitch = judge(_row(future_record=1, future="2027-01-01 00:00:00Z", future_removed=2), limits)
    assert glitch[0] == WARNING
    assert len(glitch[1]) == 2
    assert judge(_row(lag_s=-400 * 86400), limits)[0] == WARNING  # dated after the clock
    listing = _row(endpoint="inverter_list", lag_s=None)
    assert judge(listing, limits) == (OK, [])
    assert judge({**listing, "failures": 1}, limits)[0] == WARNING
    assert judge({**listing, "orphaned": True}, limits)[0] == CRITICAL
    assert judge(_row(lag_s=45), Thresholds(max_lag=30)) == (
        CRITICAL,
        ["lags 45s (more than 30s)"],
    )
    assert worst([]) == UNKNOWN
    assert worst([OK, WARNING, OK]) == WARNING


def test_stamps_unless_the_journal_stamps(tmp_path: Path) -> None:
    assert stamp(1727877000.25) == "2024-10-02T13:50:00.250Z"
    with (tmp_path / "log").open("w") as stream:
        info = os.fstat(stream.fileno())
        journal = {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
        assert journald_stream(stream, journal)
        assert not stamped(stream, journal)
        assert stamped(stream, {**journal, "LACECAL_LOG_TIMESTAMPS": "on"})
        assert stamped(stream, {"JOURNAL_STREAM": "1:2"})
        assert stamped(stream, {"JOURNAL_STREAM": "junk"})
        assert not stamped(stream, {"LACECAL_LOG_TIMESTAMPS": "off"})
    assert not journald_stream(io.StringIO(), journal)  # no file behind it


def test_how_a_worker_ended() -> None:
    assert exit_text(-signal.SIGKILL) == "was killed by signal SIGKILL"
    assert exit_text(1) == "exited with status 1"
    assert exit_text(-200) == "was killed by signal 200"
    assert restarts(1)
    assert restarts(-signal.SIGKILL)
    assert not restarts(0)
    assert not restarts(2)


def test_the_backfill_ends_at_the_newest_record_the_server_named() -> None:
    """Data that ends long before now (a fake's 2024 plants): the table expects only that."""
    start, now = 1727827200, 1796648400.0  # 2024-10-02, and two years on
    shown = io.StringIO()
    progress = SyncProgress(
        shown, "plain", {"roof": "roof"}, Redactor(()), {"itr-x": "roof"}, clock=lambda: now
    )
    progress.plan("roof", [Endpoint.METER], [None], start)
    far = progress.summary()
    assert re.search(r"0/\d{3,} pages", far), far  # up to now: hundreds of pages
    end = start + 3 * 86400 - 600  # three days of 600 s records, the latest first
    progress.on_event(RequestDone("...x", "itr-x", Endpoint.METER, 1, 200, None, 1, 0.1, 0.0, end))
    assert "0/3 pages, 0/431 records" in progress.summary()
    state = SyncState(latest=start + 144 * 600, interval=600)
    progress.committed("roof", Endpoint.METER, 144, state)
    assert "1/3 pages, 144/431 records" in progress.summary()
