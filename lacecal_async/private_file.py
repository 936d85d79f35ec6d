"""Files that hold whole identifiers (outputs, databases) are created readable by the owner only.

An identifier is a bearer secret: a file naming plants by it must not be world-readable
on a shared machine. `create_private_file` makes the file, mode 0600, before whatever
writes it opens it (CSV, Parquet, a SQLite database: SQLite gives its journal and WAL
files the database file's mode). A file that already exists keeps its mode and content.

A symbolic link at the path is refused (``O_NOFOLLOW``): one planted there would have the
identifiers written, or a file created, wherever it points. A link to a stream (a device
such as ``/dev/stdout``, a FIFO) creates nothing and is let through.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["PRIVATE_MODE", "create_private_file"]

#: Read and write for the owner, nothing for anyone else.
PRIVATE_MODE = 0o600


def create_private_file(path: str | os.PathLike[str]) -> Path:
    """Create `path` empty with mode 0600 unless it exists; return it as a Path.

    Never truncates and never changes an existing file's mode (a user who chose one keeps
    it); raises OSError as ``open`` would (a missing directory, no permission), and for a
    symbolic link unless it leads to a stream.
    """
    target = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(target, flags, PRIVATE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP and _leads_to_a_stream(target):
            return target
        raise
    os.close(descriptor)
    return target


def _leads_to_a_stream(path: Path) -> bool:
    try:
        mode = path.stat().st_mode  # follows the link
    except OSError:
        return False  # dangling: following it would create a file elsewhere
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)
