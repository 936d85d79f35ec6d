"""Records/s of `lacecal_async.decode` on realistic 144-record pages, against typed baselines.

Every figure comes from the same bytes in one run: cases are interleaved and each keeps the
best of several rounds, so a noisy neighbour hurts less. Baselines: ``json.loads`` and
``orjson.loads`` alone (no records), msgspec decoding into Structs of the same shape, and
pydantic v2 ``TypeAdapter(list[Model]).validate_json``. Both baselines keep ``date`` as text,
which flatters them: `decode` also parses it and checks it against ``unix_time``.
Targets: JSON >= 0.18x msgspec and >= 1.3x pydantic; XML >= 0.05x msgspec.
orjson, msgspec and pydantic come from the ``bench`` extra; a missing one drops its rows.
"""

# No `from __future__ import annotations`: msgspec and pydantic resolve the annotations of
# the models defined inside functions below at runtime.
import json
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

from lacecal_async import _json as json_module
from lacecal_async import decode
from lacecal_async.records import (
    EnergyMeter,
    GridMeter,
    GridPhase,
    GridTotals,
    InverterEnergy,
    InverterRecord,
    MeterRecord,
)
from lacecal_async.testing import wire

PAGE = 144
INTERVAL = 600
FIRST = 1_496_613_600  # 2017-06-05 00:00 +0200
CEST = timezone(timedelta(hours=2))
JSON_VS_MSGSPEC = 0.18
JSON_VS_PYDANTIC = 1.3
XML_VS_MSGSPEC = 0.05


def meter_page(seed: int = 1) -> list[MeterRecord]:
    """A day of a three-phase plant with load and renewable meters, 5-decimal energies."""
    rng = random.Random(seed)

    def energy() -> float:
        return round(rng.uniform(0.0, 10.0), 5)

    def phase() -> GridPhase:
        return GridPhase(energy(), energy())

    def meter() -> EnergyMeter:
        return EnergyMeter(energy(), energy(), energy(), energy())

    records = []
    for index in range(PAGE):
        unix_time = FIRST + index * INTERVAL
        totals = GridTotals(energy(), energy(), energy(), energy(), 0.0, 0.0)
        grid = GridMeter(totals, phase(), phase(), phase())
        start = datetime.fromtimestamp(unix_time, CEST)
        records.append(MeterRecord(unix_time, start, INTERVAL, grid, meter(), meter()))
    return records


def inverter_page(seed: int = 2) -> list[InverterRecord]:
    """A day of a plant with three inverters."""
    rng = random.Random(seed)
    records = []
    for index in range(PAGE):
        unix_time = FIRST + index * INTERVAL
        energies = tuple(InverterEnergy(6 + i, round(rng.uniform(0, 4), 3)) for i in range(3))
        start = datetime.fromtimestamp(unix_time, CEST)
        total = round(sum(e.energy for e in energies), 3)
        records.append(InverterRecord(unix_time, start, INTERVAL, total, energies))
    return records


def _msgspec_decoders() -> dict[str, Callable[[bytes], object]]:
    try:
        import msgspec  # noqa: PLC0415 - bench extra
    except ImportError:
        return {}

    class Totals(msgspec.Struct):
        Eimp: float
        Eexp: float
        Q1: float
        Q2: float
        Q3: float
        Q4: float

    class Phase(msgspec.Struct):
        Eimp: float
        Eexp: float

    class Grid(msgspec.Struct):
        RST: Totals
        R: Phase | None = None
        S: Phase | None = None
        T: Phase | None = None

    class Block(msgspec.Struct):
        E: float

    class Meter(msgspec.Struct):
        RST: Block
        R: Block | None = None
        S: Block | None = None
        T: Block | None = None

    class MeterRow(msgspec.Struct):
        unix_time: int
        date: str
        interval: int
        GRID_meter: Grid | None = None
        LOAD_meter: Meter | None = None
        RENO_meter: Meter | None = None

    class Energy(msgspec.Struct):
        id: int
        E: float

    class InverterRow(msgspec.Struct):
        unix_time: int
        date: str
        interval: int
        Esum: float
        Inverters: list[Energy]

    meter = msgspec.json.Decoder(list[MeterRow])
    inverter = msgspec.json.Decoder(list[InverterRow])
    return {"meter": meter.decode, "inverter": inverter.decode}


def _pydantic_decoders() -> dict[str, Callable[[bytes], object]]:
    try:
        from pydantic import BaseModel, TypeAdapter  # noqa: PLC0415 - bench extra
    except ImportError:
        return {}

    class Totals(BaseModel):
        Eimp: float
        Eexp: float
        Q1: float
        Q2: float
        Q3: float
        Q4: float

    class Phase(BaseModel):
        Eimp: float
        Eexp: float

    class Grid(BaseModel):
        RST: Totals
        R: Phase | None = None
        S: Phase | None = None
        T: Phase | None = None

    class Block(BaseModel):
        E: float

    class Meter(BaseModel):
        RST: Block
        R: Block | None = None
        S: Block | None = None
        T: Block | None = None

    class MeterRow(BaseModel):
        unix_time: int
        date: str
        interval: int
        GRID_meter: Grid | None = None
        LOAD_meter: Meter | None = None
        RENO_meter: Meter | None = None

    class Energy(BaseModel):
        id: int
        E: float

    class InverterRow(BaseModel):
        unix_time: int
        date: str
        interval: int
        Esum: float
        Inverters: list[Energy]

    meter = TypeAdapter(list[MeterRow])
    inverter = TypeAdapter(list[InverterRow])
    return {"meter": meter.validate_json, "inverter": inverter.validate_json}


