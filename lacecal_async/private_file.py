"""Files that hold whole identifiers (outputs, databases) are created readable by the owner only.

An identifier is a bearer secret: a file naming plants by it must not be world-readable
on a shared machine. `create_private_file` makes the file, mode 0600, before whatever
writes it opens it (CSV, Parquet, a SQLite database: SQLite gives its journal and WAL
files the database file's mode). A file that already exists keeps its mode and content.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PRIVATE_MODE", "create_private_file"]

#: Read and write for the owner, nothing for anyone else.
PRIVATE_MODE = 0o600


def create_private_file(path: str | os.PathLike[str]) -> Path:
    """Create `path` empty with mode 0600 unless it exists; return it as a Path.

    Never truncates and never changes an existing file's mode (a user who chose one keeps
    it); raises OSError as ``open`` would (a missing directory, no permission).
    """
    target = Path(path)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, PRIVATE_MODE)
    os.close(descriptor)
    return target
