"""Several processes opening one new SQLite store at once: each opens it, none is refused.

Turning a new database to WAL mode takes a lock for which SQLite does not always call the
busy handler: a second process converting at the same moment got "database is locked" at
once (seen in CI with ``lacecal sync --workers 2``). Processes here start each round at the
same instant, on a new file per round: once every one of them says it is ready, the test
gives them all a start time a moment ahead.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import processes
from tests.support.checks import DEADLINE

OPENER = """
import asyncio, sys, time
from pathlib import Path
from lacecal_async.sync import SQLiteStore

async def main(folder: Path, rounds: int) -> None:
    print("ready", flush=True)
    start = float(sys.stdin.readline())
    for n in range(rounds):
        while time.time() < start + n * 0.15:
            pass  # a busy wait: every process leaves it within microseconds of the others
        async with SQLiteStore(folder / f"{n}.db"):
            pass

asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
"""


@pytest.mark.slow
def test_processes_opening_a_new_store_together_all_get_it(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        openers = [
            stack.enter_context(
                processes.started(
                    [sys.executable, "-c", OPENER, str(tmp_path), "24"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
            for _ in range(5)
        ]
        for opener in openers:  # every interpreter has started and imported the store
            assert opener.stdout is not None
            assert opener.stdout.readline() == "ready\n"
        start = time.time() + 0.2
        errors = [opener.communicate(f"{start}\n", timeout=DEADLINE)[1] for opener in openers]
    assert [opener.returncode for opener in openers] == [0] * 5, errors
    assert len(list(tmp_path.glob("*.db"))) == 24
