"""Several processes opening one new SQLite store at once: each opens it, none is refused.

Turning a new database to WAL mode takes a lock for which SQLite does not always call the
busy handler: a second process converting at the same moment got "database is locked" at
once (seen in CI with ``lacecal sync --workers 2``). Processes here start each round at the
same instant, on a new file per round.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

OPENER = """
import asyncio, sys, time
from pathlib import Path
from lacecal_async.sync import SQLiteStore

async def main(folder: Path, start: float, rounds: int) -> None:
    for n in range(rounds):
        while time.time() < start + n * 0.15:
            pass  # a busy wait: every process leaves it within microseconds of the others
        async with SQLiteStore(folder / f"{n}.db"):
            pass

asyncio.run(main(Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])))
"""


def test_processes_opening_a_new_store_together_all_get_it(tmp_path: Path) -> None:
    start = time.time() + 2.0  # after every interpreter has started
    openers = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", OPENER, str(tmp_path), str(start), "24"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(5)
    ]
    errors = [opener.communicate(timeout=120)[1] for opener in openers]
    assert [opener.returncode for opener in openers] == [0] * 5, errors
    assert len(list(tmp_path.glob("*.db"))) == 24
