"""The usage error: a mistake on the command line, reported on one line with exit status 2.

Its own module so that everything that checks input can raise it (`options` re-exports it).
"""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(Exception):
    """A mistake on the command line: reported as one line, exit status 2."""
