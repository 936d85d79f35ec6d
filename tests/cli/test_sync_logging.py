"""What ``lacecal sync`` logs: every request with ``-v``, a timestamp unless journald stamps.

Issue 24: ``sync -v`` logged no request although ``--help`` promised it, and no line had
a timestamp when stderr was a file.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lacecal_async.cli import main
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.cli import FAST, assert_no_secret, threaded_server
from tests.support.interrupting import Watched, latest_records, main_until

PLANT = make_plants(1, seed=31, days=2)[0]
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z lacecal: ")
REQUEST = re.compile(
    r"lacecal: GET (meter|inverter|inverter_list)\.php itr=\.\.\.(\w{4}) .*-> 200 in "
)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLacecalServer]:
    with threaded_server([PLANT]) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _no_log_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    monkeypatch.delenv("LACECAL_LOG_TIMESTAMPS", raising=False)


def _args(server: FakeLacecalServer, db: Path, *extra: str) -> list[str]:
    return [
        "sync", str(db), f"roof={PLANT.itr}", "--start", str(PLANT.first),
        "--base-url", server.base_url, "--rate", FAST, "--progress", "plain", *extra,
    ]  # fmt: skip


def test_verbose_logs_every_request_redacted(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.reset_stats()
    assert main(_args(server, tmp_path / "s.db", "-v")) == 0
    err = capsys.readouterr().err.splitlines()
    requests = [m for m in (REQUEST.search(line) for line in err) if m]
    # One line per request the server answered, each endpoint named, the ITR redacted.
    assert len(requests) == server.stats(PLANT.itr).requests
    assert {m[1] for m in requests} == {"meter", "inverter", "inverter_list"}
    assert {m[2] for m in requests} == {PLANT.itr[-4:]}
    assert all(STAMP.match(line) for line in err), err
    assert_no_secret("\n".join(err), [PLANT.itr])
    # Without -v: no request lines.
    assert main(_args(server, tmp_path / "t.db")) == 0
    assert not any(REQUEST.search(line) for line in capsys.readouterr().err.splitlines())


def test_lines_are_stamped_unless_stderr_is_the_journal(
    server: FakeLacecalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "stderr.log"
    with log.open("w", encoding="utf-8") as stream:
        monkeypatch.setattr(sys, "stderr", stream)
        assert main(_args(server, tmp_path / "s.db")) == 0
        info = os.fstat(stream.fileno())
        # systemd names the stream it gave the service: journald stamps its lines itself.
        monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
        stream.write("--\n")
        assert main(_args(server, tmp_path / "t.db")) == 0
    stamped, journal = log.read_text(encoding="utf-8").split("--\n")
    assert stamped.splitlines()
    assert all(STAMP.match(line) for line in stamped.splitlines()), stamped
    assert journal.splitlines()
    assert all(line.startswith("lacecal: ") for line in journal.splitlines()), journal
    # JOURNAL_STREAM naming another stream (a child of a service writing to a file): stamped.
    monkeypatch.setenv("JOURNAL_STREAM", "1:1")
    with log.open("w", encoding="utf-8") as stream:
        monkeypatch.setattr(sys, "stderr", stream)
        assert main(_args(server, tmp_path / "u.db")) == 0
    assert all(STAMP.match(line) for line in log.read_text(encoding="utf-8").splitlines())


class _Terminal(Watched):
    def isatty(self) -> bool:
        return True


def test_live_table_keeps_request_lines_above_it(
    server: FakeLacecalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("TERM", "xterm")
    args = _args(server, tmp_path / "s.db", "-v")
    assert main([*args[:-3], "--progress", "auto", "-v"]) == 0
    text = terminal.text()
    # Each request line: the table cleared (cursor up its 2 rows), the line, the table again.
    pieces = text.split("\x1b[2F\x1b[J")
    requests = [piece for piece in pieces[1:] if REQUEST.search(piece)]
    assert requests
    for piece in requests:
        line, _, after = piece.partition("\n")
        assert STAMP.match(line)
        assert after.startswith("sync: ")
    assert_no_secret(text, [PLANT.itr])


def test_ctrl_c_during_a_live_backfill_leaves_the_last_table_and_the_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = make_plants(1, seed=32, days=30)[0]
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("TERM", "xterm")
    db = tmp_path / "s.db"
    with threaded_server([slow]) as fake:
        args = [
            "sync", str(db), f"roof={slow.itr}", "--start", str(slow.first),
            "--base-url", fake.base_url, "--rate", "1/0.5", "--endpoint", "meter",
        ]  # fmt: skip
        code = main_until(args, lambda: "roof" in latest_records(db))
    assert code == 130
    *_, table, last = terminal.text().split("\x1b[J")
    assert "sync: 0/1 plants caught up, " in table
    assert re.search(r"ETA \d", table)
    committed = re.search(r"interrupted; (\d+) records committed by this run; run it again", last)
    assert committed is not None, last
    stored = latest_records(db)["roof"]
    assert stored is not None
    assert int(committed[1]) == len(slow.available_times(slow.first, stored + 1))


def test_a_trial_clock_runs_a_one_shot_sync(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    epoch = f"{time.time() - 3600:.3f}"  # twice real time since an hour ago: an hour ahead
    args = _args(server, tmp_path / "s.db", "--clock-speed", "2", "--clock-epoch", epoch)
    assert main(args) == 0
    assert "1 of 1 plants up to date" in capsys.readouterr().err


def test_lookback_counts_re_read_records_apart_from_new_ones(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.db"
    assert main([*_args(server, db), "--endpoint", "meter"]) == 0
    capsys.readouterr()
    # Up to date already: nothing new, and the 2 hours before the latest record re-read.
    assert main([*_args(server, db), "--endpoint", "meter", "--lookback", "2h"]) == 0
    err = capsys.readouterr().err.splitlines()
    line = next(x for x in err if "roof meter:" in x)
    assert re.search(r"roof meter: \+0 records, 12 re-read, latest ", line), line
    assert err[-1].endswith("12 records committed by this run (12 of them re-read)"), err[-1]
