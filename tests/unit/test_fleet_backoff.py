"""The supervisor's restart backoff stays at its longest however often a child dies."""

from __future__ import annotations

import subprocess
import sys

from lacecal_async.cli import fleet


def test_a_child_that_keeps_dying_is_restarted_after_the_longest_delay() -> None:
    # A worker crashing every minute for 17 hours (its runs never reach RESTART_RESET) has
    # died 1025 times: 2 ** 1024 is no float, and the supervisor itself died of it.
    child = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    child.wait()
    slot = fleet._Slot(1, child=child, started=0.0, failures=1100)
    lines: list[str] = []
    fleet._tend(slot, 1.0, 1, lines.append, lambda _slot: None, stopping=False)
    assert slot.due == 1.0 + fleet.RESTART_MAX
    assert lines == [
        f"worker process {child.pid} (1 of 1) exited with status 1; restarting it in "
        f"{fleet.RESTART_MAX:g}s (its plants go to the other workers once its leases expire)"
    ]
