"""The cyclic garbage collector tuned for bulk work: the command may, the library never does.

A bulk job allocates millions of small acyclic objects (records, dicts from the parser), so
the collector's generation-0 pass runs every 700 allocations and keeps walking the same
long-lived objects (modules, the event loop, the client). The command is an application, so
it may tune the collector for the job: `gc.freeze` moves everything alive after start-up to
a permanent generation that no pass walks, and a higher generation-0 threshold makes passes
rarer. The library never changes global GC state; a library user's own bulk job may do the
same (docs/how-to/many-plants.md). ``LACECAL_GC_TUNING=0`` switches it off (the benchmark's
baseline).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

__all__ = ["GEN0_THRESHOLD", "bulk_gc"]

#: Allocations between generation-0 passes during a bulk job (CPython's default is 700).
GEN0_THRESHOLD: Final = 50_000
ENV: Final = "LACECAL_GC_TUNING"


@contextmanager
def bulk_gc() -> Iterator[None]:
    """Freeze what start-up left alive and raise the gen-0 threshold; restore both after."""
    if os.environ.get(ENV, "1") == "0":
        yield
        return
    saved = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(GEN0_THRESHOLD, saved[0]), *saved[1:])
    try:
        yield
    finally:
        gc.set_threshold(*saved)
        gc.unfreeze()
