"""How ``lacecal sync`` writes its log lines: a UTC timestamp first, unless journald adds one.

systemd sets ``JOURNAL_STREAM`` to the device and inode of the stream it connected to the
journal; when stderr is that stream, journald stamps each line itself and a second stamp
would only clutter ``journalctl``. Everywhere else (a terminal, a file, a pipe to a log
shipper) each line starts with ``2024-10-02T13:50:00.123Z``. ``LACECAL_LOG_TIMESTAMPS=off``
(or ``on``) overrides the choice, for a log shipper that stamps lines itself. The library's
own log records (``-v``: every request) come through `LibraryLog` onto the same lines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TextIO

__all__ = [
    "STAMPS_ENV",
    "LibraryLog",
    "journald_stream",
    "level_line",
    "library_logs",
    "stamp",
    "stamped",
    "sync_line",
]

_LIBRARY_LOGGER = "lacecal_async"
#: ``on`` or ``off`` overrides whether log lines get a timestamp (default: unless journald).
STAMPS_ENV = "LACECAL_LOG_TIMESTAMPS"


def journald_stream(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether `stream` is the one systemd connected to the journal (``JOURNAL_STREAM``)."""
    env = os.environ if environ is None else environ
    value = env.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    try:
        info = os.fstat(stream.fileno())
        return (int(device), int(inode)) == (info.st_dev, info.st_ino)
    except (AttributeError, ValueError, OSError):  # no such stream, or a malformed value
        return False


def stamped(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether lines to `stream` get a timestamp: `STAMPS_ENV`, else unless journald's."""
    env = os.environ if environ is None else environ
    choice = env.get(STAMPS_ENV, "").strip().lower()
    if choice in ("on", "1", "yes"):
        return True
    if choice in ("off", "0", "no"):
        return False
    return not journald_stream(stream, env)


def stamp(now: float | None = None) -> str:
    """Return ``2024-10-02T13:50:00.123Z`` for `now` (default: this instant)."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def sync_line(record: logging.LogRecord) -> str:
    """``lacecal: [level: ]message``: DEBUG and INFO without a level word (the usual lines)."""
    level = "" if record.levelno <= logging.INFO else f"{record.levelname.lower()}: "
    return f"lacecal: {level}{record.getMessage()}"


def level_line(record: logging.LogRecord) -> str:
    """``level: message``, for a display that adds its own prefix (``lacecal fetch``'s)."""
    return f"{record.levelname.lower()}: {record.getMessage()}"


class LibraryLog(logging.Handler):
    """Pass the library's log records to `write`, each as the line `line` makes of it."""

    def __init__(
        self,
        write: Callable[[str], None],
        line: Callable[[logging.LogRecord], str] = sync_line,
    ) -> None:
        super().__init__()
        self.write = write
        self.line = line

    def emit(self, record: logging.LogRecord) -> None:
        """Write one record."""
        try:
            self.write(self.line(record))
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


@contextlib.contextmanager
def library_logs(
    write: Callable[[str], None],
    *,
    verbose: bool,
    line: Callable[[logging.LogRecord], str] = sync_line,
) -> Iterator[None]:
    """Route the library's warnings (every request too if `verbose`) to `write` meanwhile."""
    logger = logging.getLogger(_LIBRARY_LOGGER)
    handler = LibraryLog(write, line)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
