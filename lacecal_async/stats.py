"""Energy rollups: each plant's periods summed per hour, local day or month, holes marked.

The meters and inverters report energies per integration period (kWh, kVArh), so a
bucket's energy is the sum of the periods that START in it. `rollup` (records in memory)
and `PlantRollup` (one plant's periods streamed in time order) give one `StatsRow` per
plant and bucket: every quantity's energy, how many periods the bucket has and how many it
should have. A bucket with a missing period is marked (`complete` is False), never filled
with zeros; a bucket with no period at all between two that have some is a row too.

Zone: ``tz`` is a `zoneinfo.ZoneInfo` (``ZoneInfo("Europe/Madrid")``: local days of 23 and 25
hours at the DST changes, the repeated autumn hour two buckets). Without one, each plant's
buckets follow the offsets its records carry (`RecordOffsets`): the same as the plant's
zone wherever no hole spans a DST change.

Where rows begin and end: with ``start``, every period from its bucket on is expected (a
hole at the start of the window is a hole); without, a plant's rows begin at its first
record and the periods before it are not expected (a plant's statistics begin with its
data). Rows end with the bucket of the plant's last record, which counts every period of
the bucket (an hour still in progress is incomplete). ``start`` and ``end`` are widened to
whole buckets, so a row never covers part of one.

Sums are exact: each value is counted as an integer number of millionths of its unit, so
a bucket's energy is the exact sum of its periods' values (as the service wrote them, to
six decimals) correctly rounded once, whatever the order or batching of the records. That
is what makes running sums (`lacecal_async.stats_sums`) identical across window splits.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Final, Literal, NoReturn

import attrs

from lacecal_async.records import InverterRecord, MeterRecord
from lacecal_async.stats_buckets import LONGEST, Bucket, bucket_end, bucket_start, check_bucket
from lacecal_async.stats_zone import RecordOffsets
from lacecal_async.tables import METER, Row, utc_offset

__all__ = [
    "METER_QUANTITIES",
    "QUANTUM",
    "TOTAL_ENERGY",
    "PlantRollup",
    "StatsRow",
    "Values",
    "as_unix",
    "inverter_quantity",
    "quantity_rank",
    "rollup",
    "total",
    "unit_of",
]

#: Millionths of a unit: the integer grain sums are kept in (exact up to 2e9 kWh a bucket).
QUANTUM: Final = 1_000_000
#: The meter's quantities, as the export's columns name them (grid, load, renewable).
METER_QUANTITIES: Final[tuple[str, ...]] = tuple(METER.names[5:])
#: An inverter rollup's plant total (the service's ``Esum``), as the periods file names it.
TOTAL_ENERGY: Final = "total_energy_kwh"
#: A period's quantities and their values (None: the period does not report it).
Values = Iterable[tuple[str, float | None]]
_METER_RANK: Final = {name: i for i, name in enumerate(METER_QUANTITIES)}


def inverter_quantity(inverter_id: int) -> str:
    """Return the quantity name of one inverter's energy: ``inverter_7_kwh``."""
    return f"inverter_{inverter_id}_kwh"


def unit_of(quantity: str) -> str:
    """Return a quantity's unit: ``kVArh`` for reactive energy (Q1 to Q4), else ``kWh``."""
    return "kVArh" if quantity.endswith("_kvarh") else "kWh"


def quantity_rank(quantity: str) -> tuple[int, int, str]:
    """Return a sort key of quantities: the meter's columns in order; the total, then inverters."""
    if quantity in _METER_RANK:
        return 0, _METER_RANK[quantity], ""
    if quantity == TOTAL_ENERGY:
        return 1, 0, ""
    number = quantity.removeprefix("inverter_").removesuffix("_kwh")
    if number.isascii() and number.isdigit():
        return 2, int(number), ""
    return 3, 0, quantity


def as_unix(when: int | datetime, name: str = "time") -> int:
    """Return UNIX seconds: an int as it is, an aware datetime's instant (rounded up)."""
    if isinstance(when, datetime):
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError(f"{name} must be an aware datetime (with a zone), or UNIX seconds")
        seconds = when.timestamp()
        return int(seconds) + (seconds > int(seconds))
    if isinstance(when, bool) or not isinstance(when, int):
        raise TypeError(f"{name} must be UNIX seconds (int) or an aware datetime")
    return when


