"""``lacecal serve`` faults for rehearsals: late gaps, a logger's clock glitch, a failure rate.

Issue 24: late data and faults could only be set up from Python. The plants `lacecal serve
--late-gaps 1 --future-glitch 1 --fail-rate P` builds are synced and checked with
``lacecal status`` as an operator would: the late gap is a hole, the glitch a warning.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from lacecal_async import LacecalClient, LacecalError
from lacecal_async.cli import main
from lacecal_async.testing.serving import GLITCH_AHEAD, ServeOptions, build
from tests.support.cli import FAST, threaded_server


def test_serve_options_give_the_first_plants_their_faults() -> None:
    plants, clock = build(
        ServeOptions(plants=4, days=2, follow=True, late_gaps=1, future_glitch=2, fail_rate=0.25)
    )
    late, *others = plants
    ((start, end, filled),) = late.late
    assert (end - start) // late.interval == 12
    assert late.first < start < end <= clock.now()
    assert filled > clock.now()
    assert [p.faults.future_ahead for p in plants] == [None, GLITCH_AHEAD, GLITCH_AHEAD, None]
    assert all(p.late == () for p in others)
    assert {p.faults.fail_rate for p in plants} == {0.25}


def test_a_fail_rate_fails_about_that_share_of_requests() -> None:
    plants, _ = build(ServeOptions(plants=1, days=1, fail_rate=0.5, rate=None))

    async def outcomes(url: str) -> list[bool]:
        async with LacecalClient(base_url=url, rate_limit=(1000, 1.0), retries=0) as client:
            out = []
            for _ in range(60):
                try:
                    await client.inverters(plants[0].itr)
                    out.append(True)
                except LacecalError:
                    out.append(False)
            return out

    with threaded_server(plants) as server:
        first = asyncio.run(outcomes(server.base_url))
    assert 15 <= first.count(False) <= 45
    with threaded_server(plants) as server:  # reproducible: the same requests fail again
        assert asyncio.run(outcomes(server.base_url)) == first


def test_rehearse_alerts_a_late_gap_is_a_hole_and_a_glitch_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plants, _ = build(ServeOptions(plants=2, days=1, follow=True, late_gaps=1, future_glitch=1))
    db = tmp_path / "r.db"
    with threaded_server(plants) as server:
        args = [
            "sync", str(db), f"late={plants[0].itr}", f"glitch={plants[1].itr}",
            "--start", str(min(p.first for p in plants)), "--base-url", server.base_url,
            "--rate", FAST, "--retries", "0", "--endpoint", "meter", "-q",
        ]  # fmt: skip
        assert main(args) == 1  # the glitching plant fails: its logger's clock is wrong
    capsys.readouterr()
    assert main(["status", str(db), "--json"]) == 1  # WARNING
    rows = {r["plant"]: r for r in json.loads(capsys.readouterr().out)}
    assert (rows["late"]["holes"], rows["late"]["missing_periods"]) == (1, 12)
    assert rows["late"]["verdict"] == "ok"
    assert rows["glitch"]["verdict"] == "warning"
    assert any("after the clock" in p for p in rows["glitch"]["problems"])


@pytest.mark.parametrize(
    "bad",
    [["--fail-rate", "2"], ["--fail-rate", "nan"], ["--late-gaps", "-1"], ["--clock-epoch", "x"]],
)
def test_serve_refuses_bad_fault_options(
    bad: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *bad]) == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--clock-speed", "60"], "--clock-speed needs --clock-epoch"),
        (["--clock-speed", "0", "--clock-epoch", "0"], "expected a speed"),
        (["--clock-speed", "2", "--clock-epoch", "soon"], "expected a UNIX time"),
    ],
)
def test_sync_clock_options_are_checked(
    options: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "c.db")
    assert main(["sync", db, "roof=Abcdefgh12345678", "--start", "now", *options]) == 2
    assert message in capsys.readouterr().err


class _StopAfterTable(io.StringIO):
    """``lacecal serve``'s stdout: once its URL and table are out, Ctrl-C."""

    def flush(self) -> None:
        super().flush()
        signal.raise_signal(signal.SIGINT)


def test_serve_hints_name_its_clock_its_dates_and_its_faults(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _StopAfterTable()
    monkeypatch.setattr(sys, "stdout", out)
    epoch = int(time.time())
    argv = [
        "serve", "--follow", "--speed", "60", "--clock-epoch", str(epoch), "--days", "0.5",
        "--plants", "3", "--late-gaps", "1", "--future-glitch", "1", "--fail-rate", "0.1",
    ]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    hint = re.search(rf"--start (\S+) --follow --clock-speed 60 --clock-epoch {epoch}\.000", err)
    assert hint is not None, err
    # The hour it names is inside the data: the window is the half day before now.
    since = datetime.fromisoformat(hint[1]).timestamp()
    assert time.time() - 0.5 * 86400 <= since <= time.time()
    assert "the first 1 plants miss 12 periods" in err
    assert "the next 1 plants also date a record a year ahead" in err
    assert "10% of requests fail with 503" in err
    assert out.getvalue().startswith("http://127.0.0.1:")
