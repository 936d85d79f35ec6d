"""Crash safety: a writer killed with SIGKILL at random points loses at most its page in flight."""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lacecal_async.sync.holes import find_gaps
from lacecal_async.tables import METER
from tests.support import processes
from tests.support.checks import DEADLINE
from tests.support.stores import KEY, meter_pages, rows

WRITER = Path(__file__).parents[1] / "support" / "stores.py"
KILLS = 10


def start_writer(db: Path) -> contextlib.AbstractContextManager[subprocess.Popen[str]]:
    return processes.started(
        [sys.executable, str(WRITER), str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def check_consistent(db: Path) -> int:
    """Assert the rows are exactly the pages up to the saved state; return pages committed."""
    pages = meter_pages()
    if rows(db, "PRAGMA user_version") == [(0,)]:  # killed while creating the schema
        assert rows(db, "SELECT name FROM sqlite_schema") == []
        return 0
    state = rows(db, "SELECT latest FROM sync_state WHERE plant = ?", KEY)
    stored = rows(db, "SELECT * FROM meter ORDER BY unix_time")
    keys = rows(db, "SELECT count(*), count(DISTINCT unix_time) FROM meter")
    assert keys[0][0] == keys[0][1]  # no duplicate key
    if not state:
        assert stored == []
        return 0
    done = 1 + [page[-1].unix_time for page in pages].index(state[0][0])
    records = [r for page in pages[:done] for r in page]
    expected = [(*r[:2], r[2].isoformat(), *r[3:]) for r in METER.rows(KEY, records)]  # type: ignore[union-attr]
    assert stored == expected
    # The holes are exactly the gaps between the rows committed.
    holes = rows(db, "SELECT start_time, end_time FROM holes ORDER BY start_time")
    gaps = find_gaps((r[1], r[4]) for r in stored)
    assert holes == [(g.start, g.end) for g in gaps]
    return done


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sigkill_at_random_points_loses_nothing_committed(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    rng = random.Random(15)  # reproducible kill points
    total = len(meter_pages())
    progress = []
    for _ in range(KILLS):
        with start_writer(db) as writer:
            assert writer.stdin is not None
            assert writer.stdout is not None
            # Let it commit a few pages, wait until it reports some of them (0: it may still
            # be opening the store), then kill it at a random instant: mid-transaction too.
            allowed = rng.randrange(1, 6)
            writer.stdin.write(f"{allowed}\n")
            writer.stdin.flush()
            for _ in range(rng.randrange(0, allowed)):
                writer.stdout.readline()
            time.sleep(rng.uniform(0, 0.003))
            assert processes.stop(writer, signal.SIGKILL) in (-signal.SIGKILL, 0)
        progress.append(check_consistent(db))
    assert progress == sorted(progress)  # a rerun resumes: never goes back
    assert progress[-1] < total  # it was killed before finishing: the test exercised crashes
    with start_writer(db) as writer:
        out, err = writer.communicate("", timeout=DEADLINE)
    assert writer.returncode == 0, err
    assert out.split()[0] == str(progress[-1])  # resumed exactly after the saved page
    assert check_consistent(db) == total
