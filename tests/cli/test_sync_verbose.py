"""``lacecal sync -v`` logs every request, as ``lacecal fetch -v`` does (identifiers redacted)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lacecal_async import redact
from lacecal_async.cli import main
from lacecal_async.testing import FakeLacecalServer
from tests.support.cli import FAST, PLANTS, START, assert_no_secret, threaded_server

PLANT = PLANTS[0]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLacecalServer]:
    with threaded_server([PLANT]) as fake:
        yield fake


def _sync(server: FakeLacecalServer, db: Path, *extra: str) -> list[str]:
    return [
        "sync", str(db), f"roof={PLANT.itr}", "--start", str(START), "--endpoint", "meter",
        "--base-url", server.base_url, "--rate", FAST, "--progress", "plain", *extra,
    ]  # fmt: skip


def test_sync_verbose_logs_every_request(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_sync(server, tmp_path / "plants.db", "-v")) == 0
    err = capsys.readouterr().err
    requests = [line for line in err.splitlines() if "GET meter.php" in line]
    assert len(requests) >= 1, err
    assert all(redact(PLANT.itr) in line and line.startswith("lacecal") for line in requests)
    assert_no_secret(err, [PLANT.itr])


def test_sync_without_verbose_logs_no_request(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_sync(server, tmp_path / "plants.db")) == 0
    assert "GET meter.php" not in capsys.readouterr().err
