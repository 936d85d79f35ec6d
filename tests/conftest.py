"""The test suite's root: its plugins, and Hypothesis' profile.

Layout: ``unit/`` pure code on bytes and fake clocks; ``client/`` the client over real HTTP
to the fake server; ``fake/`` the fake server itself; ``store/`` stores, sync and fleets
on real SQLite and PostgreSQL; ``cli/`` the command in process; ``process/`` real
subprocesses (kills, signals, restarts); ``docs/`` the examples and claims of the README and
the docs site. Helpers live in ``support/``; no test module imports another.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# No per-example deadline anywhere: a busy machine makes examples slow, never wrong. CI runs
# the same examples every time (a red build means a change broke something); locally,
# Hypothesis keeps exploring new ones.
settings.register_profile("local", deadline=None)
settings.register_profile("ci", derandomize=True, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "local")

#: Fake servers and clients; a PostgreSQL server and a database per test (`postgres_dsn`);
#: each store in turn (`store_kind`).
pytest_plugins = ["tests.support.fixtures", "tests.support.postgres", "tests.support.store_kinds"]


@pytest.fixture(autouse=True)
def _unstamped_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """`lacecal sync` lines without timestamps: tests match their text (tests of the stamps
    themselves set LACECAL_LOG_TIMESTAMPS again)."""
    monkeypatch.setenv("LACECAL_LOG_TIMESTAMPS", "off")
