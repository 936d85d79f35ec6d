"""Records/s of `lacecal_async.decode` on realistic 144-record pages, against its floor.

The floor (`benchmarks._floor`) is a hand-written constructor of the same attrs records over
the same parser (orjson, ``json.loads``, defused expat into plain dicts), with no checks:
target ``decode >= 0.9x`` the floor on every row. Also: bytes per record (tracemalloc)
beside the sum of the fields' own sizes.

Every figure comes from the same bytes in one run: cases are interleaved and each keeps the
best of several rounds, so a noisy neighbour hurts less. Baselines: ``json.loads`` and
``orjson.loads`` alone (no records), msgspec decoding into Structs of the same shape, and
pydantic v2 ``TypeAdapter(list[Model]).validate_json``. Both baselines keep ``date`` as text,
which flatters them: `decode` also parses it and checks it against ``unix_time``.
orjson, msgspec and pydantic come from the ``bench`` extra; a missing one drops its rows.
"""

# No `from __future__ import annotations`: msgspec and pydantic resolve the annotations of
# the models defined inside functions below at runtime.
import gc
import json
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

from benchmarks import _floor
from benchmarks._common import row
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
FLOOR_TARGET = 0.9


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


Case = tuple[str, str, Callable[[], object], str | None]


def _cases() -> dict[str, Case]:
    """name -> (page, kind, function, floor kind): kind is "decode" or a baseline's name."""
    msgspec = _msgspec_decoders()
    pydantic = _pydantic_decoders()
    orjson = _orjson_loads()
    cases: dict[str, Case] = {}
    for page, records in (("meter", meter_page()), ("inverter", inverter_page())):
        body = wire.encode(page, records)
        xml_body = wire.encode(page, records, "xml")
        by_json = _floor.json_meter if page == "meter" else _floor.json_inverter
        by_xml = _floor.xml_meter if page == "meter" else _floor.xml_inverter
        if orjson is not None and json_module.fast_loads is not None:
            decoded = partial(decode, page, body)
            floor = partial(_over, by_json, orjson, body)
            cases[f"decode JSON {page} page (orjson)"] = (page, "decode", decoded, "floor orjson")
            cases[f"{page}: floor, orjson + hand-written attrs"] = (
                page,
                "floor orjson",
                floor,
                None,
            )
        stdlib = _stdlib_decode(page, body)
        cases[f"decode JSON {page} page (stdlib json)"] = (page, "decode", stdlib, "floor json")
        floor_json = partial(_over, by_json, json.loads, body)
        cases[f"{page}: floor, json.loads + hand-written attrs"] = (
            page,
            "floor json",
            floor_json,
            None,
        )
        xml = partial(decode, page, xml_body, "xml")
        cases[f"decode XML {page} page"] = (page, "decode", xml, "floor xml")
        floor_xml = partial(by_xml, xml_body)
        cases[f"{page}: floor, defused expat dicts + hand-written attrs"] = (
            page,
            "floor xml",
            floor_xml,
            None,
        )
        cases[f"{page}: json.loads alone"] = (page, "json.loads", partial(json.loads, body), None)
        if orjson is not None:
            cases[f"{page}: orjson.loads alone"] = (page, "orjson", partial(orjson, body), None)
        if page in msgspec:
            typed = partial(msgspec[page], body)
            cases[f"{page}: msgspec typed"] = (page, "msgspec", typed, None)
        if page in pydantic:
            validate = partial(pydantic[page], body)
            cases[f"{page}: pydantic validate_json"] = (page, "pydantic", validate, None)
    return cases


def _over(build: Callable[[Any], object], loads: Callable[[bytes], object], body: bytes) -> object:
    return build(loads(body))


def _best_seconds(cases: dict[str, Case], rounds: int, budget: float) -> dict[str, float]:
    """Interleave the cases round by round; keep each one's best time per call."""
    loops = {}
    for name, (_, _, function, _) in cases.items():
        once = float("inf")
        for _ in range(3):  # warm up: pydantic and orjson build caches on first use
            started = time.perf_counter()
            function()
            once = min(once, time.perf_counter() - started)
        loops[name] = max(1, int(budget / max(once, 1e-6)))
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for name, (_, _, function, _) in cases.items():
            started = time.perf_counter()
            for _ in range(loops[name]):
                function()
            best[name] = min(best[name], (time.perf_counter() - started) / loops[name])
    return best


def _leaves(value: object) -> list[object]:
    """The fields' own values of a record, recursively (None is shared: not counted)."""
    if value is None:
        return []
    if isinstance(value, tuple):
        return [leaf for item in value for leaf in _leaves(item)]
    fields = getattr(type(value), "__attrs_attrs__", None)
    if fields is None:
        return [value]
    return [leaf for field in fields for leaf in _leaves(getattr(value, field.name))]


def bytes_per_record(page: str, body: bytes) -> tuple[float, float]:
    """Bytes a decoded page keeps alive per record (tracemalloc), and its fields' own sizes."""
    decode(page, body)  # zones and offsets known, as in a long-running process
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        records = decode(page, body)
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    own = sum(sys.getsizeof(leaf) for record in records for leaf in _leaves(record))
    return kept / len(records), own / len(records)


def run(smoke: bool = False) -> list[dict[str, object]]:
    """Measure every case: records/s, the decode rows against their floor; bytes per record."""
    cases = _cases()
    seconds = _best_seconds(cases, rounds=1 if smoke else 9, budget=0.002 if smoke else 0.06)
    rate = {name: PAGE / spent for name, spent in seconds.items()}
    baseline = {(page, kind): rate[name] for name, (page, kind, _, _) in cases.items()}
    rows: list[dict[str, object]] = []
    for name, (page, _, _, floor_kind) in cases.items():
        msgspec = baseline.get((page, "msgspec"))
        pydantic = baseline.get((page, "pydantic"))
        extra = {
            "ratio_to_msgspec": round(rate[name] / msgspec, 3) if msgspec else None,
            "ratio_to_pydantic": round(rate[name] / pydantic, 3) if pydantic else None,
        }
        if floor_kind is None:
            rows.append(row("decode", name, round(rate[name]), "records/s", extra=extra))
            continue
        floor = baseline[(page, floor_kind)]
        rows.append(
            row(
                "decode",
                name,
                round(rate[name]),
                "records/s",
                baseline=round(floor),
                baseline_name=f"{floor_kind} + hand-written attrs",
                target=f">= {FLOOR_TARGET}x floor",
                met=rate[name] / floor >= FLOOR_TARGET,
                extra=extra,
            )
        )
    for page, body, shape in (
        ("meter", wire.encode("meter", meter_page()), "three-phase, all meters"),
        ("inverter", wire.encode("inverter", inverter_page()), "3 inverters"),
    ):
        kept, own = bytes_per_record(page, body)
        rows.append(
            row(
                "decode",
                f"{page} record ({shape}): bytes kept per record",
                round(kept),
                "bytes",
                baseline=round(own),
                baseline_name="sum of the fields' own sizes",
            )
        )
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'benchmark':58} {'value':>10} {'floor':>10} {'ratio':>6}  x msgspec"]
    lines += [
        f"{r['name']:58} {r['value']:>10} {r['baseline']!s:>10} {r['ratio']!s:>6}  "
        f"{r.get('ratio_to_msgspec')}"
        for r in rows
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(_table(run()))
