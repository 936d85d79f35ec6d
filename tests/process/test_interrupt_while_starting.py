"""A stop signal sent while a ``--workers`` child starts stops it before its work, cleanly.

The supervisor starts each child with SIGINT and SIGTERM blocked; `run_interruptible`
answers one sent meanwhile by not starting the work at all (`Interrupted`), then unblocks
them. Without the block, a child still importing the library died by the signal's default
action, and the supervisor reported the stop as a failure (exit 1, seen in CI).
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.support.checks import DEADLINE

PROGRAM = """
import os, signal, sys
from lacecal_async.cli.interrupt import Interrupted, run_interruptible

sent = [getattr(signal, name) for name in sys.argv[1:]]
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})  # as run_workers
for signum in sent:
    os.kill(os.getpid(), signum)  # while the child starts: pending

async def work():
    print("work ran")
    return "done"

outcome = run_interruptible(work, stay_stopping=True)
print(outcome)
print(sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])))  # unblocked again
"""


@pytest.mark.parametrize(
    ("sent", "out"),
    [
        ([], "work ran\ndone\n[]\n"),
        (["SIGTERM"], "Interrupted(signum=<Signals.SIGTERM: 15>)\n[]\n"),
        (["SIGINT", "SIGTERM"], "Interrupted(signum=<Signals.SIGINT: 2>)\n[]\n"),
    ],
)
def test_a_signal_pending_at_start_stops_before_the_work(sent: list[str], out: str) -> None:
    ran = subprocess.run(  # noqa: S603 - this interpreter, this program
        [sys.executable, "-c", PROGRAM, *sent],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert (ran.returncode, ran.stdout) == (0, out), ran.stderr


def test_the_signals_are_unblocked_for_a_process_that_goes_on() -> None:
    # Without stay_stopping, SIGTERM is back to its default after the early stop: it kills.
    program = PROGRAM.replace("stay_stopping=True", "stay_stopping=False") + (
        "os.kill(os.getpid(), signal.SIGTERM)\nprint('not reached')\n"
    )
    ran = subprocess.run(  # noqa: S603 - this interpreter, this program
        [sys.executable, "-c", program, "SIGTERM"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert ran.returncode == -signal.SIGTERM, ran.stderr
    assert "not reached" not in ran.stdout
