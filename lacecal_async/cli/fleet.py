"""``lacecal sync`` in a fleet: its lease events on stderr, and ``--workers N`` processes.

``--workers N`` re-runs the same command line N times as child processes (each one worker
with its own id and leases) and supervises them; SIGTERM or Ctrl-C is passed on to each.
What ``--itr-file -`` read from the parent's stdin goes to each child through a pipe on
its stdin: never on a command line or in the environment, which other users may read. A
child that dies (a signal, or a status other than 0 and 2) is logged with its signal or
status and started again after a backoff (1 s, doubling to 60 s; back to 1 s once a child
ran for 10 minutes), as systemd's ``Restart=on-failure`` would; meanwhile the others take
over its plants once its leases expire, and the new child takes its share back. A child
that exits 0 (stopped) or 2 (a usage error: it would fail again) is logged, not restarted.
A child stops cleanly (its leases released) when its parent dies, even by SIGKILL: it is
given the parent's pid and watches `os.getppid`. A child starts with SIGINT and SIGTERM
blocked, so one sent while it starts stops it cleanly once it can answer (exit 0).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import IO, TextIO

import attrs

from lacecal_async.cli.interrupt import STOP_SIGNALS, stop_signals_blocked
from lacecal_async.cli.itrs import Redactor
from lacecal_async.cli.log_lines import stamp, stamped
from lacecal_async.sync import FleetEvent

__all__ = [
    "PLANTS_PER_PROCESS",
    "default_workers",
    "exit_text",
    "fleet_line",
    "printer",
    "run_workers",
    "usable_cores",
    "watch_parent",
]

#: Set by `run_workers` in each child's environment: the parent's pid, watched by the child.
PARENT_ENV = "LACECAL_FLEET_PARENT"


def watch_parent(every: float) -> bool:
    """In a ``--workers`` child, SIGTERM this process once its parent is gone; True if watching.

    A SIGKILLed parent forwards nothing; its orphans would keep holding leases beside the
    workers a restart starts. The check runs every `every` seconds in a daemon thread, and
    the SIGTERM takes the usual clean way out (plants stopped, leases released).
    """
    try:
        parent = int(os.environ[PARENT_ENV])
    except (KeyError, ValueError):
        return False

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="lacecal-parent-watch", daemon=True).start()
    return True


#: Plants one process keeps up with backfilling at the full rate limit, both endpoints
#: (docs/how-to/postgres-fleet.md, "Sizing": CPU-bound in the client). A fleet this large or
#: smaller needs one.
PLANTS_PER_PROCESS = 1500


def usable_cores() -> int:
    """Return the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_workers(plants: int, cores: int | None = None) -> int:
    """Return how many workers ``--workers`` defaults to for a fleet of `plants`.

    One while one process keeps up (`PLANTS_PER_PROCESS`); else one per usable core.
    """
    if plants <= PLANTS_PER_PROCESS:
        return 1
    return max(cores if cores is not None else usable_cores(), 1)


def fleet_line(event: FleetEvent) -> str:
    """Return one line of stderr for a lease event (plant keys only, never identifiers)."""
    plants = ", ".join(event.plants[:5]) + (
        f" and {len(event.plants) - 5} more" if len(event.plants) > 5 else ""
    )
    share = f" (share {event.share}, {event.workers} workers)" if event.workers else ""
    head = f"worker {event.worker}:"
    if event.kind == "took":
        return f"{head} took {len(event.plants)} plants{share}: {plants}"
    if event.kind == "released":
        return f"{head} gave back {len(event.plants)} plants{share}: {plants}"
    if event.kind == "no_identifier":
        return (
            f"{head} no identifier for {len(event.plants)} leased plants ({plants}) in this "
            "worker's --itr-file / LACECAL_ITR: released their leases for another worker "
            "(`lacecal status` flags a plant no live worker has)"
        )
    what = f" {plants}" if plants else ""
    return f"{head} stopped{what}: {event.detail}"


def printer(stream: TextIO, redact: Redactor) -> Callable[[FleetEvent], None]:
    """Return the `on_fleet` callback that writes `fleet_line`s to `stream`."""

    def show(event: FleetEvent) -> None:
        stream.write(redact(f"lacecal: {fleet_line(event)}") + "\n")
        stream.flush()

    return show


def _feed(pipe: IO[bytes], data: bytes) -> None:
    """Write `data` to a child's stdin and close it (a child that died early reads nothing)."""
    with contextlib.suppress(OSError), pipe:  # BrokenPipeError included, on close too
        pipe.write(data)


