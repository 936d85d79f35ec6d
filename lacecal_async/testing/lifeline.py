"""Child processes of tests and benchmarks that never outlive them, even a SIGKILLed parent.

A process started for a test (a fake server, a ``lacecal`` command, a PostgreSQL server)
runs in a process group of its own and is stopped with its whole group. That covers every
way out the parent takes, but one: a parent killed with SIGKILL (or an out-of-memory kill)
runs no code. For that, the first registration starts a *lifeline*: this file, run as a
small process in a session of its own, holding the read end of a pipe whose write end only
this process holds. When this process dies, however it dies, the kernel closes the pipe;
the lifeline reads end-of-file, kills every process group still registered with SIGKILL,
stops every PostgreSQL server still registered (SIGQUIT, the immediate shutdown, so that
its backends go and its shared memory is freed; SIGKILL if it lingers) and deletes its
directory. A clean exit closes the pipe too: whatever is still registered then is killed.

`watch_group` / `forget_group` and `watch_postgres` / `forget_postgres` register and
unregister; `kill_group` signals a group; `run` is `subprocess.run` on those terms. A
child of ours that should stop by itself when we die reads a pipe from us as its stdin
(`stop_at_eof`). The lifeline process imports the standard library only (it runs with
``python -I``), so it starts in milliseconds.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = [
    "KILL",
    "children",
    "clean_up",
    "forget_group",
    "forget_postgres",
    "kill_group",
    "run",
    "running",
    "stop_at_eof",
    "stop_postgres",
    "watch_group",
    "watch_postgres",
]

#: SIGKILL where it exists (not on Windows, where a kill is a kill).
KILL: int = getattr(signal, "SIGKILL", signal.SIGTERM)
#: How long a PostgreSQL server may take to stop on SIGQUIT before it is SIGKILLed [s].
_POSTGRES_STOP = 10.0
#: How often `run` checks whether its child has exited while its pipes stay open [s].
_SLICE = 0.1


def kill_group(pgid: int, signum: int = KILL) -> bool:
    """Send `signum` to every process of the group `pgid`; False if none is left.

    A child started with ``start_new_session=True`` leads a group whose id is its pid; its
    own children stay in it unless they leave on purpose. Where there are no process
    groups (Windows) the process alone gets the signal.
    """
    try:
        if hasattr(os, "killpg"):
            os.killpg(pgid, signum)
        else:  # pragma: no cover - Windows
            os.kill(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - the pgid was reused by someone else's group
        return False
    return True


def running(pid: int) -> bool:
    """Whether process `pid` runs (a zombie does not: it only waits to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # pragma: no cover - no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def children(pid: int) -> list[int]:
    """Return the processes whose parent is `pid` (PostgreSQL backends lead their own groups)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(entry.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.parent.name))
    return found


def stop_postgres(directory: Path) -> None:
    """Stop the PostgreSQL server running from ``directory/data``, if one still does.

    Its pid comes from ``postmaster.pid`` (``pg_ctl`` detaches the server: it is no child of
    ours), and is trusted only while that process's command line names the data directory.
    """
    data = directory / "data"
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        return
    if os.fsencode(data) not in command:  # a stale file: the pid is someone else's now
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown: backends too, shared memory freed
    deadline = time.monotonic() + _POSTGRES_STOP
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if running(pid):  # pragma: no cover - a wedged server
        for child in children(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, KILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, KILL)


def clean_up(groups: Iterable[int], clusters: Iterable[str]) -> None:
    """Kill the process groups and stop the PostgreSQL servers, deleting their directories."""
    for pgid in groups:
        kill_group(pgid)
    for directory in clusters:
        stop_postgres(Path(directory))
        shutil.rmtree(directory, ignore_errors=True)


class _Lifeline:
    """Our end of the lifeline, started at the first registration."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._owner = 0
        #: What is registered: said again to a new lifeline (after a fork, or if one died).
        self._state: set[str] = set()

    def _pipe(self) -> IO[bytes]:
        process = self._process
        if process is not None and self._owner == os.getpid() and process.poll() is None:
            assert process.stdin is not None  # noqa: S101 - PIPE was asked for
            return process.stdin
        self._process = process = subprocess.Popen(  # noqa: S603 - this interpreter, this file
            [sys.executable, "-I", __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # neither Ctrl-C nor a kill of our group reaches it
        )
        self._owner = os.getpid()
        assert process.stdin is not None  # noqa: S101 - PIPE was asked for
        process.stdin.write("".join(f"+{entry}\n" for entry in sorted(self._state)).encode())
        return process.stdin

    def update(self, add: bool, entry: str) -> None:
        """Register (`add`) or forget `entry` (``group PGID`` or ``postgres DIRECTORY``)."""
        with self._lock:
            if add:
                self._state.add(entry)
            else:
                self._state.discard(entry)
            try:
                pipe = self._pipe()
                pipe.write(f"{'+' if add else '-'}{entry}\n".encode())
                pipe.flush()
            except BrokenPipeError:  # pragma: no cover - it died between poll and write
                self._process = None
                self._pipe().flush()  # another one, which learns the whole state

    def forked(self) -> None:  # pragma: no cover - runs in a forked child
        """In a child made by fork: let go of the parent's lifeline (the child starts its own).

        Holding the parent's pipe would keep its lifeline waiting after the parent died.
        """
        self._lock = threading.Lock()
        process, self._process = self._process, None
        if process is not None and process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()  # this process's copy of the descriptor only

    def close(self) -> None:
        """At exit: end the pipe, and give the lifeline a moment to clean up and leave."""
        with self._lock:
            process, self._process = self._process, None
        if process is None or self._owner != os.getpid():
            return
        assert process.stdin is not None  # noqa: S101 - PIPE was asked for
        with contextlib.suppress(OSError):
            process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(_POSTGRES_STOP + 5)


_LIFELINE = _Lifeline()
atexit.register(_LIFELINE.close)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_LIFELINE.forked)


def watch_group(pgid: int) -> None:
    """Have the lifeline SIGKILL the process group `pgid` if this process dies first."""
    _LIFELINE.update(True, f"group {pgid}")


def forget_group(pgid: int) -> None:
    """Forget `pgid`: its processes are gone (its id may be reused)."""
    _LIFELINE.update(False, f"group {pgid}")


def watch_postgres(directory: Path) -> None:
    """Have the lifeline stop the server of ``directory/data`` and delete `directory`."""
    _LIFELINE.update(True, f"postgres {directory}")


def forget_postgres(directory: Path) -> None:
    """Forget `directory`: its server is stopped and the directory deleted."""
    _LIFELINE.update(False, f"postgres {directory}")


def run(
    command: Sequence[str],
    *,
    timeout: float | None,
    input: str | bytes | None = None,
    capture_output: bool = False,
    text: bool = False,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: int | IO[Any] | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
) -> subprocess.CompletedProcess[Any]:
    """`subprocess.run` for a child that leads a process group of its own, watched.

    The whole group is SIGKILLed once the child has exited (so what it left running, which
    may hold the output pipes open, ends too), on `timeout` (`subprocess.TimeoutExpired`, as
    `subprocess.run` raises) and when the wait is interrupted (KeyboardInterrupt, a test's
    timeout).
    """
    if capture_output:
        stdout = stderr = subprocess.PIPE
    if input is not None:
        stdin = subprocess.PIPE
    end = None if timeout is None else time.monotonic() + timeout
    with subprocess.Popen(  # noqa: S603 - the caller's command, no shell
        command,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        text=text,
        cwd=cwd,
        env=env,
        start_new_session=True,
    ) as process:
        watch_group(process.pid)
        try:
            while True:
                try:
                    out, err = process.communicate(input, timeout=_SLICE)
                    break
                except subprocess.TimeoutExpired:
                    input = None  # sent already (communicate goes on where it stopped)
                    if process.poll() is not None:  # exited; something holds its pipes
                        kill_group(process.pid)
                    elif end is not None and time.monotonic() > end:
                        raise subprocess.TimeoutExpired(process.args, timeout or 0.0) from None
        finally:
            kill_group(process.pid)
            forget_group(process.pid)
            process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def stop_at_eof(stop: asyncio.Event, fd: int = 0) -> None:
    """Set `stop` once the file `fd` (stdin) ends: the parent holding its pipe died, or closed it.

    A daemon thread reads the raw descriptor (a blocking read: never on the event loop;
    never through ``sys.stdin``, whose lock a thread still reading would hold at exit).
    """
    loop = asyncio.get_running_loop()

    def read() -> None:
        with contextlib.suppress(OSError):
            while os.read(fd, 65536):
                pass
        with contextlib.suppress(RuntimeError):  # the loop is closed: it stopped already
            loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=read, name="stop-at-eof", daemon=True).start()


def _main() -> None:  # pragma: no cover - runs in the lifeline process
    """Keep the registrations read from stdin; at its end, clean up what is left."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    state: set[str] = set()
    for line in sys.stdin:  # until end-of-file: the parent closed the pipe, or died
        if not line.endswith("\n"):  # cut short by the parent's death
            break
        if line[0] == "+":
            state.add(line[1:-1])
        else:
            state.discard(line[1:-1])
    entries = [entry.partition(" ") for entry in state]
    clean_up(
        [int(value) for kind, _, value in entries if kind == "group"],
        [value for kind, _, value in entries if kind == "postgres"],
    )


if __name__ == "__main__":  # pragma: no cover - the lifeline process
    _main()
