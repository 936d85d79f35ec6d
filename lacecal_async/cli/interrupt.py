"""Run a coroutine so that Ctrl-C (SIGINT) or SIGTERM stops it cleanly.

The first signal cancels the work, whose ``finally`` blocks then run (writers close, so
every record fetched so far is in a valid file); a second Ctrl-C interrupts at once, a
second SIGTERM is ignored (a supervisor forwards the one its whole group was sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs

__all__ = ["Interrupted", "run_interruptible"]

T = TypeVar("T")
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


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
            for each in _SIGNALS:
                loop.remove_signal_handler(each)
            # The next Ctrl-C interrupts at once; a SIGTERM while stopping is the same request
            # (a `--workers` parent forwards the one systemd or the terminal sent us too).
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

        try:
            for signum in _SIGNALS:
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
            for signum in _SIGNALS:
                with contextlib.suppress(NotImplementedError):
                    loop.remove_signal_handler(signum)
            if caught and previous is not None and not stay_stopping:  # as it was before
                signal.signal(signal.SIGTERM, previous)

    return asyncio.run(guarded())
