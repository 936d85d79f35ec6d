"""Where ``lacecal stats`` writes its rows: flat files as ``export`` does, or Home Assistant JSON.

CSV, JSON Lines and Parquet go through ``lacecal export``'s writers with the tables of
`lacecal_async.stats_tables` (typed Parquet, files created 0600, Parquet replaced in one
step on close). An inverter rollup into ``X.csv`` writes the plants' totals there and
each inverter's rows beside it, in ``X.inverters.csv``; a stream gets the first only.

``ha-json`` is one JSON array with an object per statistic, each the arguments of Home
Assistant's ``async_add_external_statistics`` (``metadata``, ``stats``) and the ``resume``
point of the next export. A plant's statistics are written once its rows are all read (an
interrupted run leaves out the plant in hand); the file is written beside the output and
put in its place when closed, or discarded after an error, so an existing file is never
left half-replaced.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, TextIO

import attrs

from lacecal_async.cli.messages import for_terminal
from lacecal_async.cli.options import UsageError
from lacecal_async.cli.writers import (
    CsvWriter,
    Export,
    JsonLinesWriter,
    ParquetWriter,
    TableWriter,
    format_for,
    is_stream,
)
from lacecal_async.endpoints import Endpoint
from lacecal_async.private_file import create_private_file
from lacecal_async.stats import StatsRow
from lacecal_async.stats_ha import HA_RELEASE, SOURCE, ha_statistics
from lacecal_async.stats_sums import SumAnchor
from lacecal_async.stats_tables import stats_object, stats_tables
from lacecal_async.tables import Table

__all__ = [
    "STATS_FORMATS",
    "HaJsonWriter",
    "StatsFormat",
    "StatsOutput",
    "choose_stats_format",
    "open_stats_output",
    "read_continuation",
    "stats_files",
]

StatsFormat = Literal["csv", "jsonl", "parquet", "ha-json"]
STATS_FORMATS: tuple[StatsFormat, ...] = ("csv", "jsonl", "parquet", "ha-json")
_EXTENSIONS: dict[str, StatsFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "ha-json",
}


class StatsOutput(Protocol):
    """Rows in (a plant's, in time order), files out."""

    def write(self, plant: str, rows: Sequence[StatsRow]) -> None:
        """Write (or keep) a batch of one plant's rows."""

    def finish(self) -> None:
        """Write what is kept: every row has been given."""

    def close(self) -> None:
        """Close the output: every file valid and in place."""

    def counts(self) -> list[tuple[str, int]]:
        """Rows (statistics, for ha-json) written so far, per destination."""


def choose_stats_format(path: str | None, named: str | None) -> StatsFormat:
    """Return the format `named` (``--format``), else the one `path`'s extension asks for."""
    return format_for(path, named, _EXTENSIONS, STATS_FORMATS)


def stats_files(path: str | None, fmt: StatsFormat, endpoint: Endpoint) -> list[Path]:
    """Return the regular files an output writes (none for a stream)."""
    if path is None or is_stream(path):
        return []
    main = Path(path)
    if fmt in ("jsonl", "ha-json"):
        return [main]
    found = stats_tables(endpoint)
    return [main] + [main.with_name(f"{main.stem}.{t.name}{main.suffix}") for t in found[1:]]


def _objects(_plant: str, rows: Sequence[Any]) -> list[dict[str, Any]]:
    return [stats_object(row) for row in rows]


@attrs.define
class _Flat:
    """CSV, JSON Lines or Parquet: `Export` over the rollup's tables."""

    export: Export
    _written: list[tuple[str, int]] = attrs.field(init=False, factory=list)

    def write(self, plant: str, rows: Sequence[StatsRow]) -> None:
        self.export.write(plant, rows)

    def finish(self) -> None:
        """Nothing is kept: every batch was written."""

    def close(self) -> None:
        self._written = self.export.counts()
        self.export.close()

    def counts(self) -> list[tuple[str, int]]:
        return self.export.counts() or self._written


def _flat_writer(fmt: StatsFormat, file: Path | None, table: Table, stdout: TextIO) -> TableWriter:
    if file is None:
        if fmt == "jsonl":
            return JsonLinesWriter(for_terminal(stdout), "stdout", _objects, owned=False)
        if fmt == "csv":
            return CsvWriter(for_terminal(stdout), "stdout", table, owned=False)
        return ParquetWriter(stdout.buffer, "stdout", table)
    if fmt == "parquet":
        return ParquetWriter(file, str(file), table, atomic=not is_stream(str(file)))
    stream = create_private_file(file).open("w", encoding="utf-8", newline="")
    if fmt == "jsonl":
        return JsonLinesWriter(stream, str(file), _objects)
    try:
        return CsvWriter(stream, str(file), table)  # it writes the header
    except OSError:
        with contextlib.suppress(OSError):  # the header is what could not be written
            stream.close()
        raise


@attrs.define
class HaJsonWriter:
    """A JSON array of Home Assistant statistics, written plant by plant.

    `anchors` continue each statistic's sum (by statistic id). `settled`: per plant, the
    time [UNIX s] up to which its hours count as final for ``resume`` even if incomplete
    (the store will repair nothing before it); a plant without one waits for every hole.
    """

    sink: Path | TextIO
    destination: str
    source: str
    anchors: Mapping[str, SumAnchor]
    release: str = HA_RELEASE
    settled: Mapping[str, int] = attrs.field(factory=dict)
    statistics: int = attrs.field(init=False, default=0)
    _stream: TextIO = attrs.field(init=False)
    _partial: Path | None = attrs.field(init=False, default=None)
    _plant: str | None = attrs.field(init=False, default=None)
    _rows: list[StatsRow] = attrs.field(init=False, factory=list)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.sink, Path):
            target = self.sink
            if not is_stream(str(self.sink)):
                self._partial = self.sink.with_name(f".{self.sink.name}.partial")
                self._partial.unlink(missing_ok=True)  # a killed run's: never reused
                target = self._partial
            self._stream = create_private_file(target).open("w", encoding="utf-8")
        else:
            self._stream = for_terminal(self.sink)
        self._stream.write("[")

    def write(self, plant: str, rows: Sequence[StatsRow]) -> None:
        """Keep the plant's rows; write the previous plant's statistics when it changes."""
        if plant != self._plant:
            self._flush()
            self._plant = plant
        self._rows.extend(rows)

    def _flush(self) -> None:
        if not self._rows:
            return
        found = ha_statistics(
            self._rows,
            source=self.source,
            anchors=self.anchors,
            settled=self.settled.get(self._rows[0].plant),
            release=self.release,
        )
        self._rows = []
        for statistic in found:
            text = json.dumps(statistic.as_json(), ensure_ascii=False, allow_nan=False)
            self._stream.write(("\n" if self.statistics == 0 else ",\n") + text)
            self.statistics += 1
        self._stream.flush()

    def finish(self) -> None:
        """Write the last plant's statistics."""
        self._flush()

    def close(self) -> None:
        """End the array and put the file in place (a plant not finished is left out)."""
        self._rows = []
        self._finish()

    def discard(self) -> None:
        """Stop without writing the plant in hand; leave any existing output as it was."""
        self._rows = []
        if self._partial is None:
            self._finish()
            return
        self._stream.close()
        self._partial.unlink(missing_ok=True)

    def _finish(self) -> None:
        self._stream.write("\n]\n")
        self._stream.flush()
        if self._partial is None:
            if isinstance(self.sink, Path):
                self._stream.close()
            return
        self._stream.close()
        if isinstance(self.sink, Path):
            if self.sink.exists():
                self._partial.chmod(self.sink.stat().st_mode & 0o777)  # keeps its mode
            self._partial.replace(self.sink)

    def counts(self) -> list[tuple[str, int]]:
        """Statistics written so far."""
        return [(self.destination, self.statistics)]


