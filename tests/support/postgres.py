"""A throwaway PostgreSQL server for the run, and a fresh database for each test that asks.

Registered by conftest (``pytest_plugins``). The server starts once, when the first test
needs it, and stops at the end of the run. Where no PostgreSQL binaries exist the tests
that need it skip, saying why; with ``CI`` set, that is a failure instead, so a CI machine
without PostgreSQL cannot pass by skipping them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator

import pytest

from lacecal_async.testing.postgres import PostgresUnavailableError, TemporaryPostgres

_numbers = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[TemporaryPostgres]:
    """One PostgreSQL server for the whole run (skip, or fail under CI, where none exists)."""
    try:
        server = TemporaryPostgres()
        server.start()
    except PostgresUnavailableError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL for these tests: {exc}")
        pytest.skip(f"no PostgreSQL server to test with: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def postgres_dsn(postgres_server: TemporaryPostgres) -> AsyncIterator[str]:
    """The DSN of a new, empty database of its own, dropped after the test."""
    import asyncpg  # noqa: PLC0415 - only the tests that use PostgreSQL need it

    name = f"test_{os.getpid()}_{next(_numbers)}"
    admin = await asyncpg.connect(postgres_server.dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield postgres_server.dsn_for(name)
    admin = await asyncpg.connect(postgres_server.dsn)
    try:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
