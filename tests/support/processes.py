"""Every process a test starts: in a group of its own, killed whole, never left behind.

`run` (`subprocess.run`), `started` (`subprocess.Popen`) and `started_async`
(`asyncio.create_subprocess_exec`) start the child as the leader of a new process group
(``start_new_session``), and SIGKILL the whole group when the test is done with it: at the
end of the ``with`` block, on a timeout, on an assertion that fails, on a pytest timeout.
Each group is registered with the library's `lifeline` meanwhile, so if the pytest process
itself is SIGKILLed its lifeline kills them (and stops a `TemporaryPostgres`).

Under pytest-xdist each worker has a lifeline of its own. A worker whose controller dies
SIGINTs itself 5 s later (execnet: its test's teardown runs) and calls ``os._exit`` 10 s
after that if still there; either way its children go (teardown, or its lifeline).

`leftovers` lists the processes whose environment carries a marker, which every child
inherits: how a test checks that nothing a run started is still there (PostgreSQL's
backends overwrite theirs with their process titles: `children` of the postmaster finds
them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from lacecal_async.testing import lifeline
from tests.support.checks import DEADLINE

Stream = int | IO[Any] | None
#: Environment variables every child keeps, even given an environment of its own.
_INHERITED = "LACECAL_TEST_"


def _env(env: Mapping[str, str] | None) -> dict[str, str] | None:
    if env is None:
        return None
    kept = {k: v for k, v in os.environ.items() if k.startswith(_INHERITED)}
    return {**kept, **env}


def run(
    command: Sequence[str],
    *,
    timeout: float = DEADLINE,
    input: str | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    text: bool = True,
    stdout: Stream = subprocess.PIPE,
    stderr: Stream = subprocess.PIPE,
) -> subprocess.CompletedProcess[Any]:
    """Run `command` to its end, capturing its output; its group is killed afterwards.

    `timeout` is a deadline for a failing test (`subprocess.TimeoutExpired`), not a speed.
    """
    return lifeline.run(
        command,
        timeout=timeout,
        input=input,
        stdout=stdout,
        stderr=stderr,
        text=text,
        cwd=cwd,
        env=_env(env),
    )


@contextlib.contextmanager
def started(
    command: Sequence[str],
    *,
    stdin: Stream = None,
    stdout: Stream = None,
    stderr: Stream = None,
    text: bool = False,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[Any]]:
    """Start `command`; at the end of the block SIGKILL its group and reap it."""
    with subprocess.Popen(  # noqa: S603 - the tests' own commands, no shell
        command,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        text=text,
        cwd=cwd,
        env=_env(env),
        start_new_session=True,
    ) as process:
        lifeline.watch_group(process.pid)
        try:
            yield process
        finally:
            lifeline.kill_group(process.pid)
            lifeline.forget_group(process.pid)
            with contextlib.suppress(OSError, ValueError):
                process.communicate(timeout=DEADLINE)  # read what is left, close the pipes


@contextlib.asynccontextmanager
async def started_async(
    command: Sequence[str],
    *,
    stdin: Stream = None,
    stdout: Stream = None,
    stderr: Stream = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`started` for asyncio: at the end of the block SIGKILL the group and reap it."""
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        cwd=cwd,
        env=_env(env),
        start_new_session=True,
    )
    lifeline.watch_group(process.pid)
    try:
        yield process
    finally:
        lifeline.kill_group(process.pid)
        lifeline.forget_group(process.pid)
        await asyncio.shield(process.communicate())


class Lines:
    """The lines a child writes to a pipe, read by a thread as they come (the pipe never fills).

    ``Lines(process.stdout)``; `lines` is a snapshot, `text` all of it so far.
    """

    def __init__(self, stream: IO[str] | None) -> None:
        assert stream is not None, "the stream was not asked for: PIPE"
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        with contextlib.suppress(OSError, ValueError):
            for line in stream:
                with self._lock:
                    self._lines.append(line)

    @property
    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def join(self) -> list[str]:
        """Wait for the end of the stream (the child exited); return every line."""
        self._thread.join(DEADLINE)
        return self.lines


def stop(process: subprocess.Popen[Any], signum: int = signal.SIGTERM) -> int:
    """Send `signum` to the process alone and wait for its status (deadline: `DEADLINE`)."""
    process.send_signal(signum)
    return process.wait(DEADLINE)


def poll_until(predicate: Callable[[], bool], *, deadline: float = DEADLINE) -> None:
    """Poll `predicate` until it holds; fail after `deadline` seconds (a blocking wait)."""
    end = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError(f"still not true after {deadline:g} s: {predicate}")
        time.sleep(0.02)


#: Whether a process runs (a zombie does not), and a process's children: the lifeline's own.
running = lifeline.running
children = lifeline.children


def leftovers(name: str, value: str) -> dict[int, str]:
    """Processes (but this one) whose environment holds ``name=value``: pid -> command line.

    A zombie shows no environment: it runs no more, so it is no leftover.
    """
    marker = f"{name}={value}".encode()
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if int(entry.name) != os.getpid() and marker in (entry / "environ").read_bytes().split(
                b"\0"
            ):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                found[int(entry.name)] = command.decode(errors="replace").strip()
    return found
