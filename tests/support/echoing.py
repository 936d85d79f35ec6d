"""Fake plants whose inverter lists echo identifiers: their own and each other's.

In every spelling a server may send back: raw, swapped case, lower case, fullwidth,
mathematical bold, enclosed, spaced out, split by dashes, split across two fields, and a
12-character piece in a serial number. One inverter of each plant is innocent (accents and
all): it must come back exactly as served.
"""

from __future__ import annotations

import attrs

from lacecal_async.records import Inverter
from lacecal_async.testing import Plant, make_plants
from tests.support.windows import circled, fullwidth, math_bold

#: Innocent inverters: what the hiding must leave exactly as it was.
INNOCENT = (
    Inverter(40, "Inversor Año Ñ", "Fronius", "Symo 20.0-3-M", "0000000042"),
    Inverter(41, "Campo Solar «El Páramo»", "Power Electronics", "HEMK 1500", None),
)


def echoing_plants(seed: int = 31, days: float = 1) -> list[Plant]:
    """Three plants: A and B echo identifiers of A, B and C; C echoes nothing."""
    a, b, c = make_plants(3, seed=seed, days=days)
    a_inverters = (
        Inverter(1, f"Tejado {a.itr}", "SMA", "STP 25000TL", a.itr.lower()),
        Inverter(2, fullwidth(b.itr), " ".join(c.itr[:12]), math_bold(a.itr[4:]), c.itr[2:14]),
        Inverter(3, f"Nave {b.itr[:5]}", f"{b.itr[5:11]} Fronius", circled(c.itr[6:]), None),
        INNOCENT[0],
    )
    dashed = "-".join(a.itr[i : i + 4] for i in range(0, 16, 4))
    b_inverters = (Inverter(7, dashed, a.itr.swapcase(), "M", None), INNOCENT[1])
    return [
        attrs.evolve(a, inverters=a_inverters),
        attrs.evolve(b, inverters=b_inverters),
        attrs.evolve(c, inverters=INNOCENT),
    ]
