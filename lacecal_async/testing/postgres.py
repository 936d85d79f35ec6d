"""A throwaway PostgreSQL server in a temporary directory, for tests and benchmarks.

``with TemporaryPostgres() as pg: pg.dsn`` runs ``initdb`` and ``pg_ctl`` from the machine's
PostgreSQL binaries (Debian's ``postgresql-NN`` packages put them under
``/usr/lib/postgresql/NN/bin``; ``LACECAL_PG_BIN`` names another directory) on a free
loopback port, with durability off (it is thrown away), and removes everything on exit.
PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user.

Nothing outlives its owner: each command runs in a process group of its own, killed whole
on a timeout, and the directory is registered with the `lifeline` from its creation, so a
SIGKILLed owner's server is stopped and its files deleted all the same.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from lacecal_async.testing import lifeline

__all__ = ["PostgresUnavailableError", "TemporaryPostgres", "find_postgres_bin"]

#: How long initdb or a start/stop may take [s].
_COMMAND_TIMEOUT = 120.0
#: Where Debian's packages put each version's binaries.
_VERSIONS_ROOT = Path("/usr/lib/postgresql")
#: Starts tried before giving up (another process may take the free port first).
_START_TRIES = 3


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries on this machine (or no user to run them as root)."""


def find_postgres_bin() -> Path:
    """Return the directory holding ``initdb`` and ``pg_ctl``; the newest version wins."""
    named = os.environ.get("LACECAL_PG_BIN")
    if named:
        if (Path(named) / "initdb").is_file() and (Path(named) / "pg_ctl").is_file():
            return Path(named)
        raise PostgresUnavailableError(f"LACECAL_PG_BIN={named} holds no initdb and pg_ctl")
    candidates = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)  # a link to the real directory
    versions = sorted(
        _VERSIONS_ROOT.glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += versions
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    raise PostgresUnavailableError(
        "no PostgreSQL server binaries (initdb, pg_ctl) found: install postgresql-15, "
        "or set LACECAL_PG_BIN to their directory"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class TemporaryPostgres:
    """A PostgreSQL server of its own: started on enter, stopped and deleted on exit."""

    def __init__(self) -> None:
        self._bin = find_postgres_bin()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            if shutil.which("runuser") is None:  # pragma: no cover - util-linux is everywhere
                raise PostgresUnavailableError("as root, starting PostgreSQL needs runuser")
            try:
                pwd.getpwnam("postgres")
            except KeyError:  # pragma: no cover - Debian's package creates the user
                raise PostgresUnavailableError(
                    "PostgreSQL refuses to run as root, and there is no 'postgres' user to run "
                    "it as (the postgresql-NN package creates it)"
                ) from None
        self._dir: Path | None = None
        self.port = 0
        self.dsn = ""

    def _run(self, *args: str) -> None:
        command = [str(self._bin / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = lifeline.run(command, capture_output=True, text=True, timeout=_COMMAND_TIMEOUT)
        if done.returncode != 0:
            raise PostgresUnavailableError(
                f"{args[0]} failed ({done.returncode}): {done.stderr.strip() or done.stdout}"
            )

    def start(self) -> None:
        """Create the cluster and start the server; `dsn` then connects as ``postgres``."""
        self._dir = Path(tempfile.mkdtemp(prefix="lacecal-pg-"))
        lifeline.watch_postgres(self._dir)
        if self._as_postgres:
            shutil.chown(self._dir, "postgres", "postgres")
        data = self._dir / "data"
        self._run(
            "initdb",
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        for attempt in range(_START_TRIES):
            try:
                self._start_server(data)
            except PostgresUnavailableError:
                if attempt == _START_TRIES - 1:
                    raise
            else:
                break
        self.dsn = self.dsn_for("postgres")

    @property
    def directory(self) -> Path | None:
        """The server's temporary directory (cluster, socket, log) while it runs."""
        return self._dir

    def dsn_for(self, database: str) -> str:
        """Return the DSN of `database` on this server (as the ``postgres`` superuser)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _start_server(self, data: Path) -> None:
        assert self._dir is not None  # noqa: S101 - start() made it
        self.port = _free_port()
        options = (
            f"-p {self.port} -k {self._dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(self._dir / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def restart(self) -> None:
        """Restart the server on its port, as an operator's ``pg_ctl restart`` does.

        Every client's connection drops (a fast shutdown); the server takes new ones once
        it is back, when this returns.
        """
        if self._dir is None:
            raise PostgresUnavailableError("the server is not running: start() it first")
        data = self._dir / "data"
        self._run(
            "pg_ctl",
            "-D",
            str(data),
            "-m",
            "fast",
            "-l",
            str(self._dir / "log"),
            "-w",
            "-t",
            "60",
            "restart",
        )

    def stop(self) -> None:
        """Stop the server at once and delete its files; safe to call twice."""
        directory, self._dir = self._dir, None
        if directory is None:
            return
        try:
            if (directory / "data" / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(directory / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(directory, ignore_errors=True)
            lifeline.forget_postgres(directory)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
