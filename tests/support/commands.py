"""The `lacecal` command as a subprocess of this interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TIMEOUT = 60


def lacecal(*args: str) -> list[str]:
    return [sys.executable, "-m", "lacecal_async", *args]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        lacecal(*args), capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd, check=False
    )
