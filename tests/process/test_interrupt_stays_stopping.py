"""A ``--workers`` child signalled with its whole group is not killed by the forwarded signal.

systemd's stop and a terminal's Ctrl-C reach the supervisor and its children at once; the
supervisor then forwards a SIGTERM to each child. On a busy machine that forward came after
the child had finished stopping and set SIGTERM back to its default: the child died by it
on its way out, and the supervisor reported the stop as a failure (exit 1, seen in CI).
`run_interruptible(..., stay_stopping=True)` keeps SIGTERM ignored until the process ends;
without it SIGTERM is as before, for a caller that goes on.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.checks import DEADLINE

PROGRAM = """
import asyncio, os, signal, sys
from lacecal_async.cli.interrupt import Interrupted, run_interruptible

async def work():
    os.kill(os.getpid(), signal.SIGTERM)  # the signal the whole group was sent
    await asyncio.sleep(60)

outcome = run_interruptible(work, stay_stopping=sys.argv[1] == "stay")
assert outcome == Interrupted(signal.SIGTERM), outcome
os.kill(os.getpid(), signal.SIGTERM)  # the supervisor's forward, after the work ended
print("ended on its own")
"""


@pytest.mark.parametrize(
    ("mode", "status", "out"), [("stay", 0, "ended on its own\n"), ("go-on", -15, "")]
)
def test_a_late_sigterm_after_a_signalled_stop(mode: str, status: int, out: str) -> None:
    ran = subprocess.run(  # noqa: S603 - this interpreter, this program
        [sys.executable, "-c", PROGRAM, mode],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert (ran.returncode, ran.stdout) == (status, out), ran.stderr
