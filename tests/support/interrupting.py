"""The command in process until what a test waits for is there, then a signal (Ctrl-C).

`main()` stops cleanly on SIGINT or SIGTERM. A test that needs it stopped sends the signal
once the state it waits for shows (a line written, rows in the database), never after a
fixed time: a busy machine makes the wait longer, never the test red. If the state never
comes, the signal goes at the deadline and the test's own assertions say what was missing.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from lacecal_async.cli import main
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import PostgresStore, SQLiteStore, StoreError
from tests.support.checks import DEADLINE


class Watched(io.StringIO):
    """A stand-in for stdout or stderr that another thread may read while it is written."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        """Write `text` (under the lock)."""
        with self._lock:
            return super().write(text)

    def text(self) -> str:
        """Return all written so far."""
        with self._lock:
            return self.getvalue()

    def lines(self) -> list[str]:
        """Return the complete lines written so far."""
        text = self.text()
        return text[: text.rfind("\n") + 1].splitlines()


def main_until(
    argv: list[str],
    done: Callable[[], bool],
    *,
    signum: int = signal.SIGINT,
    deadline: float = DEADLINE,
    every: float = 0.02,
) -> int:
    """Run ``main(argv)``; send this process `signum` once `done()` holds (or at the deadline).

    `done` runs on a thread of its own, every `every` seconds, while the command runs (it
    must not return by itself: a signal then could come after it ended).
    """
    finished = threading.Event()
    lock = threading.Lock()

    def watch() -> None:
        end = time.monotonic() + deadline
        while not finished.is_set() and not done() and time.monotonic() < end:
            finished.wait(every)
        with lock:
            if not finished.is_set():
                os.kill(os.getpid(), signum)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        return main(argv)
    finally:
        with lock:
            finished.set()
        watcher.join()


def latest_records(db: str | Path, endpoint: Endpoint = Endpoint.METER) -> dict[str, int | None]:
    """Each plant's newest stored record [UNIX s] in a store a running command writes.

    Read through a store of its own that creates nothing (`create=False`); a store not
    there yet reads as empty.
    """

    async def read() -> dict[str, int | None]:
        text = str(db)
        store = (
            PostgresStore(text, create=False)
            if text.startswith(("postgresql://", "postgres://"))
            else SQLiteStore(text, create=False)
        )
        try:
            async with store:
                return {
                    row.plant: row.latest_record
                    for row in await store.status()
                    if row.endpoint is endpoint
                }
        except (StoreError, OSError):
            return {}

    return asyncio.run(read())
