"""Serving fake plants until stopped: what ``python -m lacecal_async.testing`` runs.

``lacecal serve`` runs it too. The first line written is the base URL; a table follows.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

import attrs

from lacecal_async.testing.clock import Clock, ScaledClock, SystemClock
from lacecal_async.testing.plants import DEFAULT_START, Plant, make_plants
from lacecal_async.testing.server import FakeLacecalServer

__all__ = ["GLITCH_AHEAD", "LATE_AFTER", "ServeOptions", "build", "serve", "start_of"]


@attrs.frozen
class ServeOptions:
    """What to serve, and where.

    `plants` from `seed`, `days` of records from `start` (None: the default start, or DAYS
    before now with `follow`), a per-ITR `rate` (None: unlimited), on `host`:`port`;
    `follow` makes the data grow with a clock running `speed` times as fast; `interval`
    gives every plant that period [s] (None: drawn from the service's usual ones). That
    clock read the real time at the UNIX time `epoch` (None: when the server starts): a
    process that builds ``ScaledClock(epoch + (time.time() - epoch) * speed, speed)``
    shares it, to the millisecond.

    Faults to rehearse with: `late_gaps` plants (the first ones) miss 12 periods in the
    middle of their data until the server's clock is 10 minutes past its start (a logger
    uploading a backlog); `future_glitch` plants (the next ones) also date a record a year
    ahead of the server's clock (a logger's clock fault); every request fails with 503 at
    `fail_rate` (0 to 1).
    """

    plants: int = 20
    seed: int = 0
    host: str = "127.0.0.1"
    port: int = 0
    rate: tuple[int, float] | None = (6, 60.0)
    days: float = 30.0
    start: int | None = None
    follow: bool = False
    speed: float = 1.0
    interval: int | None = None
    epoch: float | None = None
    late_gaps: int = 0
    future_glitch: int = 0
    fail_rate: float = 0.0


#: How long after the server starts its late gaps fill in, on its own clock [s].
LATE_AFTER = 600.0
#: How far ahead of the clock a glitching logger dates its record [s].
GLITCH_AHEAD = 365 * 86400.0


def start_of(options: ServeOptions, now: float) -> int:
    """Return where the plants' records start: `options.start`, else DAYS before `now`.

    Without `follow` and `start`: the default start, 2024-10-02.
    """
    if options.start is not None:
        return options.start
    return int(now - options.days * 86400) if options.follow else DEFAULT_START


def _faulty(plants: list[Plant], options: ServeOptions, clock_start: float) -> list[Plant]:
    """Give the first plants the late gaps, the next ones the glitch, all the fail rate."""
    out = []
    for index, plant in enumerate(plants):
        faults = attrs.evolve(plant.faults, fail_rate=options.fail_rate)
        late = plant.late
        if index < options.late_gaps:
            end = plant.latest if plant.latest is not None else int(clock_start)
            middle = (plant.first + end) // 2 // plant.interval * plant.interval
            late = ((middle, middle + 12 * plant.interval, clock_start + LATE_AFTER),)
        elif index < options.late_gaps + options.future_glitch:
            faults = attrs.evolve(faults, future_ahead=GLITCH_AHEAD)
        out.append(attrs.evolve(plant, faults=faults, late=late))
    return out


def build(options: ServeOptions) -> tuple[list[Plant], Clock]:
    """Return the plants and the clock the options describe."""
    now = time.time()
    start = start_of(options, now)
    plants = make_plants(
        options.plants,
        options.seed,
        start=start,
        days=options.days,
        interval=options.interval,
        follow_clock=options.follow,
    )
    clock: Clock = SystemClock()
    if options.speed != 1.0:
        epoch = now if options.epoch is None else options.epoch
        clock = ScaledClock(epoch + (now - epoch) * options.speed, options.speed)
    if options.late_gaps or options.future_glitch or options.fail_rate:
        plants = _faulty(plants, options, clock.now())
    return plants, clock


def _when(unix_time: int | None) -> str:
    if unix_time is None:
        return "(follows clock)"
    return datetime.fromtimestamp(unix_time, UTC).strftime("%Y-%m-%d %H:%M")


def _table(plants: Sequence[Plant]) -> str:
    lines = [f"{'ITR':16}  period  phases  meters          inverters  first (UTC)       latest"]
    for p in plants:
        meters = "+".join(["grid"] + ["load"] * p.load + ["reno"] * p.renewable)
        lines.append(
            f"{p.itr:16}  {p.interval:5d}s  {3 if p.three_phase else 1:6d}  {meters:14}  "
            f"{len(p.inverters):9d}  {_when(p.first):16}  {_when(p.latest)}"
            + (f"  gaps: {len(p.gaps)}" if p.gaps else "")
        )
    return "\n".join(lines) + "\n"


async def serve(options: ServeOptions, *, out: TextIO, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set, or SIGINT/SIGTERM arrive (handled: a clean exit)."""
    plants, clock = build(options)
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    async with FakeLacecalServer(
        plants, rate_limit=options.rate, clock=clock, host=options.host, port=options.port
    ) as server:
        for signum in signals:
            loop.add_signal_handler(signum, stop.set)
        try:
            out.write(server.base_url + "\n")
            out.write(_table(plants))
            out.flush()
            await stop.wait()
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)
