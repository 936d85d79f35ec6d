"""Writers of fetched records: CSV, JSON Lines and Parquet, chosen by the file's extension.

CSV and Parquet have flat columns named with their units; the first column, ``plant``, is
the plant's alias, or its full identifier when it has none (the data is the user's own).
Meter records are one row each. Inverter records are one row per inverter and period
(``inverter_id``, ``inverter_energy_kwh``), with the period's ``total_energy_kwh`` repeated
on each of its rows: the columns stay the same whatever inverters the plants have.
JSON Lines holds one object per record, nested as the library's records are (English
names; energies in kWh, reactive energies in kVArh, ``interval`` in seconds).

Every writer flushes after each batch (a page), so an interrupted fetch leaves every
record written so far; the Parquet writer keeps rows until a row group is full and writes
them, with the footer, on `close` (called in a ``finally``).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, TextIO

import attrs

from lacecal_async.cli.options import UsageError
from lacecal_async.endpoints import Endpoint
from lacecal_async.private_file import create_private_file
from lacecal_async.records import EnergyMeter, GridPhase, InverterRecord, MeterRecord

__all__ = [
    "INVERTER_COLUMNS",
    "METER_COLUMNS",
    "PARQUET_HINT",
    "Writer",
    "columns",
    "inverter_rows",
    "meter_row",
    "open_writer",
    "output_format",
    "rows",
]

Kind = Literal["str", "int", "float"]
Row = tuple[str | int | float | None, ...]

_TIME_COLUMNS: tuple[tuple[str, Kind], ...] = (
    ("plant", "str"),
    ("unix_time", "int"),
    ("start", "str"),
    ("interval_s", "int"),
)
METER_COLUMNS: tuple[tuple[str, Kind], ...] = (
    *_TIME_COLUMNS,
    ("grid_imported_kwh", "float"),
    ("grid_exported_kwh", "float"),
    ("grid_q1_kvarh", "float"),
    ("grid_q2_kvarh", "float"),
    ("grid_q3_kvarh", "float"),
    ("grid_q4_kvarh", "float"),
    *((f"grid_{phase}_{way}_kwh", "float") for phase in "rst" for way in ("imported", "exported")),
    ("load_kwh", "float"),
    *((f"load_{phase}_kwh", "float") for phase in "rst"),
    ("renewable_kwh", "float"),
    *((f"renewable_{phase}_kwh", "float") for phase in "rst"),
)
INVERTER_COLUMNS: tuple[tuple[str, Kind], ...] = (
    *_TIME_COLUMNS,
    ("total_energy_kwh", "float"),
    ("inverter_id", "int"),
    ("inverter_energy_kwh", "float"),
)

#: The one line shown when Parquet is asked for without pyarrow installed.
PARQUET_HINT = "writing Parquet needs pyarrow: pip install 'lacecal_async[parquet]'"
#: Rows the Parquet writer gathers per row group.
ROW_GROUP_ROWS = 65_536
#: What JSON may carry raw but a terminal acts on (C1 controls such as CSI) or reorders
#: (bidi controls): written as \\u escapes, the same JSON value.
_JSON_UNSAFE = re.compile("[\x80-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _phase(phase: GridPhase | None) -> tuple[float | None, float | None]:
    return (None, None) if phase is None else (phase.imported, phase.exported)


def _energy(meter: EnergyMeter | None) -> tuple[float | None, ...]:
    return (None,) * 4 if meter is None else (meter.rst, meter.r, meter.s, meter.t)


def meter_row(plant: str, record: MeterRecord) -> Row:
    """Return the flat row of one meter record (None where the plant has no such meter)."""
    grid = record.grid
    totals: tuple[float | None, ...] = (None,) * 12
    if grid is not None:
        rst = grid.rst
        totals = (
            rst.imported,
            rst.exported,
            rst.q1,
            rst.q2,
            rst.q3,
            rst.q4,
            *_phase(grid.r),
            *_phase(grid.s),
            *_phase(grid.t),
        )
    return (
        plant,
        record.unix_time,
        record.start.isoformat(),
        record.interval,
        *totals,
        *_energy(record.load),
        *_energy(record.renewable),
    )


def inverter_rows(plant: str, record: InverterRecord) -> list[Row]:
    """Return one row per inverter of the record (one with no inverter if it has none)."""
    head = (plant, record.unix_time, record.start.isoformat(), record.interval)
    total = record.total_energy
    if not record.inverters:
        return [(*head, total, None, None)]
    return [(*head, total, inverter.id, inverter.energy) for inverter in record.inverters]


def columns(endpoint: Endpoint) -> tuple[tuple[str, Kind], ...]:
    """Return the flat columns of an endpoint's records."""
    return METER_COLUMNS if endpoint is Endpoint.METER else INVERTER_COLUMNS


