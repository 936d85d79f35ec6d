"""Pieces of the `lacecal` command on their own: ETA, display, options, redaction, rows."""

from __future__ import annotations

import asyncio
import io
import logging
import runpy
import sys
from pathlib import Path

import attrs
import pytest

from lacecal_async.cli import demo, fetch, inverters, main
from lacecal_async.cli.interrupt import Interrupted, run_interruptible
from lacecal_async.cli.itrs import PlantRef, Redactor
from lacecal_async.cli.options import parse_rate
from lacecal_async.cli.progress import (
    Display,
    choose_mode,
    estimate_pages,
    eta_seconds,
    format_duration,
)
from lacecal_async.cli.status import format_lag
from lacecal_async.cli.writers import open_export
from lacecal_async.endpoints import Endpoint
from lacecal_async.errors import LacecalResponseError
from lacecal_async.fanout import ItrDone, ItrFailed, PageEvent, Progress
from lacecal_async.tables import METER
from tests.support.checks import wait_until
from tests.support.cli import PLANTS, START, assert_no_secret


def test_eta_follows_the_rate_limit() -> None:
    rate = (6, 60.0)
    assert eta_seconds(0, 6, 0.0, rate) == 0.0  # the first burst goes at once
    assert eta_seconds(0, 7, 0.0, rate) == 60.0  # the 7th waits a period
    assert eta_seconds(6, 7, 1.0, rate) == 119.0  # 13 requests: 2 periods after the start
    assert eta_seconds(6, 7, 500.0, rate) == 60.0  # late: still a period for 7 more
    assert eta_seconds(3, 0, 5.0, rate) == 0.0


def test_durations_and_page_estimates() -> None:
    assert [format_duration(s) for s in (0, 0.2, 59, 60, 185, 3600, 7380)] == [
        "0s", "1s", "59s", "1m00s", "3m05s", "1h00m", "2h03m",
    ]  # fmt: skip
    assert estimate_pages(0, 144 * 600) == 1
    assert estimate_pages(0, 144 * 600 + 1) == 2
    assert estimate_pages(10, 10) == 1
    assert estimate_pages(0, 86400, 3600) == 1


def test_choose_mode() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert choose_mode("auto", Tty(), {"TERM": "xterm"}) == "live"
    assert choose_mode("auto", Tty(), {"TERM": "dumb"}) == "plain"
    assert choose_mode("auto", io.StringIO(), {}) == "plain"
    assert choose_mode("none", Tty(), {}) == "none"
    closed = io.StringIO()
    closed.close()
    assert choose_mode("auto", closed, {}) == "plain"


def _display(stream: io.StringIO, mode: str, now: list[float], every: float = 5.0) -> Display:
    refs = [PlantRef(PLANTS[0].itr, "roof"), PlantRef(PLANTS[1].itr)]
    return Display(
        stream,
        refs,
        title="meter",
        span=(START, START + 3 * 86400),
        rate=(6, 60.0),
        mode=mode,  # type: ignore[arg-type]
        every=every,
        redact=Redactor((PLANTS[0].itr, PLANTS[1].itr)),
        clock=lambda: now[0],
    )


def test_display_plain_lines_and_summary() -> None:
    stream, now = io.StringIO(), [0.0]
    display = _display(stream, "plain", now)
    a, b = PLANTS[0].itr, PLANTS[1].itr
    assert display.summary() == (
        "meter: 0/2 plants done, 0/6 pages, 0 periods, 0s elapsed, ETA 0s"
    )  # 2 plants x 3 days at an assumed 600 s: 3 pages each, within the first burst
    display.update(PageEvent(a, (), Progress(1, 144, 1, 9)))
    now[0] = 2.0
    # 8 more pages, one after the other: the 7th of them waits a period for a slot
    assert display.summary().endswith("1/12 pages, 144 periods, 2s elapsed, ETA 1m00s")
    display.update(ItrDone(a, Progress(1, 144, 1, 1)))
    error = LacecalResponseError(f"meter.php for ITR {b}: HTTP 503\nbusy", status=503)
    display.update(ItrFailed(b, error, Progress()))
    display.log(f"warning: about {b}")
    display.finish()
    assert stream.getvalue().splitlines() == [
        "meter: roof done: 1 page, 144 periods",
        f"meter: ...{b[-4:]} FAILED after 0 pages: meter.php for ITR ...{b[-4:]}: HTTP 503 busy",
        f"warning: about ...{b[-4:]}",
        "meter: 1/2 plants done, 1 failed, 1/1 pages, 144 periods in 2s",
    ]


def test_display_live_redraws_in_place() -> None:
    stream, now = io.StringIO(), [0.0]
    display = _display(stream, "live", now)
    display.update(PageEvent(PLANTS[0].itr, (), Progress(1, 144, 1, 2)))
    display.update(PageEvent(PLANTS[0].itr, (), Progress(2, 288, 2, 2)))  # within 0.1 s: kept
    first = stream.getvalue()
    assert first.count("\x1b[K\n") == 3  # summary and two plants
    assert "roof" in first
    assert "[##########..........]" in first
    now[0] = 1.0
    display.log("warning: hello")
    text = stream.getvalue()[len(first) :]
    assert text.startswith("\x1b[3F\x1b[Jwarning: hello\n")  # cleared, logged, redrawn
    assert "[####################]" in text
    display.update(ItrFailed(PLANTS[1].itr, LacecalResponseError("x", status=500), Progress()))
    assert "FAILED: x" in stream.getvalue()
    assert_no_secret(stream.getvalue(), [PLANTS[0].itr, PLANTS[1].itr])