def _orjson_loads() -> Callable[[bytes], object] | None:
    try:
        import orjson  # noqa: PLC0415 - bench extra
    except ImportError:
        return None
    loads: Callable[[bytes], object] = orjson.loads
    return loads


def _stdlib_decode(endpoint: str, body: bytes) -> Callable[[], object]:
    def run() -> object:
        saved, json_module.fast_loads = json_module.fast_loads, None
        try:
            return decode(endpoint, body)
        finally:
            json_module.fast_loads = saved

    return run


def _cases() -> dict[str, tuple[str, str, Callable[[], object]]]:
    """name -> (page, kind, function): kind is "json", "xml" or a baseline's name."""
    bodies = {
        "meter": wire.encode("meter", meter_page()),
        "inverter": wire.encode("inverter", inverter_page()),
    }
    xml_bodies = {
        "meter": wire.encode("meter", meter_page(), "xml"),
        "inverter": wire.encode("inverter", inverter_page(), "xml"),
    }
    msgspec = _msgspec_decoders()
    pydantic = _pydantic_decoders()
    orjson = _orjson_loads()
    cases: dict[str, tuple[str, str, Callable[[], object]]] = {}
    for page, body in bodies.items():
        parser = "orjson" if json_module.fast_loads is not None else "stdlib json"
        cases[f"decode JSON {page} page ({parser})"] = (page, "json", partial(decode, page, body))
        if json_module.fast_loads is not None:
            cases[f"decode JSON {page} page (stdlib json)"] = (
                page,
                "json",
                _stdlib_decode(page, body),
            )
        xml = partial(decode, page, xml_bodies[page], "xml")
        cases[f"decode XML {page} page"] = (page, "xml", xml)
        cases[f"{page}: json.loads alone"] = (page, "json.loads", partial(json.loads, body))
        if orjson is not None:
            cases[f"{page}: orjson.loads alone"] = (page, "orjson", partial(orjson, body))
        if page in msgspec:
            cases[f"{page}: msgspec typed"] = (page, "msgspec", partial(msgspec[page], body))
        if page in pydantic:
            validate = partial(pydantic[page], body)
            cases[f"{page}: pydantic validate_json"] = (page, "pydantic", validate)
    return cases


def _best_seconds(
    cases: dict[str, tuple[str, str, Callable[[], object]]], rounds: int, budget: float
) -> dict[str, float]:
    """Interleave the cases round by round; keep each one's best time per call."""
    loops = {}
    for name, (_, _, function) in cases.items():
        once = float("inf")
        for _ in range(3):  # warm up: pydantic and orjson build caches on first use
            started = time.perf_counter()
            function()
            once = min(once, time.perf_counter() - started)
        loops[name] = max(1, int(budget / max(once, 1e-6)))
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for name, (_, _, function) in cases.items():
            started = time.perf_counter()
            for _ in range(loops[name]):
                function()
            best[name] = min(best[name], (time.perf_counter() - started) / loops[name])
    return best


def run(smoke: bool = False) -> list[dict[str, object]]:
    """Measure every case; rows: name, records_per_s, ratio_to_msgspec, target, met."""
    cases = _cases()
    seconds = _best_seconds(cases, rounds=1 if smoke else 7, budget=0.002 if smoke else 0.06)
    rate = {name: PAGE / spent for name, spent in seconds.items()}
    baseline = {(page, kind): rate[name] for name, (page, kind, _) in cases.items()}
    rows: list[dict[str, object]] = []
    for name, (page, kind, _) in cases.items():
        msgspec = baseline.get((page, "msgspec"))
        pydantic = baseline.get((page, "pydantic"))
        ratio = rate[name] / msgspec if msgspec else None
        target: str | None = None
        met: bool | None = None
        if kind == "json":
            target = f">= {JSON_VS_MSGSPEC}x msgspec, >= {JSON_VS_PYDANTIC}x pydantic"
            if ratio is not None and pydantic:
                met = ratio >= JSON_VS_MSGSPEC and rate[name] / pydantic >= JSON_VS_PYDANTIC
        elif kind == "xml":
            target = f">= {XML_VS_MSGSPEC}x msgspec"
            met = None if ratio is None else ratio >= XML_VS_MSGSPEC
        rows.append(
            {
                "section": "decode",
                "name": name,
                "records_per_s": round(rate[name]),
                "ratio_to_msgspec": None if ratio is None else round(ratio, 3),
                "ratio_to_pydantic": None if not pydantic else round(rate[name] / pydantic, 2),
                "target": target,
                "met": met,
            }
        )
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'benchmark':40} {'records/s':>10} {'x msgspec':>9} {'x pydantic':>10}  target"]
    for row in rows:
        met = {True: "met", False: "NOT met", None: ""}[row["met"]]
        lines.append(
            f"{row['name']:40} {row['records_per_s']:>10} {row['ratio_to_msgspec']!s:>9} "
            f"{row['ratio_to_pydantic']!s:>10}  {row['target'] or ''} {met}".rstrip()
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(_table(run()))