@attrs.frozen
class StatsRow:
    """One plant's energies in one bucket.

    start / end: the bucket's first instant and the next bucket's, each at the zone's UTC
    offset then (a record's ``start`` shows its offset the same way).
    interval: the integration period [s] the expected count is on (the bucket's first
    period's, else the plant's previous one's).
    periods: the periods that start in the bucket. expected: those it should have.
    energy: each quantity some period reported, summed [kWh; kVArh for ``grid_q*``].
    reported: per quantity, the periods that reported it.
    """

    plant: str
    bucket: Bucket
    start: datetime
    end: datetime
    interval: int
    periods: int
    expected: int
    energy: dict[str, float]
    reported: dict[str, int]

    @property
    def complete(self) -> bool:
        """Whether every expected period is there and reported every quantity of the row."""
        return self.periods == self.expected and all(
            count == self.periods for count in self.reported.values()
        )

    def quantity_complete(self, quantity: str) -> bool:
        """Whether every expected period reported `quantity`."""
        return self.reported.get(quantity, 0) == self.expected


def _finite(value: object) -> bool:
    """Whether a value can be summed (a real number that is not NaN nor infinite)."""
    return isinstance(value, int | float) and math.isfinite(value)


def _slots(low: int, high: int, grid: tuple[int, int]) -> int:
    """Period starts on `grid` (interval, phase) in ``[low, high)``."""
    interval, phase = grid
    return max((phase - low) // interval - (phase - high) // interval, 0)


@attrs.define
class _Pending:
    """A period held until the window's start is aligned (it may fall before it)."""

    unix_time: int
    interval: int
    values: Sequence[Any]
    fixed: bool


class PlantRollup:
    """One plant's periods, given in time order, summed per bucket as they come.

    `add_records` (or `add`, `add_meter_row`) returns the rows of the buckets it closed;
    `finish` returns the rest. ``first``: the plant's first period anywhere [UNIX s] when
    the caller knows it (a store does): with ``start`` before it, the rows begin at the
    plant's first period, not at ``start``. See the module for ``tz``, ``start``, ``end``.
    """

    def __init__(
        self,
        plant: str,
        bucket: Bucket,
        tz: tzinfo | None = None,
        *,
        start: int | datetime | None = None,
        end: int | datetime | None = None,
        first: int | None = None,
    ) -> None:
        self.plant = plant
        self.bucket: Bucket = check_bucket(bucket)
        self._offsets: RecordOffsets | None = None
        self._zone: tzinfo
        if tz is None:
            self._zone = self._offsets = RecordOffsets()
        else:
            self._zone = tz
        self._start = None if start is None else as_unix(start, "start")
        self._end = None if end is None else as_unix(end, "end")
        if self._start is not None and self._end is not None and self._end <= self._start:
            raise ValueError("end must be after start")
        self._first = first
        self._waiting: list[_Pending] = []
        self._last: int | None = None
        self._kind: str | None = None
        self._past_end = False
        self._finished = False
        self._s: int | None = None
        self._e = 0
        self._origin = 0
        self._grid = (1, 0)
        self._periods = 0
        self._sums: dict[str, int] = {}
        self._counts: dict[str, int] = {}
        self._fixed_rows: list[Sequence[Any]] = []
        self._fixed_times: list[int] = []
        self._zones: dict[int, timezone] = {}
        self._last_at: tuple[int, datetime] | None = None

    # -- input ----------------------------------------------------------------------------
    def add_records(self, records: Iterable[MeterRecord | InverterRecord]) -> list[StatsRow]:
        """Add records (all meter or all inverter records) in time order."""
        rows: list[StatsRow] = []
        for record in records:
            if isinstance(record, MeterRecord):
                row = METER.rows(self.plant, [record])[0]
                rows += self.add_meter_row(row)
            elif isinstance(record, InverterRecord):
                values = [(TOTAL_ENERGY, record.total_energy)]
                values += [(inverter_quantity(e.id), e.energy) for e in record.inverters]
                offset = utc_offset(record.start)
                rows += self.add(record.unix_time, offset, record.interval, values, "inverter")
            else:
                raise TypeError(f"expected meter or inverter records, not {type(record).__name__}")
        return rows

    def add_meter_rows(self, rows: Iterable[Row]) -> list[StatsRow]:
        """Add rows of the `METER` table (as a store's ``read_rows`` gives them) in order."""
        out: list[StatsRow] = []
        for row in rows:
            out += self.add_meter_row(row)
        return out

    def add_meter_row(self, row: Row) -> list[StatsRow]:
        """Add a row of the `METER` table (as a store's ``read_rows`` gives it)."""
        unix_time, offset, interval = row[1], row[3], row[4]
        if not isinstance(unix_time, int) or not isinstance(offset, int):
            raise TypeError("a meter row's unix_time and utc_offset_s are ints")
        if not isinstance(interval, int):
            raise TypeError("a meter row's interval_s is an int")
        if len(row) != 5 + len(METER_QUANTITIES):
            raise ValueError(f"a meter row has {5 + len(METER_QUANTITIES)} columns, not {len(row)}")
        return self._add(unix_time, offset, interval, row[5:], "meter", fixed=True)

    def add(
        self,
        unix_time: int,
        offset: int,
        interval: int,
        values: Values,
        kind: Literal["meter", "inverter"] = "meter",
    ) -> list[StatsRow]:
        """Add one period: its start [UNIX s], UTC offset [s], length [s] and values."""
        return self._add(unix_time, offset, interval, tuple(values), kind, fixed=False)

    def _add(  # noqa: PLR0917 - private: a period's parts
        self,
        unix_time: int,
        offset: int,
        interval: int,
        values: Sequence[Any],
        kind: str,
        fixed: bool,
    ) -> list[StatsRow]:
        if self._finished:
            raise ValueError("this rollup is finished")
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(
                f"{self.plant}: a period's interval is a positive int, not {interval!r}"
            )
        if self._last is not None and unix_time <= self._last:
            raise ValueError(
                f"{self.plant}: periods must come in time order, each once "
                f"({unix_time} after {self._last})"
            )
        if self._kind is None:
            self._kind = kind
        elif kind != self._kind:
            raise ValueError(f"{self.plant}: meter and inverter records in one rollup")
        self._last = unix_time
        changed = self._offsets is not None and self._offsets.observe(unix_time, offset)
        if self._past_end or (
            self._end is not None
            and unix_time >= self._end
            and bucket_start(unix_time, self.bucket, self._zone) >= self._end
        ):
            self._past_end = True
            return []
        if self._s is None:
            if self._start is not None and unix_time < self._start:
                if unix_time >= self._start - LONGEST[self.bucket]:  # may share start's bucket
                    self._waiting.append(_Pending(unix_time, interval, values, fixed))
                return []
            return self._open_first(_Pending(unix_time, interval, values, fixed))
        if changed:  # a DST change seen in the records: the open bucket may end elsewhere
            self._e = bucket_end(self._s, self.bucket, self._zone)
        return self._take(unix_time, interval, values, fixed)

    def finish(self) -> list[StatsRow]:
        """Close the last bucket; return its row (and any held back). Nothing can be added."""
        if self._finished:
            return []
        rows = self._open_first(None) if self._s is None and self._waiting else []
        if self._s is not None:
            rows.append(self._close())
        self._finished = True
        return rows

    # -- buckets --------------------------------------------------------------------------
    def _open_first(self, current: _Pending | None) -> list[StatsRow]:
        aligned = None
        if self._start is not None:
            aligned = bucket_start(self._start, self.bucket, self._zone)
        held = [p for p in self._waiting if aligned is None or p.unix_time >= aligned]
        self._waiting = []
        periods = [*held, *([] if current is None else [current])]
        if not periods:
            return []
        earliest = periods[0].unix_time
        origin = aligned if aligned is not None else earliest
        if self._first is not None:
            origin = self._first if aligned is None else max(self._first, aligned)
        self._origin = min(origin, earliest)
        self._open(bucket_start(self._origin, self.bucket, self._zone))
        self._grid = (periods[0].interval, earliest % periods[0].interval)
        rows: list[StatsRow] = []
        for period in periods:
            rows += self._take(period.unix_time, period.interval, period.values, period.fixed)
        return rows

    def _open(self, start: int) -> None:
        self._s = start
        self._e = bucket_end(start, self.bucket, self._zone)

    def _take(
        self,
        unix_time: int,
        interval: int,
        values: Sequence[Any],
        fixed: bool,
    ) -> list[StatsRow]:
        rows = []
        while unix_time >= self._e:
            rows.append(self._close())
            self._open(self._e)
        if self._periods == 0:
            self._grid = (interval, unix_time % interval)
        self._periods += 1
        if fixed:  # the meter's columns by position: summed column by column on close
            self._fixed_rows.append(values)
            self._fixed_times.append(unix_time)
            return rows
        sums, counts = self._sums, self._counts
        for name, value in values:
            if value is not None:
                sums[name] = sums.get(name, 0) + self._grains(name, value, unix_time)
                counts[name] = counts.get(name, 0) + 1
        return rows

    def _grains(self, name: str, value: float, unix_time: int) -> int:
        try:
            return round(value * QUANTUM)
        except (ValueError, OverflowError, TypeError):
            raise ValueError(
                f"{self.plant}: {name} of the period at {unix_time} is {value!r}, "
                "not a finite number"
            ) from None

    def _sum_columns(self) -> None:
        """Sum the bucket's meter rows column by column (C loops: the hot path of a store)."""
        rows, width = self._fixed_rows, len(METER_QUANTITIES)
        flat = list(itertools.chain.from_iterable(rows))
        if None not in flat:  # every meter reported every period: one pass over all values
            try:
                grains = list(map(round, map(operator.mul, flat, itertools.repeat(QUANTUM))))
            except (ValueError, OverflowError, TypeError):
                self._refuse(flat)
            for i, name in enumerate(METER_QUANTITIES):
                self._sums[name] = self._sums.get(name, 0) + sum(grains[i::width])
                self._counts[name] = self._counts.get(name, 0) + len(rows)
        else:
            for i, column in enumerate(zip(*rows, strict=True)):
                kept = [v for v in column if v is not None]
                if kept:
                    try:
                        found = sum(map(round, map(operator.mul, kept, itertools.repeat(QUANTUM))))
                    except (ValueError, OverflowError, TypeError):
                        self._refuse(flat)
                    name = METER_QUANTITIES[i]
                    self._sums[name] = self._sums.get(name, 0) + found
                    self._counts[name] = self._counts.get(name, 0) + len(kept)
        self._fixed_rows = []
        self._fixed_times = []

    def _refuse(self, flat: list[Any]) -> NoReturn:
        """Raise naming the first value of the bucket's meter rows that is not a number."""
        width = len(METER_QUANTITIES)
        at = next(j for j, v in enumerate(flat) if v is not None and not _finite(v))
        self._grains(METER_QUANTITIES[at % width], flat[at], self._fixed_times[at // width])
        raise AssertionError  # pragma: no cover - _grains raised

    def _close(self) -> StatsRow:
        start, end = self._s, self._e
        assert start is not None  # noqa: S101 - only called with a bucket open
        ordered = bool(self._fixed_rows) and not self._sums  # meter rows alone: in order
        if self._fixed_rows:
            self._sum_columns()
        names = list(self._sums) if ordered else sorted(self._sums, key=quantity_rank)
        row = StatsRow(
            plant=self.plant,
            bucket=self.bucket,
            start=self._at(start),
            end=self._at(end, keep=True),
            interval=self._grid[0],
            periods=self._periods,
            expected=_slots(max(start, self._origin), end, self._grid),
            energy={name: self._sums[name] / QUANTUM for name in names},
            reported={name: self._counts[name] for name in names},
        )
        self._periods = 0
        self._sums = {}
        self._counts = {}
        return row

    def _at(self, unix_time: int, *, keep: bool = False) -> datetime:
        """Return the instant at the zone's offset then, as a fixed offset (never ambiguous).

        `keep`: a bucket's end, which is the next bucket's start: kept for it.
        """
        cached = self._last_at
        if cached is not None and cached[0] == unix_time:
            return cached[1]
        offset = self._zone.utcoffset(datetime.fromtimestamp(unix_time, self._zone))
        seconds = 0 if offset is None else int(offset.total_seconds())
        fixed = self._zones.get(seconds)
        if fixed is None:
            fixed = self._zones[seconds] = timezone(timedelta(seconds=seconds))
        found = datetime.fromtimestamp(unix_time, fixed)
        if keep:
            self._last_at = (unix_time, found)
        return found


def total(rows: Iterable[StatsRow], quantity: str) -> float | None:
    """Return `quantity`'s exact sum over `rows` (None when no row has it): days to a week."""
    found = [round(row.energy[quantity] * QUANTUM) for row in rows if quantity in row.energy]
    return None if not found else sum(found) / QUANTUM


def rollup(
    records: Mapping[str, Sequence[MeterRecord] | Sequence[InverterRecord]]
    | Iterable[tuple[str, Sequence[MeterRecord] | Sequence[InverterRecord]]],
    bucket: Bucket,
    tz: tzinfo | None = None,
    *,
    start: int | datetime | None = None,
    end: int | datetime | None = None,
) -> list[StatsRow]:
    """Return a row per plant and bucket of the records, by plant then time.

    `records`: ``{plant: records}``, or ``(plant, records)`` batches as a store's
    ``read_records`` yields them; each plant's records in time order, each period once, all
    meter or all inverter records. Records outside the (widened) window are left out.
    ValueError for records out of order, repeated, or holding a value that is not a finite
    number (the message names the plant and period).
    """
    pairs = records.items() if isinstance(records, Mapping) else records
    plants: dict[str, PlantRollup] = {}
    rows: dict[str, list[StatsRow]] = {}
    for plant, batch in pairs:
        if plant not in plants:
            plants[plant] = PlantRollup(plant, bucket, tz, start=start, end=end)
            rows[plant] = []
        rows[plant] += plants[plant].add_records(batch)
    for plant, engine in plants.items():
        rows[plant] += engine.finish()
    return [row for plant_rows in rows.values() for row in plant_rows]
