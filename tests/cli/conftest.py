"""What every command-line test shares: no identifiers from the environment of whoever runs it."""

from __future__ import annotations

import pytest

from lacecal_async.cli.itrs import ENV_VAR


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """``LACECAL_ITRS`` set in the shell would add plants to every command a test runs."""
    monkeypatch.delenv(ENV_VAR, raising=False)