#: A restarted child's backoff: the first delay, the longest, and the run that resets it [s].
RESTART_FIRST, RESTART_MAX, RESTART_RESET = 1.0, 60.0, 600.0
#: How often the supervisor looks at its children [s].
_POLL = 0.1


def exit_text(code: int) -> str:
    """Return how a child ended: ``exited with status 1`` or ``was killed by signal SIGKILL``."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"was killed by signal {name}"
    return f"exited with status {code}"


def restarts(code: int) -> bool:
    """Whether a child that ended with `code` is started again (a failure, not a usage error)."""
    return code not in (0, 2)


@attrs.define
class _Slot:
    """One of the N workers: its current child, its restarts, when the next one is due."""

    number: int
    child: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    due: float | None = None
    last: int = 0


def run_workers(
    argv: Sequence[str],
    workers: int,
    *,
    stdin: str | None = None,
    log: Callable[[str], None] | None = None,
) -> int:
    """Run ``lacecal ARGV --workers 1`` as `workers` supervised processes; return the worst status.

    `stdin`, if given, is written to each child's stdin (in a thread per child: a child
    that reads late never blocks the others), in the encoding this process reads it in;
    a child that exits without reading it is no error of the parent's. `log` gets a line
    per child that ends and per restart (default: stderr).
    """
    command = [sys.executable, "-m", "lacecal_async", *argv, "--workers", "1"]
    env = {**os.environ, PARENT_ENV: str(os.getpid())}
    pipe = subprocess.DEVNULL if stdin is None else subprocess.PIPE
    data = None if stdin is None else stdin.encode(getattr(sys.stdin, "encoding", None) or "utf-8")
    say = log if log is not None else _stderr_line
    feeders: list[threading.Thread] = []
    slots = [_Slot(number) for number in range(1, workers + 1)]
    stopping: list[int] = []

    def start(slot: _Slot) -> None:
        with stop_signals_blocked():  # one sent while the child starts waits for it
            slot.child = subprocess.Popen(command, stdin=pipe, env=env)  # noqa: S603 - our own
        slot.started, slot.due = time.monotonic(), None
        if data is not None:
            assert slot.child.stdin is not None  # noqa: S101 - PIPE was asked for
            feeder = threading.Thread(target=_feed, args=(slot.child.stdin, data), daemon=True)
            feeder.start()
            feeders.append(feeder)

    def forward(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)
        for slot in slots:
            slot.due = None
            if slot.child is not None and slot.child.poll() is None:
                slot.child.send_signal(signal.SIGTERM)

    previous = {signum: signal.signal(signum, forward) for signum in STOP_SIGNALS}
    try:
        for slot in slots:
            start(slot)
        while any(slot.child is not None or slot.due is not None for slot in slots):
            time.sleep(_POLL)
            now = time.monotonic()
            for slot in slots:
                _tend(slot, now, workers, say, start, stopping=bool(stopping))
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    for feeder in feeders:  # every child has exited: a write left over fails at once
        feeder.join()
    codes = [slot.last for slot in slots]
    return next((code if code > 0 else 1 for code in codes if code != 0), 0)


def _tend(
    slot: _Slot,
    now: float,
    workers: int,
    say: Callable[[str], None],
    start: Callable[[_Slot], None],
    *,
    stopping: bool,
) -> None:
    """Look at one slot: log its child's end, schedule a restart, or start one that is due."""
    name = f"worker process {{}} ({slot.number} of {workers})"
    if slot.child is not None:
        code = slot.child.poll()
        if code is None:
            return
        pid, slot.child, slot.last = slot.child.pid, None, code
        if stopping or not restarts(code):
            if not stopping:
                say(f"{name.format(pid)} {exit_text(code)}; not restarted")
            return
        if now - slot.started >= RESTART_RESET:
            slot.failures = 0
        slot.failures += 1
        delay = min(RESTART_FIRST * 2 ** min(slot.failures - 1, 32), RESTART_MAX)  # no overflow
        slot.due = now + delay
        say(
            f"{name.format(pid)} {exit_text(code)}; restarting it in {delay:g}s "
            "(its plants go to the other workers once its leases expire)"
        )
    elif slot.due is not None and now >= slot.due and not stopping:
        start(slot)
        assert slot.child is not None  # noqa: S101 - start() set it
        say(f"{name.format(slot.child.pid)} started (restart {slot.failures})")


def _stderr_line(text: str) -> None:
    """Write a supervisor's line to stderr, stamped unless journald stamps it."""
    line = f"lacecal: {text}"
    if stamped(sys.stderr):
        line = f"{stamp()} {line}"
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
