"""The `lacecal` command as a subprocess of this interpreter (in a group of its own)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import processes
from tests.support.checks import DEADLINE

#: How long a command may take before the test fails (only a failing one takes that long).
TIMEOUT = DEADLINE


def lacecal(*args: str) -> list[str]:
    return [sys.executable, "-m", "lacecal_async", *args]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return processes.run(lacecal(*args), timeout=TIMEOUT, cwd=cwd)
