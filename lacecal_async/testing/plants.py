"""Plants of the fake server: configuration, availability of records, and their values.

Every value is a pure function of (plant, period start), so a test can recompute what the
server must have sent. The model is crude but physical: production follows the sun over
Madrid (zero at night), the load follows the working day, and the grid meter carries the
difference, phase by phase.
"""

from __future__ import annotations

import hashlib
import math
import random
from datetime import datetime, timezone
from typing import Any, Literal
from zoneinfo import ZoneInfo

import attrs

from lacecal_async.itr import validate_itr
from lacecal_async.records import (
    EnergyMeter,
    GridMeter,
    GridPhase,
    GridTotals,
    Inverter,
    InverterEnergy,
    InverterRecord,
    MeterRecord,
)
from lacecal_async.testing.faults import Faults

__all__ = [
    "DEFAULT_START",
    "INTERVALS",
    "MADRID",
    "Plant",
    "local_start",
    "make_plants",
]

#: The plants' time zone: every ``date`` is local time here, with its offset then.
MADRID = ZoneInfo("Europe/Madrid")
#: Integration periods the service uses [s]; a `Plant` takes any whole number of seconds
#: (2-second periods make follow-mode tests fast), these are what `make_plants` draws.
INTERVALS = (300, 600, 900, 3600)
#: Default first record of `make_plants`: 2024-10-02 00:00 UTC, so that the default 30 days
#: hold the autumn DST change (2024-10-27) with its repeated hour.
DEFAULT_START = 1727827200

_LAT = math.radians(40.4)
_LON_HOURS = -3.7 / 15
_MASK = (1 << 64) - 1
_TILT = math.radians(23.44)


def local_start(unix_time: int) -> datetime:
    """Return the instant as ``date`` shows it: Madrid wall time with a fixed offset."""
    local = datetime.fromtimestamp(unix_time, MADRID)
    offset = local.utcoffset()
    assert offset is not None  # noqa: S101 - ZoneInfo always has one
    return local.replace(tzinfo=timezone(offset))


def _mix(x: int) -> int:
    """splitmix64's finaliser: a cheap, well-spread hash of a 64-bit integer."""
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & _MASK
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK
    return x ^ (x >> 31)


def _uniform(key: int, when: int, channel: int) -> float:
    """Return a reproducible number in [0, 1) for (plant, instant, what it is for)."""
    x = _mix((key + when * 0x9E3779B97F4A7C15 + channel * 0xD1B54A32D192ED03) & _MASK)
    return (x >> 11) / 9007199254740992.0


def _sun(unix_time: float) -> float:
    """Sine of the sun's elevation over Madrid (negative at night)."""
    days = unix_time / 86400.0
    declination = _TILT * math.sin(2 * math.pi * (days - 79.5) / 365.2422)
    solar_hours = (unix_time % 86400) / 3600.0 + _LON_HOURS
    hour_angle = math.radians((solar_hours - 12.0) * 15.0)
    return math.sin(_LAT) * math.sin(declination) + math.cos(_LAT) * math.cos(
        declination
    ) * math.cos(hour_angle)


def _load_profile(unix_time: int) -> float:
    """Relative demand by hour of the day: low at night, high in working hours."""
    hour = (unix_time % 86400) / 3600.0 + 1.0
    if 8.0 <= hour < 19.0:
        return 1.0
    if 19.0 <= hour < 23.0:
        return 0.75
    return 0.4


def _positive_period(_instance: Plant, _attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"interval={value!r}: a period is a positive int number of seconds")


def _aligned(instance: Plant, attribute: attrs.Attribute[Any], value: int | None) -> None:
    period = instance.interval
    if not isinstance(period, int) or period < 1:
        return  # the interval's own validator says what is wrong
    if value is not None and value % period:
        raise ValueError(f"{attribute.name}={value} is not a multiple of interval")


