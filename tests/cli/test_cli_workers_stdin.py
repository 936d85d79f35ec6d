"""``--itr-file -`` with worker processes: what the parent read reaches each child's stdin.

`run_workers` in process, its children real processes: each child of a plain sync (no
leases: both sync the one SQLite file) reads the entries from the pipe on its stdin and
syncs every plant. A child that is gone before its stdin is written does not break the
parent; unreadable stdin is a one-line usage error.
"""

from __future__ import annotations

import io
import sqlite3
import sys
from pathlib import Path

import pytest

from lacecal_async.cli import main
from lacecal_async.cli.fleet import run_workers
from tests.support.cli import PLANTS, START, threaded_server


def test_each_worker_reads_the_entries_the_parent_read(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    entries = "".join(f"p{i}={plant.itr}\n" for i, plant in enumerate(PLANTS[:2]))
    with threaded_server(PLANTS) as server:
        argv = [
            *("sync", str(db), "--itr-file", "-", "--start", str(START), "-q"),
            *("--base-url", server.base_url, "--rate", "1000/1", "--endpoint", "meter"),
        ]
        assert run_workers(argv, 2, stdin=entries) == 0
        requests = {plant.itr: server.stats(plant.itr).requests for plant in PLANTS[:2]}
    connection = sqlite3.connect(db)
    try:
        plants = {row[0] for row in connection.execute("SELECT DISTINCT plant FROM meter")}
    finally:
        connection.close()
    assert plants == {"p0", "p1"}
    # Both children synced both plants (the second one found little or nothing left).
    assert all(count >= 2 for count in requests.values()), requests


def test_children_that_exit_without_reading_their_stdin_leave_the_parent_unharmed(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # A usage error before stdin is read: more than a pipe holds is left unwritten.
    argv = ["sync", "postgresql://u@127.0.0.1:99999/db", "--itr-file", "-", "--start", "0"]
    assert run_workers(argv, 2, stdin=f"p0={PLANTS[0].itr}\n" * 20_000) == 2
    err = capfd.readouterr().err  # the children's own stderr
    assert err.count("lacecal: error: the PostgreSQL DSN names a port") == 2
    assert "Traceback" not in err


def test_unreadable_stdin_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xff\xfe\xfa"), "utf-8"))
    assert main(["sync", str(tmp_path / "s.db"), "--itr-file", "-", "--start", "0"]) == 2
    err = capsys.readouterr().err
    assert err == "lacecal: error: cannot read ITR file -: not text\n"