def rows(endpoint: Endpoint, plant: str, records: Sequence[Any]) -> list[Row]:
    """Return the flat rows of a batch of records."""
    if endpoint is Endpoint.METER:
        return [meter_row(plant, record) for record in records]
    return [row for record in records for row in inverter_rows(plant, record)]


class Writer(Protocol):
    """Where fetched records go, batch by batch."""

    def write(self, plant: str, records: Sequence[Any]) -> None:
        """Write a batch of one plant's records (`plant`: its label in the data)."""

    def close(self) -> None:
        """Finish the output (safe to call twice)."""


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")  # pragma: no cover


@attrs.define
class JsonLinesWriter:
    """One JSON object per record: ``{"plant": ..., <the record's fields>}``."""

    stream: TextIO
    owned: bool

    def write(self, plant: str, records: Sequence[Any]) -> None:
        """Write and flush the batch."""
        lines = [
            json.dumps(
                {"plant": plant, **attrs.asdict(record, recurse=True)},
                default=_json_default,
                ensure_ascii=False,
                allow_nan=False,  # strict JSON: a NaN is no record (the decoder refuses one)
            )
            for record in records
        ]
        if lines:
            text = "\n".join(lines) + "\n"
            if not text.isascii():
                text = _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
            self.stream.write(text)
            self.stream.flush()

    def close(self) -> None:
        """Close the file (stdout is only flushed)."""
        if self.owned:
            self.stream.close()
        else:
            self.stream.flush()


@attrs.define
class CsvWriter:
    """A header line, then flat rows; empty cells where a plant has no such meter."""

    stream: TextIO
    endpoint: Endpoint
    _csv: Any = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._csv = csv.writer(self.stream, lineterminator="\n")
        self._csv.writerow([name for name, _ in columns(self.endpoint)])
        self.stream.flush()

    def write(self, plant: str, records: Sequence[Any]) -> None:
        """Write and flush the batch."""
        self._csv.writerows(rows(self.endpoint, plant, records))
        self.stream.flush()

    def close(self) -> None:
        """Close the file."""
        self.stream.close()


@attrs.define
class ParquetWriter:
    """Flat columns with types (nullable floats); a row group per `ROW_GROUP_ROWS` rows."""

    path: Path
    endpoint: Endpoint
    row_group_rows: int = ROW_GROUP_ROWS
    _pending: list[Row] = attrs.field(init=False, factory=list)
    _writer: Any = attrs.field(init=False, default=None)
    _schema: Any = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        try:
            import pyarrow as pa  # noqa: PLC0415 - optional: only Parquet output needs it
            import pyarrow.parquet as pq  # noqa: PLC0415
        except ImportError:
            raise UsageError(PARQUET_HINT) from None
        types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}
        self._schema = pa.schema([(n, types[k]) for n, k in columns(self.endpoint)])
        self._writer = pq.ParquetWriter(create_private_file(self.path), self._schema)

    def write(self, plant: str, records: Sequence[Any]) -> None:
        """Keep the batch's rows; write a row group once enough have gathered."""
        self._pending.extend(rows(self.endpoint, plant, records))
        if len(self._pending) >= self.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            import pyarrow as pa  # noqa: PLC0415 - imported (and checked) at creation

            table = pa.Table.from_pylist(
                [dict(zip(self._schema.names, row, strict=True)) for row in self._pending],
                schema=self._schema,
            )
            self._writer.write_table(table)
            self._pending = []

    def close(self) -> None:
        """Write the rows kept and the footer: the file is valid from here on."""
        if self._writer is not None:
            try:
                self._flush()
            finally:
                self._writer.close()
                self._writer = None


Format = Literal["csv", "jsonl", "parquet"]
_EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def output_format(path: str | None) -> Format:
    """Return the format a path's extension asks for (no path, or ``-``: JSON Lines)."""
    if path is None or path == "-":
        return "jsonl"
    suffix = Path(path).suffix.lower()
    found = _EXTENSIONS.get(suffix)
    if found is None:
        known = ", ".join(_EXTENSIONS)
        shown = f"extension {suffix!r}" if suffix else "no extension"
        raise UsageError(f"{path}: {shown}; the output format comes from it: {known}")
    return found


def open_writer(path: str | None, endpoint: Endpoint, stdout: TextIO) -> Writer:
    """Create the writer for `path` (None or ``-``: JSON Lines on `stdout`)."""
    fmt = output_format(path)
    if path is None or path == "-":
        return JsonLinesWriter(stdout, owned=False)
    target = Path(path)
    try:
        if fmt == "parquet":
            return ParquetWriter(target, endpoint)
        # It holds identifiers: created 0600 (an existing file keeps its mode).
        stream = create_private_file(target).open("w", encoding="utf-8", newline="")
        if fmt == "csv":
            return CsvWriter(stream, endpoint)
        return JsonLinesWriter(stream, owned=True)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