def open_stats_output(
    path: str | None,
    fmt: StatsFormat,
    endpoint: Endpoint,
    stdout: TextIO,
    *,
    source: str = SOURCE,
    anchors: Mapping[str, SumAnchor] | None = None,
    release: str = HA_RELEASE,
    settled: Mapping[str, int] | None = None,
) -> StatsOutput:
    """Open the output of `path` (None or ``-``: `stdout`) in `fmt` (`settled`: ha-json's)."""
    stream = path is None or path == "-"
    try:
        if fmt == "ha-json":
            sink: Path | TextIO = stdout if stream else Path(path)  # type: ignore[arg-type]
            where = "stdout" if stream else str(path)
            return HaJsonWriter(sink, where, source, anchors or {}, release, settled or {})
        tables = stats_tables(endpoint)
        if stream:
            return _Flat(Export([_flat_writer(fmt, None, tables[0], stdout)]))
        files = stats_files(path, fmt, endpoint) or [Path(path)]  # type: ignore[arg-type]
        writers: list[TableWriter] = []
        try:
            for file, table in zip(files, tables, strict=False):
                writers.append(_flat_writer(fmt, file, table, stdout))
        except BaseException:
            Export(writers).close()
            raise
        return _Flat(Export(writers))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def read_continuation(path: str) -> tuple[dict[str, SumAnchor], dict[str, str]]:
    """Read a previous ha-json output: each statistic's resume anchor, and where it must start.

    Returns the anchors by statistic id, and per statistic the ISO time the next export
    must start at or before (its resume point, else its first row: a statistic with no
    final hour yet is exported again whole).
    """
    try:
        with Path(path).open(encoding="utf-8") as file:
            found = json.load(file)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON ({exc})") from None
    anchors: dict[str, SumAnchor] = {}
    starts: dict[str, str] = {}
    try:
        for statistic in found:
            sid = statistic["metadata"]["statistic_id"]
            resume = statistic["resume"]
            if resume is not None:
                anchors[sid] = SumAnchor(_aware(resume["start"]), _finite(resume["sum"]))
                starts[sid] = resume["start"]
            elif statistic["stats"]:
                starts[sid] = statistic["stats"][0]["start"]
                _aware(starts[sid])  # compared with the others' starts: aware times only
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(
            f"{path}: not an ha-json output of lacecal stats ({type(exc).__name__}: {exc})"
        ) from None
    return anchors, starts


def _finite(value: object) -> float:
    """Return a resume sum: a finite JSON number (``"nan"``, true and 1e400 are not)."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            found = float(value)
            if math.isfinite(found):
                return found
    except OverflowError:  # an integer of 400 digits
        pass
    raise ValueError(f"a resume sum is a finite number, not {str(value)[:40]!r}")


def _aware(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return when
