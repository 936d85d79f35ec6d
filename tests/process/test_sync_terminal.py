"""``lacecal sync`` on a real terminal (a pty): live backfill progress, its ETA, then Ctrl-C.

Issue 24's must-show: a backfill on a scaled rate limit (6 requests a second per ITR, the
real service's 6 a minute sped up 60 times) shows plants, pages and records done of
expected and an ETA; the ETA read a quarter of the way in is within 20% of the time the
backfill really took from there; Ctrl-C then says how many records this run committed,
which is what the database holds. A rerun's expected pages count from where the store
stands, not from ``--since``.
"""

from __future__ import annotations

import os
import pty
import re
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from lacecal_async.cli import main
from lacecal_async.testing import Plant, make_plants
from tests.support import processes
from tests.support.checks import DEADLINE
from tests.support.cli import threaded_server
from tests.support.windows import assert_no_leak

RATE = (6, 1.0)
DAYS = 30
SUMMARY = re.compile(
    r"sync: (\d+)/(\d+) plants caught up, (\d+)/(\d+) pages, ([\d,]+)/([\d,]+) records"
    r"(?:, ([0-9hms]+) elapsed, ETA ([0-9hms]+)| in ([0-9hms]+))"
)


def _seconds(text: str) -> float:
    """Parse what `format_duration` writes: ``42s``, ``3m05s``, ``1h02m``."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    assert match is not None, text
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


@attrs.define
class _Terminal:
    """The pty's master side, read on a thread: each summary line with when it arrived."""

    fd: int
    text: str = ""
    frames: list[tuple[float, re.Match[str]]] = attrs.field(factory=list)
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def read(self) -> None:
        pending = ""
        while True:
            try:
                chunk = os.read(self.fd, 4096).decode("utf-8", "replace")
            except OSError:  # EIO: the child closed its side
                return
            if not chunk:
                return
            now = time.monotonic()
            with self.lock:
                self.text += chunk
                pending += chunk
                *done, pending = pending.split("\n")
                self.frames.extend((now, m) for m in map(SUMMARY.search, done) if m)

    def snapshot(self) -> tuple[str, list[tuple[float, re.Match[str]]]]:
        with self.lock:
            return self.text, list(self.frames)


def _stored(db: Path) -> int:
    connection = sqlite3.connect(db)
    try:
        meter = connection.execute("SELECT count(*) FROM meter").fetchone()[0]
        inverter = connection.execute("SELECT count(*) FROM inverter_periods").fetchone()[0]
        return int(meter) + int(inverter)
    finally:
        connection.close()


def _on_a_pty(
    db: Path, plant: Plant, url: str, *, until: Callable[[_Terminal], bool]
) -> tuple[str, list[tuple[float, re.Match[str]]]]:
    """Run ``lacecal sync DB --follow`` on a pty until `until`, then Ctrl-C it.

    Return all it wrote and the summary frames seen before the Ctrl-C.
    """
    master, slave = pty.openpty()
    command = [
        sys.executable, "-m", "lacecal_async", "sync", str(db), f"roof={plant.itr}",
        "--since", str(plant.first), "--follow", "--base-url", url,
        "--rate", f"{RATE[0]}/{RATE[1]}", "--retries", "0",
    ]  # fmt: skip
    env = {"TERM": "xterm", "LACECAL_LOG_TIMESTAMPS": "on"}
    with processes.started(command, stdin=slave, stdout=slave, stderr=slave, env=env) as process:
        os.close(slave)
        terminal = _Terminal(master)
        reader = threading.Thread(target=terminal.read, daemon=True)
        reader.start()
        processes.poll_until(lambda: until(terminal) or process.poll() is not None)
        assert process.poll() is None, terminal.snapshot()[0]
        frames = terminal.snapshot()[1]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=DEADLINE) == 0
        reader.join(DEADLINE)
    os.close(master)
    return terminal.snapshot()[0], frames


def _plant() -> Plant:
    now = int(time.time())
    (plant,) = make_plants(1, seed=24, start=now - DAYS * 86400, days=DAYS, follow_clock=True)
    return attrs.evolve(plant, gaps=())


@pytest.mark.slow
def test_live_progress_eta_on_a_pty_then_ctrl_c_counts_the_committed_records(
    tmp_path: Path,
) -> None:
    plant = _plant()
    db = tmp_path / "s.db"
    with threaded_server([plant], rate_limit=RATE) as server:
        text, frames = _on_a_pty(
            db, plant, server.base_url, until=lambda t: any(m[9] for _, m in t.snapshot()[1])
        )
    started = frames[0][0]
    finished = next(at for at, m in frames if m[9])
    running = [(at, m) for at, m in frames if m[9] is None]
    # The live table: plants, pages and records done of expected, an ETA.
    first = running[0][1]
    assert (first[1], first[2]) == ("0", "1")
    expected_pages = int(first[4])
    assert 2 * DAYS <= expected_pages <= 2 * (DAYS + 2) + 1
    # A quarter of the way in: the ETA against the time the backfill really took from there.
    at, quarter = next((at, m) for at, m in running if int(m[3]) >= expected_pages // 4)
    eta, actual = _seconds(quarter[8]), finished - at
    print(f"ETA {eta:.0f} s at {quarter[3]}/{quarter[4]} pages; took {actual:.1f} s more")  # noqa: T201
    assert abs(eta - actual) <= 0.2 * actual, (eta, actual)
    print(f"whole backfill {finished - started:.1f} s")  # noqa: T201
    # Ctrl-C: the records this run committed, which is what the database holds.
    committed = re.search(
        r"lacecal: stopped; ([\d,]+) records committed by this run; run it again", text
    )
    assert committed is not None, text[-2000:]
    assert int(committed[1].replace(",", "")) == _stored(db)
    assert_no_leak(text, [plant.itr])


@pytest.mark.slow
def test_a_rerun_expects_the_pages_from_where_the_store_stands(tmp_path: Path) -> None:
    plant = _plant()
    db = tmp_path / "s.db"
    synced = DAYS - 10  # days a first run stored; the rerun has 10 left, not DAYS
    # The first run's server has the plant's first days only.
    earlier = attrs.evolve(plant, latest=plant.first + synced * 86400 - plant.interval)
    with threaded_server([earlier], rate_limit=RATE) as server:
        first_run = [
            "sync", str(db), f"roof={plant.itr}", "--start", str(plant.first),
            "--base-url", server.base_url, "--rate", f"{RATE[0]}/{RATE[1]}",
            "--progress", "none",
        ]  # fmt: skip
        assert main(first_run) == 0
    with threaded_server([plant], rate_limit=RATE) as server:
        text, frames = _on_a_pty(db, plant, server.base_url, until=lambda t: bool(t.snapshot()[1]))
    first = frames[0][1]
    # Each endpoint's pages from its latest stored record: a day each, and the latest's.
    left = DAYS - synced
    assert 2 * left <= int(first[4]) <= 2 * (left + 2) + 1, first[0]
    assert_no_leak(text, [plant.itr])
