"""``lacecal sync --follow`` keeps up with ``lacecal serve --follow --speed 60``, from the shell.

Issue 24: the fake's clock ran 60 times real time but sync had no clock option, so it polled
in real time and fell behind for good (and soon refused the fake's records as dated after
its clock). Now serve prints ``--clock-speed 60 --clock-epoch T`` and sync shares that clock.
Plants with 120 s periods (two real seconds each): after five periods of following, the newest
stored period of each plant ended less than one period before the fake's clock.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import processes
from tests.support.checks import DEADLINE

pytestmark = pytest.mark.slow

PERIOD = 120
SPEED = 60.0


def _latest(db: Path) -> dict[str, int]:
    if not db.exists():
        return {}
    connection = sqlite3.connect(db)
    try:
        rows = connection.execute("SELECT plant, max(unix_time) FROM meter GROUP BY plant")
        return {plant: int(latest) for plant, latest in rows}
    except sqlite3.OperationalError:  # no schema yet
        return {}
    finally:
        connection.close()


def test_sync_follows_a_sped_up_fake_with_its_clock(tmp_path: Path) -> None:
    serve = [
        *(sys.executable, "-m", "lacecal_async", "serve", "--follow", "--speed", f"{SPEED:g}"),
        *("--interval", str(PERIOD), "--plants", "2", "--days", "0.5", "--rate", "none"),
    ]
    with processes.started(
        serve, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as server:
        out, err = processes.Lines(server.stdout), processes.Lines(server.stderr)
        processes.poll_until(lambda: len(out.lines) >= 4 and "--clock-epoch" in err.text)
        url, itrs = out.lines[0].strip(), [line.split()[0] for line in out.lines[2:4]]
        hint = re.search(
            r"--start (\S+) --follow --clock-speed (\S+) --clock-epoch (\S+)", err.text
        )
        assert hint is not None, err.text
        since, speed, epoch = hint[1], hint[2], float(hint[3])
        assert float(speed) == SPEED

        def fake_now() -> float:
            return epoch + (time.time() - epoch) * SPEED

        db = tmp_path / "f.db"
        sync = [
            *(sys.executable, "-m", "lacecal_async", "sync", str(db), *itrs, "--since", since),
            *("--follow", "--base-url", url, "--rate", "1000/1", "--endpoint", "meter"),
            *("--clock-speed", speed, "--clock-epoch", hint[3], "--progress", "plain"),
        ]
        log = tmp_path / "sync.err"
        with (
            log.open("w") as sync_err,
            processes.started(sync, stderr=sync_err, stdout=subprocess.DEVNULL) as follower,
        ):
            processes.poll_until(lambda: len(_latest(db)) == 2 or follower.poll() is not None)
            assert follower.poll() is None, log.read_text()
            caught_up, before = fake_now(), _latest(db)
            processes.poll_until(lambda: fake_now() >= caught_up + 5 * PERIOD)

            def keeps_up() -> bool:
                """Each plant's newest stored period ended less than a period ago."""
                now, latest = fake_now(), _latest(db)
                return all(now - (t + PERIOD) < PERIOD for t in latest.values())

            processes.poll_until(keeps_up)
            assert follower.poll() is None, log.read_text()
            behind = {p: fake_now() - (t + PERIOD) for p, t in _latest(db).items()}
            print(f"behind the fake's clock after 5 periods: {behind}")  # noqa: T201
            follower.send_signal(signal.SIGTERM)
            assert follower.wait(timeout=DEADLINE) == 0
        # It kept polling: each plant gained about five periods while it was watched.
        after = _latest(db)
        assert all(after[p] - before[p] >= 3 * PERIOD for p in before), (before, after)
        text = log.read_text()
        assert "after this client's clock" not in text  # no record refused as future
        assert all(itr[-8:] not in text for itr in itrs)
