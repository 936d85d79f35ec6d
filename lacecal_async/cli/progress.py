"""The progress display on stderr: live (redrawn with ANSI escapes) on a terminal, else lines.

Per plant it shows pages, periods (records) and an ETA; overall, the same summed and the largest ETA
(plants are fetched concurrently). The ETA comes from the rate limit, which is what bounds
a backfill: a plant's first N requests go at once, then N more every period.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, TextIO

import attrs

from lacecal_async.cli.itrs import PlantRef
from lacecal_async.endpoints import expected_pages
from lacecal_async.fanout import ItrDone, ItrFailed, PageEvent, Progress, StreamEvent

__all__ = ["Display", "choose_mode", "estimate_pages", "eta_seconds", "format_duration"]

Mode = Literal["live", "plain", "none"]
#: Integration period assumed for a plant until its first page tells the real one [s].
_ASSUMED_INTERVAL = 600
#: Shortest time between two redraws of the live display [s].
_REDRAW = 0.1
#: How often the live display is redrawn without news (the ETA counts down) [s].
_TICK = 0.5
_BAR = 20


def choose_mode(requested: str, stream: TextIO, environ: dict[str, str] | None = None) -> Mode:
    """Resolve ``auto``: live on a terminal (unless TERM=dumb), plain lines otherwise."""
    if requested in ("live", "plain", "none"):
        return requested  # type: ignore[return-value]
    env = os.environ if environ is None else environ
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        tty = False
    return "live" if tty and env.get("TERM", "") != "dumb" else "plain"


def estimate_pages(start: int, end: int, interval: int = _ASSUMED_INTERVAL) -> int:
    """Pages a range takes at `interval` (what the fan-out reports once it knows the period)."""
    return expected_pages(start, end, interval)


def eta_seconds(requests: int, remaining: int, elapsed: float, rate: tuple[int, float]) -> float:
    """Seconds until a plant's last request can go, under a limit of N requests per period.

    Request k (from 0) can start k // N periods after the first; `requests` were made in
    `elapsed` seconds and `remaining` are left. Never less than the periods the remaining
    requests need by themselves, so a fetch running late is not shown as about to finish.
    """
    if remaining <= 0:
        return 0.0
    n, period = rate
    on_schedule = (requests + remaining - 1) // n * period - elapsed
    at_least = (remaining - 1) // n * period
    return max(on_schedule, float(at_least), 0.0)


def format_duration(seconds: float) -> str:
    """Return ``42s``, ``3m05s`` or ``1h02m``."""
    whole = math.ceil(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


@attrs.define
class _Plant:
    ref: PlantRef
    estimate: int
    progress: Progress = attrs.field(factory=Progress)
    state: Literal["running", "done", "failed"] = "running"
    reason: str = ""

    @property
    def expected(self) -> int:
        if self.state != "running":
            return self.progress.pages
        known = self.progress.expected_pages
        return max(known if known is not None else self.estimate, self.progress.pages)

    def eta(self, elapsed: float, rate: tuple[int, float]) -> float:
        if self.state != "running":
            return 0.0
        remaining = max(self.expected - self.progress.pages, 1)
        return eta_seconds(self.progress.requests, remaining, elapsed, rate)


class Display:
    """Progress of one fetch: `update` per event, `run` as a ticker task, `finish` at the end.

    `title` starts every line (e.g. ``meter``); plants are named by `PlantRef.name` only,
    and every line passes through `redact` before it is written.
    """

    def __init__(
        self,
        stream: TextIO,
        plants: Sequence[PlantRef],
        *,
        title: str,
        span: tuple[int, int],
        rate: tuple[int, float],
        mode: Mode,
        every: float = 5.0,
        redact: Callable[[str], str] = str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        estimate = estimate_pages(*span)
        self._plants = {p.itr: _Plant(p, estimate) for p in plants}
        self._stream = stream
        self._title = title
        self._rate = rate
        self.mode: Mode = mode
        self._every = every
        self._redact = redact
        self._clock = clock
        self._started = clock()
        self._drawn = 0
        self._last_draw = -math.inf

    # -- state --------------------------------------------------------------------------
    def update(self, event: StreamEvent[Any]) -> None:
        """Take in one event of the fetch."""
        plant = self._plants[event.itr_id]
        plant.progress = event.progress
        if isinstance(event, ItrDone):
            plant.state = "done"
            self._line(
                f"{self._title}: {plant.ref.name} done: {_pages(plant.progress.pages)}, "
                f"{plant.progress.records:,} periods"
            )
        elif isinstance(event, ItrFailed):
            plant.state = "failed"
            plant.reason = " ".join(str(event.error).split())
            self._line(
                f"{self._title}: {plant.ref.name} FAILED after {_pages(plant.progress.pages)}: "
                f"{plant.reason}"
            )
        self._draw(force=not isinstance(event, PageEvent))

    def summary(self) -> str:
        """One line: plants done and failed, pages, periods, time elapsed and left."""
        plants = self._plants.values()
        elapsed = self._clock() - self._started
        done = sum(p.state == "done" for p in plants)
        failed = sum(p.state == "failed" for p in plants)
        pages = sum(p.progress.pages for p in plants)
        expected = sum(p.expected for p in plants)
        records = sum(p.progress.records for p in plants)
        running = done + failed < len(self._plants)
        text = f"{self._title}: {done}/{len(self._plants)} plants done"
        text += f", {failed} failed" if failed else ""
        text += f", {pages}/{expected} pages, {records:,} periods"
        if running:
            eta = max(p.eta(elapsed, self._rate) for p in plants)
            return text + f", {format_duration(elapsed)} elapsed, ETA {format_duration(eta)}"
        return text + f" in {format_duration(elapsed)}"

    # -- output -------------------------------------------------------------------------
    def log(self, line: str) -> None:
        """Write a line (a log message) above the live display, or as it is."""
        if self.mode == "live":
            self._clear()
            self._write(self._redact(line) + "\n")
            self._draw(force=True)
        else:
            self._write(self._redact(line) + "\n")

    def _line(self, text: str) -> None:
        if self.mode == "plain":
            self._write(self._redact(text) + "\n")

    async def run(self) -> None:
        """Redraw (live) or print a summary line (plain) periodically, until cancelled."""
        if self.mode == "none":
            return
        pause = _TICK if self.mode == "live" else self._every
        while True:
            await asyncio.sleep(pause)
            if self.mode == "live":
                self._draw(force=True)
            else:
                self._write(self._redact(self.summary()) + "\n")

    def finish(self) -> None:
        """Show the final state: the last frame (live) or the summary line (plain)."""
        if self.mode == "live":
            self._draw(force=True)
        elif self.mode == "plain":
            self._write(self._redact(self.summary()) + "\n")

    def _frame(self) -> list[str]:
        size = _terminal_size(self._stream)
        elapsed = self._clock() - self._started
        plants = list(self._plants.values())
        room = max(size.lines - 2, 3)
        hidden = 0
        if len(plants) > room:
            plants.sort(key=lambda p: p.state != "running")
            hidden, plants = len(plants) - (room - 1), plants[: room - 1]
        width = max((len(p.ref.name) for p in self._plants.values()), default=0)
        lines = [self.summary()]
        for plant in plants:
            pages, expected = plant.progress.pages, plant.expected
            filled = _BAR * pages // expected if expected else _BAR
            status = {
                "running": f"ETA {format_duration(plant.eta(elapsed, self._rate))}",
                "done": "done",
                "failed": f"FAILED: {plant.reason}",
            }[plant.state]
            lines.append(
                f"  {plant.ref.name:<{width}} [{'#' * filled}{'.' * (_BAR - filled)}] "
                f"{f'{pages}/{expected}':>9} pages {plant.progress.records:>10,} periods  {status}"
            )
        if hidden:
            lines.append(f"  ... and {hidden} more")
        return [self._redact(line)[: size.columns - 1] for line in lines]

    def _draw(self, *, force: bool) -> None:
        if self.mode != "live":
            return
        now = self._clock()
        if not force and now - self._last_draw < _REDRAW:
            return
        self._last_draw = now
        lines = self._frame()
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        self._write(up + "".join(line + "\x1b[K\n" for line in lines) + "\x1b[J")
        self._drawn = len(lines)

    def _clear(self) -> None:
        if self._drawn:
            self._write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()


def _terminal_size(stream: TextIO) -> os.terminal_size:
    """Return the size of the terminal `stream` writes to (stdout may go elsewhere)."""
    try:
        return os.get_terminal_size(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return shutil.get_terminal_size((100, 24))


def _pages(count: int) -> str:
    return f"{count} page" if count == 1 else f"{count} pages"
