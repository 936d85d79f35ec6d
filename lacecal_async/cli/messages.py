"""What the command prints: messages redacted, and data made safe for a terminal.

Messages (stderr, and demo's stdout) have identifier-shaped words redacted.

Every message the command prints passes here, in one place: usage errors quote paths and
values the user typed (``-o /nonexistent/SECRET….csv``), and any of them may hold an
identifier. Text is held until a line ends (or the stream is flushed), so a word written
in pieces is still seen whole.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any, Literal, TextIO, cast

from lacecal_async.cli.itrs import hide_identifier_shaped
from lacecal_async.redaction import printable

__all__ = ["HidingStream", "TerminalStream", "for_terminal", "hidden_messages"]


class HidingStream:
    """A text stream that redacts identifier-shaped words before they reach `target`."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self._pending = ""

    def write(self, text: str) -> int:
        """Pass on every complete line (or carriage-return update), redacted; hold the rest."""
        pending = self._pending + text
        cut = max(pending.rfind("\n"), pending.rfind("\r")) + 1
        if cut:
            self.target.write(hide_identifier_shaped(pending[:cut]))
        self._pending = pending[cut:]
        return len(text)

    def flush(self) -> None:
        """Pass on what is held, redacted, and flush the target."""
        if self._pending:
            self.target.write(hide_identifier_shaped(self._pending))
            self._pending = ""
        self.target.flush()

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - isatty, fileno, encoding, ...
        return getattr(self.target, name)


@contextlib.contextmanager
def hidden_messages(*names: Literal["stderr", "stdout"]) -> Iterator[None]:
    """Route ``sys.stderr`` (and ``sys.stdout`` where it carries messages only) through it."""
    saved = {name: getattr(sys, name) for name in names}
    streams = {name: HidingStream(stream) for name, stream in saved.items()}
    for name, stream in streams.items():
        setattr(sys, name, cast("TextIO", stream))
    try:
        yield
    finally:
        for name, stream in streams.items():
            stream.flush()
            setattr(sys, name, saved[name])


class TerminalStream:
    """A text stream onto a terminal: each line's control characters escaped (`printable`).

    Data written to stdout reaches a terminal as it is in a file, save that a terminal acts
    on ESC, CSI and friends a server put in a name; line ends stay line ends.
    """

    def __init__(self, target: TextIO) -> None:
        self.target = target

    def write(self, text: str) -> int:
        """Write `text` with everything but its line ends made printable."""
        self.target.write("\n".join(map(printable, text.split("\n"))))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - flush, fileno, encoding, ...
        return getattr(self.target, name)


def for_terminal(stream: TextIO) -> TextIO:
    """Return `stream`, or a `TerminalStream` over it if it is a terminal (files keep data)."""
    return cast("TextIO", TerminalStream(stream)) if stream.isatty() else stream
