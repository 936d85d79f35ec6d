"""One follow daemon per SQLite file: a lock on a file beside the store, held while following.

A SQLite store has no leases. Two ``lacecal sync DB --follow`` on one file would both poll
every plant, each with its own rate limiter: twice the API's limit per plant. So `follow`
holds an exclusive ``flock`` on ``DB-follow.lock`` (created beside the store, mode 0600)
while it runs, and a second one is refused at once with `StoreInUseError`, naming the
holder's process id and host (written into the lock file, never anything else).

The kernel releases the lock when the holder's file descriptor closes, which a process
dying in any way (SIGKILL included) does: a crashed daemon never blocks the next one, and
there is nothing stale to clean up. The file stays (removing it would race with a process
locking it). One-shot syncs take no lock: SQLite's own locking keeps their commits whole
beside a daemon. ``flock`` works across processes on one host and on local file systems;
on a network file system it may not, and a store there should not be shared anyway.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

from lacecal_async.private_file import PRIVATE_MODE
from lacecal_async.sync.store import StoreError, StoreInUseError

__all__ = ["follow_lock", "lock_path"]

#: What the holder writes into the lock file, and all a refusal quotes of it.
_HOLDER = re.compile(r"pid (\d{1,10}) on host ([A-Za-z0-9._-]{1,64})", re.ASCII)


def lock_path(store: Path) -> Path:
    """Return the lock file of the SQLite store at `store`."""
    return store.with_name(f"{store.name}-follow.lock")


def _holder(descriptor: int) -> str:
    """Return who holds the lock, as its file says: ``pid N on host H``, or that it is unknown."""
    with contextlib.suppress(OSError):
        match = _HOLDER.search(os.pread(descriptor, 200, 0).decode("ascii", "replace"))
        if match:
            return match.group()
    return "a process that has not said which yet"


@contextlib.contextmanager
def follow_lock(store: Path) -> Iterator[None]:
    """Hold the follow lock of the store at `store` for the block; `StoreInUseError` if taken."""
    path = lock_path(store)
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags, PRIVATE_MODE)
    except OSError as exc:
        raise StoreError(f"cannot open the follow lock {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreInUseError(
                f"{store}: another `lacecal sync --follow` is following this store "
                f"({_holder(descriptor)}); one follow daemon per SQLite file: stop that one "
                "first (one-shot syncs may run beside it)"
            ) from None
        me = f"pid {os.getpid()} on host {_host()}\n".encode()
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, me, 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)  # releases the lock, as the holder's death would


def _host() -> str:
    host = "".join(c if c.isalnum() or c in "-." else "_" for c in socket.gethostname())
    return host[:64] or "unknown"