async def test_display_tickers() -> None:
    async def tick(mode: str) -> str:
        """What the ticker writes first (it redraws live twice a second)."""
        stream, now = io.StringIO(), [0.0]
        display = _display(stream, mode, now, every=0.01)
        task = asyncio.create_task(display.run())
        await wait_until(lambda: bool(stream.getvalue()) or task.done())
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return stream.getvalue()

    assert await tick("none") == ""  # it returns at once, having written nothing
    assert "\x1b[K" in await tick("live")
    assert (await tick("plain")).startswith("meter: 0/2 plants done")


def test_a_display_that_breaks_does_not_break_the_fetch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise ValueError("closed")

    display = _display(Broken(), "plain", [0.0])
    with fetch.log_to(display, verbose=False):
        logging.getLogger("lacecal_async").warning("over the limit")
    assert "Logging error" in capsys.readouterr().err


def test_status_lag_units() -> None:
    assert [format_lag(s) for s in (None, 5, 90, 5400, 3 * 86400)] == [
        "-", "5s", "1.5m", "1.5h", "3.0d",
    ]  # fmt: skip


def test_redactor_and_plant_names() -> None:
    itr = PLANTS[0].itr
    assert Redactor((itr,))(f"a {itr} b {itr}") == f"a ...{itr[-4:]} b ...{itr[-4:]}"
    assert PlantRef(itr).name == f"...{itr[-4:]}"
    assert PlantRef(itr).label == itr
    assert PlantRef(itr, "x").name == PlantRef(itr, "x").label == "x"
    assert itr not in repr(PlantRef(itr))


@pytest.mark.parametrize("text", ["6", "a/60", "6/b", "0/60", "6/0", "6/-1", "6/nan", "6/inf"])
def test_bad_rates(text: str) -> None:
    with pytest.raises(Exception, match="expected N/SECONDS"):
        parse_rate(text)


def test_rates() -> None:
    assert parse_rate("6/60") == (6, 60.0)
    assert parse_rate("6/0.5") == (6, 0.5)


def test_a_meter_record_without_a_grid_meter(tmp_path: Path) -> None:
    record = attrs.evolve(PLANTS[0].meter_record(START), grid=None)
    (row,) = METER.rows("p", [record])
    assert row[5:17] == (None,) * 12
    assert row[17] is not None  # the load meter is still there
    writer = open_export(str(tmp_path / "x.jsonl"), "jsonl", Endpoint.METER, sys.stdout)
    writer.write("p", [])
    writer.close()
    assert (tmp_path / "x.jsonl").read_text(encoding="utf-8") == ""


def test_cancelled_work_that_no_signal_stopped_is_not_an_interruption() -> None:
    async def work() -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        await asyncio.sleep(0)

    with pytest.raises(asyncio.CancelledError):
        run_interruptible(work)


def test_interrupted_commands_exit_128_plus_the_signal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def stopped(work: object) -> Interrupted:
        return Interrupted(15)

    monkeypatch.setattr(inverters, "run_interruptible", stopped)
    monkeypatch.setattr(demo, "run_interruptible", stopped)
    assert main(["inverters", PLANTS[0].itr]) == 143
    assert main(["demo", "--plants", "1", "--out", str(tmp_path)]) == 143
    assert capsys.readouterr().err == "lacecal: interrupted\nlacecal: demo interrupted\n"


def test_a_second_ctrl_c_is_a_hard_stop(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def hard(work: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(inverters, "run_interruptible", hard)
    assert main(["inverters", PLANTS[0].itr]) == 130
    assert capsys.readouterr().err == "lacecal: interrupted\n"


def test_demo_reports_records_that_differ(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refs = [PlantRef(p.itr, f"p{i}") for i, p in enumerate(PLANTS[:2])]
    got = {"meter": demo.Totals(), "inverter": demo.Totals()}
    got["meter"].write("p0", PLANTS[0].meter_records(START, START + 3600))
    got["inverter"].write("p0", PLANTS[0].inverter_records(START, START + 3600))
    got["inverter"].write("p1", PLANTS[1].inverter_records(START, START + 3600)[1:])
    wrong = demo.mismatches(PLANTS[:2], refs, START, START + 3600, got)
    assert wrong == ["p1 (meter)", "p1 (inverter)"]
    monkeypatch.setattr(demo, "mismatches", lambda *a: ["almeria (meter)"])
    args = ["demo", "--plants", "1", "--days", "1", "--rate", "6/0.1", "--out", str(tmp_path)]
    assert main([*args, "--progress", "none"]) == 1
    assert capsys.readouterr().err.endswith("differ from the fake plants': almeria (meter)\n")


def test_options_after_a_command_that_takes_no_identifier(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "extra"]) == 2
    assert "unrecognized arguments: extra" in capsys.readouterr().err
    assert main(["fetch", "--endpoint", "meter", "--start", "0", PLANTS[0].itr, "--bogus"]) == 2


def test_python_dash_m_runs_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["lacecal", "--version"])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module("lacecal_async", run_name="__main__")
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("lacecal ")
