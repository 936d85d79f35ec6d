"""Run a coroutine so that Ctrl-C (SIGINT) or SIGTERM stops it cleanly.

The first signal cancels the work, whose ``finally`` blocks then run (writers close, so
every record fetched so far is in a valid file); a second Ctrl-C interrupts at once, a
second SIGTERM is ignored (a supervisor forwards the one its whole group was sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import attrs

__all__ = ["STOP_SIGNALS", "Interrupted", "run_interruptible", "stop_signals_blocked"]

T = TypeVar("T")
#: What stops a command: the terminal's Ctrl-C, systemd's stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@attrs.frozen
class Interrupted:
    """The work was stopped by a signal; `exit_status` is the shell's 128 + its number."""

    signum: int

    @property
    def exit_status(self) -> int:
        """130 for SIGINT (Ctrl-C), 143 for SIGTERM."""
        return 128 + self.signum


def run_interruptible(
    work: Callable[[], Awaitable[T]], *, stay_stopping: bool = False
) -> T | Interrupted:
    """Run ``work()`` in a fresh event loop; return its result, or `Interrupted`.

    `stay_stopping`: once a signal stopped the work, SIGTERM stays ignored for the rest of
    the process (for a ``--workers`` child, whose supervisor forwards the signal its whole
    group was sent, maybe late on a busy machine: it must not kill the child on its way
    out). Otherwise SIGTERM is as it was before, for a caller that goes on.
    """

    async def guarded() -> T | Interrupted:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(work())
        caught: list[int] = []
        previous = signal.getsignal(signal.SIGTERM)

        def stop(signum: int) -> None:
            caught.append(signum)
            task.cancel()
            for each in STOP_SIGNALS:
                loop.remove_signal_handler(each)
            # The next Ctrl-C interrupts at once; a SIGTERM while stopping is the same request
            # (a `--workers` parent forwards the one systemd or the terminal sent us too).
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

        try:
            for signum in STOP_SIGNALS:
                loop.add_signal_handler(signum, stop, signum)
        except NotImplementedError:  # pragma: no cover - Windows: KeyboardInterrupt it is
            pass
        try:
            return await task
        except asyncio.CancelledError:
            if not caught:
                raise
            return Interrupted(caught[0])
        finally:
            for signum in STOP_SIGNALS:
                with contextlib.suppress(NotImplementedError):
                    loop.remove_signal_handler(signum)
            if caught and previous is not None and not stay_stopping:  # as it was before
                signal.signal(signal.SIGTERM, previous)

    early = _sent_while_starting()
    if early is not None and stay_stopping:  # ignored before it is unblocked
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # pragma: no branch - not on Windows
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    if early is not None:  # the work never starts: nothing to stop
        return Interrupted(early)
    return asyncio.run(guarded())


@contextlib.contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """Block SIGINT and SIGTERM in the block: a process started in it starts so.

    A signal mask survives exec. A ``--workers`` child started so holds one sent while it
    imports the library until `run_interruptible` answers it, cleanly, instead of dying by
    the signal's default action.
    """
    unblocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, unblocked)


def _sent_while_starting() -> int | None:
    """Return the first stop signal sent while this process started, answering each sent.

    A ``--workers`` child starts with SIGINT and SIGTERM blocked (`stop_signals_blocked`), so
    that one sent while Python imports the library stops it here, cleanly, and not by the
    signal's default action. None: none was sent (or this process blocks neither).
    """
    if not hasattr(signal, "sigpending"):  # pragma: no cover - Windows
        return None
    sent = signal.sigpending()
    pending = [signum for signum in STOP_SIGNALS if signum in sent]
    for signum in pending:
        signal.sigwait([signum])  # taken off the pending set: answered by returning
    return pending[0] if pending else None
