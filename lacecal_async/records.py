"""Immutable records of the API's replies, with English names; units are in each docstring.

The wire names (Spanish and abbreviated) live only in the decoder's cattrs overrides. Each
endpoint's token (`METER`, `INVERTER`, `INVERTER_LIST`) ties it to its record type.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import attrs

from lacecal_async.endpoints import Endpoint, Records

__all__ = [
    "INVERTER",
    "INVERTER_LIST",
    "METER",
    "EnergyMeter",
    "GridMeter",
    "GridPhase",
    "GridTotals",
    "Inverter",
    "InverterEnergy",
    "InverterRecord",
    "MeterRecord",
]


@attrs.frozen
class Inverter:
    """An inverter installed in the plant (``inverter_list.php``).

    id: the inverter's identifier, assigned by the system (``id``).
    name: the name the installer gave it (``nombre``).
    manufacturer: ``fabricante``.  model: ``modelo``.
    serial_number: ``nserie``; None when the plant does not report one.
    """

    id: int
    name: str
    manufacturer: str
    model: str
    serial_number: str | None = None


@attrs.frozen
class InverterEnergy:
    """One inverter's production in one integration period.

    id: the inverter's identifier, as in `Inverter.id`.  energy: energy produced [kWh] (``E``).
    """

    id: int
    energy: float


@attrs.frozen
class InverterRecord:
    """Production of the plant's inverters in one integration period (``inverter.php``).

    unix_time: start of the period [UNIX seconds].
    start: the same instant as an aware datetime in the plant's UTC offset then (``date``).
    interval: length of the period [s].
    total_energy: energy produced by all inverters [kWh] (``Esum``).
    inverters: each inverter's production (``Inverters``).
    """

    unix_time: int
    start: datetime
    interval: int
    total_energy: float
    inverters: tuple[InverterEnergy, ...]


@attrs.frozen
class GridTotals:
    """Three-phase totals of the grid exchange meter (``GRID_meter/RST``).

    imported: energy imported (consumed) from the grid [kWh] (``Eimp``).
    exported: energy exported (ceded) to the grid [kWh] (``Eexp``).
    q1, q2, q3, q4: reactive energy in quadrants Q1 to Q4 [kVArh].
    """

    imported: float
    exported: float
    q1: float
    q2: float
    q3: float
    q4: float


@attrs.frozen
class GridPhase:
    """One phase of the grid exchange meter (``GRID_meter/R``, ``S`` or ``T``).

    imported: energy imported from the grid [kWh] (``Eimp``).
    exported: energy exported to the grid [kWh] (``Eexp``).
    """

    imported: float
    exported: float


@attrs.frozen
class GridMeter:
    """The grid exchange meter; r, s and t are None on a single-phase plant."""

    rst: GridTotals
    r: GridPhase | None = None
    s: GridPhase | None = None
    t: GridPhase | None = None


@attrs.frozen
class EnergyMeter:
    """A load (``LOAD_meter``) or renewable-production (``RENO_meter``) meter.

    rst: three-phase total energy [kWh] (``RST/E``).
    r, s, t: per-phase energy [kWh] (``R/E`` ...); None on a single-phase plant.
    """

    rst: float
    r: float | None = None
    s: float | None = None
    t: float | None = None


@attrs.frozen
class MeterRecord:
    """The plant's meters in one integration period (``meter.php``).

    unix_time: start of the period [UNIX seconds].
    start: the same instant as an aware datetime in the plant's UTC offset then (``date``).
    interval: length of the period [s].
    grid: the grid exchange meter (``GRID_meter``).
    load: the load consumption meter (``LOAD_meter``); None when the plant has none.
    renewable: the renewable production meter (``RENO_meter``); None when the plant has none.
    """

    unix_time: int
    start: datetime
    interval: int
    grid: GridMeter | None = None
    load: EnergyMeter | None = None
    renewable: EnergyMeter | None = None


#: The meter endpoint (``meter.php``), whose records are `MeterRecord`s.
METER: Final = Records(Endpoint.METER, MeterRecord)
#: The inverter endpoint (``inverter.php``), whose records are `InverterRecord`s.
INVERTER: Final = Records(Endpoint.INVERTER, InverterRecord)
#: The inverter list (``inverter_list.php``): the plant's `Inverter`s, untimed.
INVERTER_LIST: Final = Records(Endpoint.INVERTER_LIST, Inverter)
