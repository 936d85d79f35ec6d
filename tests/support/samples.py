"""The spec's six examples (``tests/samples``) and the values the spec prints for them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from lacecal_async import (
    EnergyMeter,
    GridMeter,
    GridPhase,
    GridTotals,
    Inverter,
    InverterEnergy,
    InverterRecord,
    MeterRecord,
)

SAMPLES = Path(__file__).parent.parent / "samples"
CEST = timezone(timedelta(hours=2))

INVERTERS = (
    Inverter(6, "Inversor A", "SMA", "STP 25000TL", "0000000001"),
    Inverter(7, "Inversor B", "SMA", "STP 25000TL", "0000000002"),
)
INVERTER_RECORDS = (
    InverterRecord(
        1496660400,
        datetime(2017, 6, 5, 13, 0, tzinfo=CEST),
        600,
        7.625,
        (InverterEnergy(6, 3.808), InverterEnergy(7, 3.817)),
    ),
    InverterRecord(
        1496661000,
        datetime(2017, 6, 5, 13, 10, tzinfo=CEST),
        600,
        7.463,
        (InverterEnergy(6, 3.74), InverterEnergy(7, 3.723)),
    ),
)
METER_RECORDS = (
    MeterRecord(
        1496660400,
        datetime(2017, 6, 5, 13, 0, tzinfo=CEST),
        600,
        GridMeter(
            GridTotals(0.50605, 0.03554, 4.23642, 1.32818, 0.0, 0.0),
            GridPhase(0.31219, 0.00419),
            GridPhase(0.39717, 0.00308),
            GridPhase(0.04457, 0.27614),
        ),
        EnergyMeter(8.14814, 2.87004, 2.95591, 2.32219),
        EnergyMeter(7.67763, 2.56204, 2.56182, 2.55376),
    ),
    MeterRecord(
        1496661000,
        datetime(2017, 6, 5, 13, 10, tzinfo=CEST),
        600,
        GridMeter(
            GridTotals(0.89335, 0.05905, 4.93231, 0.90921, 0.0, 0.0),
            GridPhase(0.33382, 0.02352),
            GridPhase(0.39951, 0.01662),
            GridPhase(0.24086, 0.09975),
        ),
        EnergyMeter(8.36849, 2.82367, 2.89638, 2.64844),
        EnergyMeter(7.53419, 2.51337, 2.51349, 2.50733),
    ),
)
EXPECTED = {"inverter_list": INVERTERS, "inverter": INVERTER_RECORDS, "meter": METER_RECORDS}