@attrs.frozen(cache_hash=True)
class Plant:
    """One ITR's plant, and the ground truth of what the fake server serves for it.

    first / latest: UNIX starts of the first and last records (aligned to `interval`);
    latest None follows the server's clock: the last period complete at ``now``.
    gaps: half-open [start, end) UNIX ranges whose periods have no record.
    late: ``(start, end, filled_at)`` gaps that fill in: the periods in [start, end) have no
    record while the server's clock is before `filled_at`, and their usual values from then
    on (a logger uploading its backlog after an outage). A plant with late gaps needs `now`.
    load / renewable: whether LOAD_meter / RENO_meter exist (the grid meter always does).
    n_counts: what ``n`` counts: "records" (LIMIT n over existing records, the default)
    or "periods" (n consecutive periods, so a page across a gap comes back short).
    peak_kw / load_kw: installed production and mean daytime demand [kW].
    """

    itr: str = attrs.field(validator=lambda _i, _a, v: validate_itr(v))
    inverters: tuple[Inverter, ...]
    first: int = attrs.field(validator=_aligned)
    interval: int = attrs.field(default=600, validator=_positive_period)
    latest: int | None = attrs.field(default=None, validator=_aligned)
    gaps: tuple[tuple[int, int], ...] = ()
    late: tuple[tuple[int, int, float], ...] = ()
    load: bool = True
    renewable: bool = True
    three_phase: bool = True
    n_counts: Literal["records", "periods"] = attrs.field(
        default="records", validator=attrs.validators.in_(("records", "periods"))
    )
    faults: Faults = attrs.field(factory=Faults)
    seed: int = 0
    peak_kw: float = 50.0
    load_kw: float = 15.0
    _key: int = attrs.field(init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        """Derive the plant's hash key for its values (once: it is used for every value)."""
        digest = hashlib.blake2b(f"{self.itr}:{self.seed}".encode(), digest_size=8).digest()
        object.__setattr__(self, "_key", int.from_bytes(digest, "big"))

    # -- availability -------------------------------------------------------------------
    def last_time(self, now: float | None = None) -> int:
        """Start of the last record: `latest`, or the last period complete at `now`."""
        if self.latest is not None:
            return self.latest
        if now is None:
            raise ValueError("a plant that follows the clock needs `now`")
        return int(now) // self.interval * self.interval - self.interval

    def _gap_at(self, unix_time: int, now: float | None) -> tuple[int, int] | None:
        for gap in self.gaps:
            if gap[0] <= unix_time < gap[1]:
                return gap
        if self.late and now is None:
            raise ValueError("a plant with late gaps needs `now`")
        for start, end, filled_at in self.late:
            if start <= unix_time < end and now is not None and now < filled_at:
                return start, end
        return None

    def _align_up(self, unix_time: int) -> int:
        return -(-unix_time // self.interval) * self.interval

    def has_record(self, unix_time: int, now: float | None = None) -> bool:
        """Whether a record starts at `unix_time` (aligned, in the window, not in a gap)."""
        return (
            unix_time % self.interval == 0
            and self.first <= unix_time <= self.last_time(now)
            and self._gap_at(unix_time, now) is None
        )

    def available_times(self, start: int, end: int, *, now: float | None = None) -> list[int]:
        """Return the starts of the periods in [start, end) that have a record."""
        last = self.last_time(now)
        lo = max(self._align_up(start), self.first)
        hi = min(end, last + 1)
        return [t for t in range(lo, hi, self.interval) if self._gap_at(t, now) is None]

    def page_times(self, start: int | None, n: int = 1, *, now: float | None = None) -> list[int]:
        """Return the periods one request gets: from the first at or after `start`, `n` of them.

        `start` None is the request with neither ``d`` nor ``t``: the latest record only.
        """
        last = self.last_time(now)
        if start is None:
            when = last
            while when >= self.first:
                gap = self._gap_at(when, now)
                if gap is None:
                    return [when]
                when = (gap[0] - 1) // self.interval * self.interval
            return []
        when = max(self._align_up(start), self.first)
        if self.n_counts == "periods":
            stop = min(when + n * self.interval, last + 1)
            return [t for t in range(when, stop, self.interval) if self._gap_at(t, now) is None]
        out: list[int] = []
        while when <= last and len(out) < n:
            gap = self._gap_at(when, now)
            if gap is None:
                out.append(when)
                when += self.interval
            else:
                when = self._align_up(gap[1])
        return out

    # -- values ---------------------------------------------------------------------------
    def _production(self, unix_time: int) -> float:
        """Energy the inverters produce in the period [kWh]."""
        sun = _sun(unix_time + self.interval / 2)
        if sun <= 0:
            return 0.0
        day = unix_time // 86400
        clouds = 0.35 + 0.65 * math.sqrt(_uniform(self._key, day, 1))
        flicker = 0.85 + 0.15 * _uniform(self._key, unix_time, 2)
        return self.peak_kw * 0.9 * math.pow(sun, 1.15) * clouds * flicker * self.interval / 3600

    def _consumption(self, unix_time: int) -> float:
        """Energy the loads consume in the period [kWh]."""
        noise = 0.8 + 0.4 * _uniform(self._key, unix_time, 3)
        return self.load_kw * _load_profile(unix_time) * noise * self.interval / 3600

    def _phases(self, total: float, unix_time: int, channel: int) -> tuple[float, float, float]:
        """Split `total` over R, S and T unevenly, rounded like the meters print."""
        weights = [
            w + 0.04 * _uniform(self._key, unix_time, channel + i)
            for i, w in enumerate((0.35, 0.33, 0.32))
        ]
        scale = total / sum(weights)
        r, s, t = (round(w * scale, 5) for w in weights)
        return r, s, t

    def inverter_record(self, unix_time: int) -> InverterRecord:
        """Return the ``inverter.php`` record of the period starting at `unix_time`."""
        produced = self._production(unix_time)
        count = len(self.inverters)
        weights = [1 + 0.04 * (_uniform(self._key, unix_time, 10 + i) - 0.5) for i in range(count)]
        scale = produced / sum(weights) if count else 0.0
        energies = tuple(
            InverterEnergy(inverter.id, round(w * scale, 3))
            for inverter, w in zip(self.inverters, weights, strict=True)
        )
        return InverterRecord(
            unix_time=unix_time,
            start=local_start(unix_time),
            interval=self.interval,
            total_energy=round(sum(e.energy for e in energies), 3),
            inverters=energies,
        )

    def meter_record(self, unix_time: int) -> MeterRecord:
        """Return the ``meter.php`` record of the period starting at `unix_time`."""
        reno = self._production(unix_time) * 0.985
        load = self._consumption(unix_time)
        reno_p: tuple[float, ...]
        load_p: tuple[float, ...]
        if self.three_phase:
            reno_p = self._phases(reno, unix_time, 20)
            load_p = self._phases(load, unix_time, 30)
        else:
            reno_p = (round(reno, 5),)
            load_p = (round(load, 5),)
        imports = [round(max(lo - re, 0.0), 5) for lo, re in zip(load_p, reno_p, strict=True)]
        exports = [round(max(re - lo, 0.0), 5) for lo, re in zip(load_p, reno_p, strict=True)]
        imported, exported = round(sum(imports), 5), round(sum(exports), 5)
        totals = GridTotals(
            imported=imported,
            exported=exported,
            q1=round(imported * (0.2 + 0.3 * _uniform(self._key, unix_time, 40)), 5),
            q2=round(exported * 0.1 * _uniform(self._key, unix_time, 41), 5),
            q3=0.0,
            q4=round(exported * (0.05 + 0.1 * _uniform(self._key, unix_time, 42)), 5),
        )
        if self.three_phase:
            phases = [GridPhase(i, e) for i, e in zip(imports, exports, strict=True)]
            grid = GridMeter(totals, *phases)
            load_meter = EnergyMeter(round(sum(load_p), 5), *load_p)
            reno_meter = EnergyMeter(round(sum(reno_p), 5), *reno_p)
        else:
            grid = GridMeter(totals)
            load_meter = EnergyMeter(load_p[0])
            reno_meter = EnergyMeter(reno_p[0])
        return MeterRecord(
            unix_time=unix_time,
            start=local_start(unix_time),
            interval=self.interval,
            grid=grid,
            load=load_meter if self.load else None,
            renewable=reno_meter if self.renewable else None,
        )

    def inverter_records(
        self, start: int, end: int, *, now: float | None = None
    ) -> list[InverterRecord]:
        """Return the ``inverter.php`` records of the periods in [start, end)."""
        return [self.inverter_record(t) for t in self.available_times(start, end, now=now)]

    def meter_records(self, start: int, end: int, *, now: float | None = None) -> list[MeterRecord]:
        """Return the ``meter.php`` records of the periods in [start, end)."""
        return [self.meter_record(t) for t in self.available_times(start, end, now=now)]


# -- a fleet of realistic plants ---------------------------------------------------------
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_NAMES = (
    "Inversor Año Ñ",
    "Cubierta Peñalara",
    "Nave Logroño 2",
    "Tejado Sur · Fase Ú",
    "Marquesina Ávila",
    "Inversor Müller",
    "Campo Solar «El Páramo»",
    "Inversor B",
)
_MODELS = (
    ("SMA", "STP 25000TL"),
    ("Fronius", "Symo 20.0-3-M"),
    ("Huawei", "SUN2000-30KTL-M3"),
    ("Ingeteam", "INGECON SUN 3Play 40TL"),
    ("Power Electronics", "HEMK 1500"),
)


def _make_inverters(rng: random.Random) -> tuple[Inverter, ...]:
    count = rng.choice((1, 2, 2, 2, 3, 4))
    first_id = rng.randint(1, 400)
    maker, model = rng.choice(_MODELS)
    with_serial = rng.random() < 0.75
    return tuple(
        Inverter(
            id=first_id + i,
            name=rng.choice(_NAMES) if i else _NAMES[rng.randrange(len(_NAMES))],
            manufacturer=maker,
            model=model,
            serial_number=f"{rng.randrange(10**10):010d}" if with_serial else None,
        )
        for i in range(count)
    )


def _make_gaps(
    rng: random.Random, first: int, end: int, interval: int
) -> tuple[tuple[int, int], ...]:
    gaps = []
    for _ in range(rng.randint(1, 2)):
        start = first + rng.randrange((end - first) // interval) * interval
        gaps.append((start, min(start + rng.randint(1, 36) * interval, end)))
    return tuple(sorted(gaps))


def make_plants(
    n: int,
    seed: int = 0,
    *,
    start: int | None = None,
    days: float = 30,
    interval: int | None = None,
    gaps: bool = True,
    follow_clock: bool = False,
    faults: Faults | None = None,
) -> list[Plant]:
    """Build `n` varied, reproducible plants from `seed`.

    Plant 0 is the plain case (600 s, three-phase, all meters, no gap); the others vary
    the period (mostly 600 s), phases, meters, serial numbers and gaps. Windows start at
    `start` (default `DEFAULT_START`) and hold `days` of records; `follow_clock` makes
    `latest` None, so the data grows with the server's clock instead.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not crypto
    begin = DEFAULT_START if start is None else start
    plants = []
    for index in range(n):
        # 62**16 identifiers: a repeat within one fleet is not a practical concern.
        itr = "".join(rng.choice(_ALNUM) for _ in range(16))
        plain = index == 0
        drawn = rng.choice((600, 600, 600, 600, 600, 600, 300, 900, 3600))
        period = interval or (600 if plain else drawn)
        inverters = _make_inverters(rng)
        peak = 25.0 * len(inverters) * rng.uniform(0.8, 1.2)
        first = -(-begin // period) * period
        end = max((begin + int(days * 86400)) // period * period, first + period)
        # Draw everything whatever the options, so `gaps=False` changes nothing else.
        gap_rng = random.Random(rng.getrandbits(64))  # noqa: S311 - test data
        plant_gaps = _make_gaps(gap_rng, first, end, period) if rng.random() < 0.4 else ()
        plants.append(
            Plant(
                itr=itr,
                inverters=inverters,
                interval=period,
                first=first,
                latest=None if follow_clock else end - period,
                gaps=plant_gaps if gaps and not plain else (),
                load=plain or rng.random() < 0.8,
                renewable=plain or rng.random() < 0.85,
                three_phase=plain or rng.random() < 0.8,
                faults=faults or Faults(),
                seed=seed,
                peak_kw=peak,
                load_kw=peak * rng.uniform(0.1, 0.5),
            )
        )
    return plants
