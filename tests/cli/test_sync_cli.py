"""``lacecal sync`` and ``lacecal status`` in-process (`main([...])`), where coverage sees them.

test_sync_process.py runs them as processes (SIGKILL, SIGTERM, restarts); these check what a
user sees: exit codes, the lines per plant, the live display, the status table and JSON.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from lacecal_async import LacecalClient, fingerprint
from lacecal_async.cli import main
from lacecal_async.cli.options import UsageError
from lacecal_async.cli.sync import parse_duration
from lacecal_async.endpoints import Endpoint
from lacecal_async.records import MeterRecord
from lacecal_async.sync import SQLiteStore, SyncState
from lacecal_async.testing import FakeLacecalServer, Faults, Plant, make_plants
from tests.support.checks import DEADLINE
from tests.support.cli import BROKEN, FAST, PLANTS, START, assert_no_secret, threaded_server
from tests.support.interrupting import Watched, latest_records, main_until

#: p0: 600 s, no gap, stored under its alias; PLANTS[1]: 900 s with two gaps, under its
#: fingerprint and shown redacted.
ALIASED, BARE = PLANTS[0], PLANTS[1]
END = START + 3 * 86400
ALL_SECRETS = [ALIASED.itr, BARE.itr, BROKEN.itr]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLacecalServer]:
    with threaded_server([ALIASED, BARE, BROKEN]) as fake:
        yield fake


def sync_args(server: FakeLacecalServer, db: Path, *plants: str, since: int = START) -> list[str]:
    return [
        "sync", str(db), *plants, "--start", str(since), "--base-url", server.base_url,
        "--rate", FAST, "--retries", "0", "--timeout", "10",
    ]  # fmt: skip


def times(plant: Plant, start: int = START, end: int = END) -> list[int]:
    return plant.available_times(start, end)


def holes(stored: list[int], interval: int) -> tuple[int, int]:
    """Holes (runs of missing periods) between stored records, and the periods they miss."""
    steps = [(b - a) // interval - 1 for a, b in itertools.pairwise(stored)]
    return sum(1 for s in steps if s), sum(steps)


def status_json(db: Path, capsys: pytest.CaptureFixture[str]) -> dict[tuple[str, str], Any]:
    assert main(["status", str(db), "--json"]) in (0, 1)  # 1: a failing plant (a warning)
    return {(r["plant"], r["endpoint"]): r for r in json.loads(capsys.readouterr().out)}


# -- sync ---------------------------------------------------------------------------------


def test_sync_prints_a_line_per_plant_and_endpoint_and_exits_0(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "plants.db"
    args = sync_args(server, db, f"p0={ALIASED.itr}", BARE.itr, "--progress", "plain")
    assert main(args) == 0
    err = capsys.readouterr().err.splitlines()
    name = f"...{BARE.itr[-4:]}"
    meter = {p: len(times(p)) for p in (ALIASED, BARE)}
    # One line per plant and endpoint, in the order the cycles end; then the summary.
    assert len(err) == 5
    for label, plant in (("p0", ALIASED), (name, BARE)):
        last = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(times(plant)[-1]))
        line = f"lacecal: {label} meter: +{meter[plant]} records, latest {last}"
        assert sum(x == line for x in err) == 1, (line, err)  # no "next poll": it exits
        assert sum(x.startswith(f"lacecal: {label} inverter: +") for x in err) == 1
    total = 2 * sum(meter.values())  # an inverter record for every meter record
    assert err[-1] == f"lacecal: 2 of 2 plants up to date; {total:,} records committed by this run"
    assert_no_secret("\n".join(err), ALL_SECRETS)
    rows = status_json(db, capsys)
    assert set(rows) == {
        (p, e) for p in ("p0", fingerprint(BARE.itr)) for e in ("meter", "inverter")
    }


def test_a_failing_plant_is_listed_and_exits_1(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "plants.db"
    args = sync_args(server, db, f"p0={ALIASED.itr}", f"bad={BROKEN.itr}", "-q")
    assert main([*args, "--endpoint", "all"]) == 1
    err = capsys.readouterr().err.splitlines()
    # -q: only failures, each a line of the live cycle and then of the summary.
    assert not any(line.startswith("lacecal: p0 ") for line in err)
    assert any(line.startswith("lacecal: bad meter: failed (1 in a row): ") for line in err)
    assert any(line.startswith("lacecal: bad meter failed: ") for line in err)
    assert any(line.startswith("lacecal: bad inverter failed: ") for line in err)
    assert err[-1].startswith("lacecal: 1 of 2 plants up to date; ")
    assert_no_secret("\n".join(err), ALL_SECRETS)


def test_since_is_ignored_for_a_plant_with_sync_state(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "plants.db"
    later = START + 2 * 86400
    first = sync_args(server, db, f"p0={ALIASED.itr}", since=later)
    assert main([*first, "--endpoint", "meter", "-q"]) == 0
    second = sync_args(server, db, f"p0={ALIASED.itr}", BARE.itr, since=START)
    assert main([*second, "--endpoint", "meter", "-q"]) == 0
    capsys.readouterr()
    rows = status_json(db, capsys)
    # p0 kept its start (later): --start START did not re-read its first two days.
    assert rows["p0", "meter"]["first_record"] == times(ALIASED, later)[0]
    assert rows[fingerprint(BARE.itr), "meter"]["first_record"] == times(BARE)[0]
    assert main(["sync", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "a plant with sync state resumes after its latest stored record and --start is " in text
    assert "ignored for it" in text


def test_live_display_redraws_a_row_per_plant_and_endpoint(
    server: FakeLacecalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("TERM", "xterm")
    args = sync_args(server, tmp_path / "p.db", f"p0={ALIASED.itr}", BARE.itr)
    assert main([*args, "--progress", "auto"]) == 0
    text = terminal.getvalue()
    *frames, last = text.split("\x1b[J")
    assert last.startswith("lacecal: 2 of 2 plants up to date")
    # Each frame is drawn over the one before (cursor up by its rows): a summary, a row a plant.
    for drawn, frame in enumerate(frames):
        up = "\x1b[3F" if drawn else ""
        assert frame.startswith(up)
        rows = frame.removeprefix(up).removesuffix("\x1b[K\n").split("\x1b[K\n")
        assert len(rows) == 3
        assert rows[0].startswith("sync: ")
    # The last frame: every plant caught up, its records counted.
    bare = f"...{BARE.itr[-4:]}"
    counts = {bare: 2 * len(times(BARE)), "p0": 2 * len(times(ALIASED))}
    assert rows[0].startswith("sync: 2/2 plants caught up, ")
    assert sorted(row.split()[0] for row in rows[1:]) == sorted(counts)
    for row in rows[1:]:
        n = counts[row.split()[0]]
        assert f" {n:,}/{n:,} records  caught up" in row
    assert_no_secret(text, ALL_SECRETS)


@pytest.mark.slow
def test_ctrl_c_stops_a_follow_with_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    period = 2
    now = int(time.time()) // period * period
    plants = make_plants(2, seed=21, start=now - 10 * period, interval=period, follow_clock=True)
    stderr = Watched()
    monkeypatch.setattr(sys, "stderr", stderr)

    def polls(name: str) -> list[str]:
        return [line for line in stderr.lines() if line.startswith(f"lacecal: {name} meter: +")]

    with threaded_server(plants) as fake:
        db = tmp_path / "follow.db"
        args = sync_args(fake, db, *(f"f{i}={p.itr}" for i, p in enumerate(plants)))
        args[args.index("--start") + 1] = str(now - 10 * period)

        def polled_again() -> bool:  # each plant reported twice, and has a newer period
            stored = latest_records(db)
            return all(
                len(polls(f"f{i}")) >= 2 and (stored.get(f"f{i}") or 0) >= now for i in range(2)
            )

        code = main_until(
            [*args, "--endpoint", "meter", "--follow", "--progress", "plain"], polled_again
        )
        err = stderr.lines()
        assert code == 0
        assert err[-1] == (
            f"lacecal: stopped; {_count(db):,} records committed by this run; run it again to "
            "resume after the last committed page"
        )
        # It polled each plant again as new periods closed.
        for name in ("f0", "f1"):
            assert len(polls(name)) >= 2, err
        rows = status_json(db, capsys)
        for i, plant in enumerate(plants):
            row = rows[f"f{i}", "meter"]
            assert row["first_record"] == now - 10 * period
            assert row["latest_record"] >= now
            assert row["holes"] == 0
            assert row["next_poll"] > row["latest_record"]
            assert plant.interval == period


def test_ctrl_c_stops_a_sync_with_130(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    slow = make_plants(1, seed=22, days=30)
    with threaded_server(slow) as fake:
        slow_db = tmp_path / "slow.db"
        args = sync_args(fake, slow_db, f"s={slow[0].itr}", since=slow[0].first)
        args[args.index("--rate") + 1] = "1/0.5"  # 30 days of pages take ~15 s at least
        # Interrupted once its first page is committed, long before the last.
        code = main_until(
            [*args, "--endpoint", "meter", "-q"], lambda: bool(latest_records(slow_db).get("s"))
        )
    assert code == 130
    assert capsys.readouterr().err == (
        f"lacecal: interrupted; {_count(slow_db):,} records committed by this run; run it "
        "again to resume after the last committed page\n"
    )


def _count(db: Path) -> int:
    """Meter records stored in `db` (the tests above sync the meter only, into a new file)."""
    connection = sqlite3.connect(db)
    try:
        return int(connection.execute("SELECT count(*) FROM meter").fetchone()[0])
    finally:
        connection.close()


def test_unusable_database_and_bad_options(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = sync_args(server, tmp_path, f"p0={ALIASED.itr}", "-q")  # a directory
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err == f"lacecal: error: {tmp_path}: cannot open {tmp_path}: Is a directory\n"
    bad = sync_args(server, tmp_path / "x.db", f"p0={ALIASED.itr}", "--lookback", "2w")
    assert main(bad) == 2
    assert "invalid duration '2w'" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()


def test_parse_duration() -> None:
    assert parse_duration("90") == 90
    assert parse_duration("90s") == 90
    assert parse_duration("15m") == 900
    assert parse_duration("2H") == 7200
    assert parse_duration("1d") == 86400
    assert parse_duration("1h30m") == 5400
    assert parse_duration("0.5h") == 1800
    for bad in ("", "  ", "h", "1h30", "-5m", "1w", "1 h"):
        with pytest.raises(UsageError):
            parse_duration(bad)


# -- status -------------------------------------------------------------------------------


def test_status_table_and_json_say_where_each_plant_stands(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "plants.db"
    args = sync_args(server, db, f"p0={ALIASED.itr}", BARE.itr, f"bad={BROKEN.itr}", "-q")
    assert main([*args, "--endpoint", "meter"]) == 1
    capsys.readouterr()
    before = time.time()
    rows = status_json(db, capsys)
    after = time.time()
    assert set(rows) == {("p0", "meter"), (fingerprint(BARE.itr), "meter"), ("bad", "meter")}
    for key, plant in (("p0", ALIASED), (fingerprint(BARE.itr), BARE)):
        row, stored = rows[key, "meter"], times(plant)
        assert row["first_record"] == stored[0]
        assert row["latest_record"] == stored[-1]
        assert row["first"] == time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(stored[0]))
        assert before - stored[-1] - 1 <= row["lag_s"] <= after - stored[-1] + 1
        assert (row["holes"], row["missing_periods"]) == holes(stored, plant.interval)
        assert row["failures"] == 0
        assert row["last_error"] is None
        assert row["next_poll"] > before - 60
    assert rows[fingerprint(BARE.itr), "meter"]["holes"] == 2  # its two gaps
    bad = rows["bad", "meter"]
    assert bad["first_record"] is None
    assert bad["lag_s"] is None
    assert bad["failures"] == 1
    assert "503" in bad["last_error"]
    assert bad["next_poll"] > bad["last_error_at"]

    assert main(["status", str(db)]) == 1  # `bad` failed: a warning
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == [
        "plant", "endpoint", "first", "latest", "lag", "holes", "failures", "next", "poll",
    ]  # fmt: skip
    p0 = next(line for line in lines if line.startswith("p0 "))
    first = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(times(ALIASED)[0]))
    latest = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(times(ALIASED)[-1]))
    lag = (before - times(ALIASED)[-1]) / 86400
    cells = re.split(r"\s{2,}", p0)
    assert cells[:4] == ["p0", "meter", first, latest]
    assert abs(float(cells[4].removesuffix("d")) - lag) < 0.11  # the plants' data is from 2024
    assert cells[5:7] == ["0 (0 periods)", "0"]
    row = next(line for line in lines if line.startswith(fingerprint(BARE.itr)))
    missing = holes(times(BARE), BARE.interval)[1]
    assert re.split(r"\s{2,}", row)[5] == f"2 ({missing} periods)"
    at = lines.index(next(line for line in lines if line.startswith("bad ")))
    assert "  -  " in lines[at]
    assert lines[at + 1].startswith("    last error at ")
    assert "503" in lines[at + 1]
    assert_no_secret(out, ALL_SECRETS)


def test_status_of_a_missing_or_broken_database_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", str(tmp_path / "none.db")]) == 3
    assert capsys.readouterr().err == f"lacecal: error: no database at {tmp_path / 'none.db'}\n"
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database\n" * 200)
    assert main(["status", str(junk)]) == 3
    assert capsys.readouterr().err.startswith("lacecal: error: ")


# -- serve --follow -----------------------------------------------------------------------


class _Client(io.StringIO):
    """Stdout of ``lacecal serve``: once the URL and table are out, ask it, then Ctrl-C."""

    def __init__(self) -> None:
        super().__init__()
        #: Per answer: when the request left, when the answer came [time.time()], the record.
        self.latest: list[tuple[float, float, MeterRecord]] = []
        self.thread: threading.Thread | None = None

    def flush(self) -> None:
        super().flush()
        if self.thread is None:
            self.thread = threading.Thread(target=self.ask)
            self.thread.start()

    def ask(self) -> None:
        try:
            lines = self.getvalue().splitlines()
            url, itr = lines[0], lines[2].split()[0]
            for _ in range(2):
                sent = time.time()
                record = asyncio.run(self.latest_record(url, itr))
                if record is not None:
                    self.latest.append((sent, time.time(), record))
                time.sleep(0.5)  # at least 5 s of the server's clock between the two
        finally:
            signal.raise_signal(signal.SIGINT)

    @staticmethod
    async def latest_record(url: str, itr: str) -> MeterRecord | None:
        async with LacecalClient(base_url=url, rate_limit=(100, 1.0)) as client:
            return await client.latest_meter_record(itr)


def test_serve_follow_serves_records_that_keep_coming(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _Client()
    monkeypatch.setattr(sys, "stdout", out)
    args = ["serve", "--follow", "--interval", "2", "--speed", "10", "--plants", "1"]
    began = time.time()
    assert main([*args, "--rate", "none", "--days", "0.01"]) == 0
    assert out.thread is not None
    out.thread.join(DEADLINE)
    err = capsys.readouterr().err
    assert "lacecal: following a clock running 10x real time: " in err
    assert "Ctrl-C stops." in err
    (_, answered, first), (_, _, then) = out.latest
    assert first.interval == then.interval == 2
    # The clock runs 10x: 0.5 s or more later, 2.5 periods or more have closed.
    assert then.unix_time - first.unix_time >= 4
    # The clock started at the real time (when the command did, after `began`) and runs
    # 10x since, so it read at most `began` + 10x the time the first answer took; the
    # latest record closed before that, and less than a period earlier than `began`.
    assert began - 2 * first.interval - 1 < first.unix_time
    assert first.unix_time + first.interval <= began + 10 * (answered - began) + 1


@pytest.mark.parametrize(
    ("option", "value"),
    [("--speed", "0"), ("--speed", "fast"), ("--speed", "nan"), ("--interval", "0"),
     ("--interval", "1.5")],
)  # fmt: skip
def test_serve_refuses_bad_speeds_and_intervals(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--follow", option, value]) == 2
    assert f"{value!r}" in capsys.readouterr().err


@pytest.mark.slow
def test_follow_since_now_polls_a_new_plant_at_its_own_period(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A plant new to the database has no stored record to tell its period: the engine
    # learns it from the latest record, so its first poll is not the 600 s default.
    period = 2
    start = int(time.time()) // period * period - 10 * period
    plants = make_plants(1, seed=23, start=start, interval=period, follow_clock=True)
    with threaded_server(plants) as fake:
        db = tmp_path / "now.db"
        args = sync_args(fake, db, f"n={plants[0].itr}")
        args[args.index("--start") + 1] = "now"
        began = time.time()
        code = main_until(
            [*args, "--endpoint", "meter", "--follow", "--progress", "plain"],
            lambda: latest_records(db).get("n") is not None,
        )
        err = capsys.readouterr().err.splitlines()
        assert code == 0
        first = err[0]
        assert first.startswith("lacecal: n meter: +0 records, latest -, next poll in "), err
        # Within a period and its jitter (3 %), shown rounded up: 3 s at most, not 10 min.
        assert re.search(r"next poll in [0-3]s$", first), first
        rows = status_json(db, capsys)
        state = asyncio.run(_meter_state(db, "n"))
    # The record stored first is that of the first period after "now" (where it began).
    assert state is not None
    assert state.since is not None
    assert began - 1 <= state.since
    assert state.since <= rows["n", "meter"]["first_record"] < state.since + period
    assert rows["n", "meter"]["latest_record"] >= rows["n", "meter"]["first_record"]


async def _meter_state(db: Path, plant: str) -> SyncState | None:
    async with SQLiteStore(db, create=False) as store:
        return await store.state(plant, Endpoint.METER)


def test_progress_counts_each_plants_retries_and_429s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    retried, limited, calm = make_plants(3, seed=24, days=1)
    retried = attrs.evolve(retried, faults=Faults(fail_first=2, fail_status=500))
    limited = attrs.evolve(limited, faults=Faults(fail_first=1, fail_status=429, retry_after=0.1))
    with threaded_server([retried, limited, calm]) as fake:
        args = sync_args(fake, tmp_path / "r.db", f"r={retried.itr}", f"l={limited.itr}")
        args[args.index("--retries") + 1] = "3"
        args += [f"c={calm.itr}", "--start", str(retried.first), "--endpoint", "meter"]
        assert main([*args, "--progress", "plain"]) == 0
    err = capsys.readouterr().err.splitlines()
    line = {text.split()[1]: text for text in err if text.startswith("lacecal: ")}
    assert line["r"].endswith("; so far 2 retries, 0 x 429"), err
    assert line["l"].endswith("; so far 1 retry, 1 x 429"), err
    assert "so far" not in line["c"]
