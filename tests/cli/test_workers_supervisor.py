"""`run_workers` in process (where coverage sees it): a failing child is logged and restarted.

The child here fails at once (its database is a directory: exit 1); the parent logs how it
ended, waits its backoff, starts it again; SIGTERM then stops the lot without a restart.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from lacecal_async.cli import fleet


@pytest.mark.slow
def test_a_failing_child_is_logged_restarted_and_a_sigterm_ends_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fleet, "RESTART_FIRST", 0.2)
    lines: list[tuple[float, str]] = []

    def log(text: str) -> None:
        lines.append((time.monotonic(), text))
        if "started (restart 2)" in text:
            signal.raise_signal(signal.SIGTERM)  # what systemd sends the parent

    argv = ["sync", str(tmp_path), "roof=Abcdefgh12345678", "--start", "now", "-q"]
    # The last child, signalled as it started, stops before its work: 143 (SIGTERM), as
    # a lone `lacecal sync` does; not killed by the signal half-way through Python's start.
    assert fleet.run_workers(argv, 1, log=log) == 143
    texts = [text for _, text in lines]
    assert texts[0].startswith("worker process ")
    assert texts[0].endswith(
        "(1 of 1) exited with status 1; restarting it in 0.2s (its plants go to the other "
        "workers once its leases expire)"
    )
    assert "(1 of 1) started (restart 1)" in texts[1]
    assert "restarting it in 0.4s" in texts[2]  # the backoff doubles
    assert "(1 of 1) started (restart 2)" in texts[3]
    assert lines[1][0] - lines[0][0] >= 0.2
    assert len(texts) == 4  # stopped by SIGTERM: its end is not news, nothing restarts


def test_a_usage_error_is_not_restarted(capsys: pytest.CaptureFixture[str]) -> None:
    assert fleet.run_workers(["sync", "x.db", "--start", "never"], 1) == 2
    assert "exited with status 2; not restarted" in capsys.readouterr().err
