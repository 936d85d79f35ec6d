"""Writers of fetched records: CSV, JSON Lines and Parquet, in `lacecal_async.tables` columns.

The format is ``--format``, else the file's extension; stdout (``-o -``) and other files
that are not regular files (``/dev/null``, a pipe) are JSON Lines unless named otherwise.
CSV and Parquet hold flat tables; an inverter fetch into ``X.csv`` writes the per-inverter
rows there and the periods (with the plant's total) beside it, in ``X.periods.csv``, so no
column repeats a value. JSON Lines holds one object per record, nested as the library's
records are, with ``plant`` and ``utc_offset_s`` added.

Every writer flushes after each batch (a page), so an interrupted fetch leaves every
record written so far; the Parquet writer keeps rows until a row group is full and writes
them, with the footer, on `close` (called in a ``finally``), into a hidden file beside the
output that replaces it then: a hard kill leaves no half-written Parquet file. Appending
(``--resume``) adds to CSV and JSON Lines files, and rewrites a Parquet file: its rows are
copied into the new file, so the old one stands until `close`.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal, Protocol, TextIO, TypeVar

import attrs

from lacecal_async.cli.messages import for_terminal
from lacecal_async.cli.options import UsageError
from lacecal_async.endpoints import Endpoint
from lacecal_async.private_file import create_private_file
from lacecal_async.tables import Row, Table, tables, utc_offset

__all__ = [
    "FORMATS",
    "PARQUET_HINT",
    "Export",
    "Format",
    "Writer",
    "arrow_schema",
    "choose_format",
    "format_for",
    "is_stream",
    "open_export",
    "output_files",
    "record_objects",
]

Format = Literal["csv", "jsonl", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "parquet")
Objects = Callable[[str, Sequence[Any]], list[dict[str, Any]]]

#: The one line shown when Parquet is asked for without pyarrow installed.
PARQUET_HINT = "writing Parquet needs pyarrow: pip install 'lacecal_async[parquet]'"
#: Rows the Parquet writer gathers per row group.
ROW_GROUP_ROWS = 65_536
#: What JSON may carry raw but a terminal acts on (C1 controls such as CSI) or reorders
#: (bidi controls): written as \\u escapes, the same JSON value.
_JSON_UNSAFE = re.compile("[\x80-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

_EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


class Writer(Protocol):
    """Where fetched records go, batch by batch."""

    def write(self, plant: str, records: Sequence[Any]) -> None:
        """Write a batch of one plant's records (`plant`: its label in the data)."""


def is_stream(path: str | None) -> bool:
    """Whether `path` is stdout (None, ``-``) or an existing file that is not a regular one."""
    if path is None or path == "-":
        return True
    try:
        return not stat.S_ISREG(Path(path).stat().st_mode)
    except OSError:
        return False


def choose_format(path: str | None, named: str | None) -> Format:
    """Return the format `named` (``--format``), else the one `path`'s extension asks for."""
    return format_for(path, named, _EXTENSIONS, FORMATS)


#: One command's formats (`Format`, or `stats`' which add ha-json).
F = TypeVar("F", bound=str)


def format_for(
    path: str | None, named: str | None, extensions: Mapping[str, F], formats: Sequence[F]
) -> F:
    """Return `named` (one of `formats`), else the format `path`'s extension names.

    Standard output or a pipe without either is JSON Lines; `UsageError` for an extension
    that contradicts `named`, or a file that names no format.
    """
    suffix = "" if path is None or path == "-" else Path(path).suffix.lower()
    found = extensions.get(suffix)
    if named is not None:
        chosen = formats[formats.index(named)]
        if found is not None and found != chosen:
            raise UsageError(f"{path}: extension {suffix!r} but --format {named}")
        return chosen
    if found is not None:
        return found
    if is_stream(path):
        return formats[formats.index("jsonl")]
    known = ", ".join(extensions)
    shown = f"extension {suffix!r}" if suffix else "no extension"
    raise UsageError(f"{path}: {shown}; name the format with --format, or use one of: {known}")


def output_files(path: str | None, fmt: Format, endpoint: Endpoint) -> list[tuple[Path, Table]]:
    """Return the regular files an export writes, each with its table (none for a stream).

    JSON Lines is one file whatever the endpoint (its table: the first); CSV and Parquet
    have a file per table, the second beside the first: ``X.periods.csv``.
    """
    if path is None or is_stream(path):
        return []
    main = Path(path)
    found = tables(endpoint)
    if fmt == "jsonl":
        return [(main, found[0])]
    return [(main, found[0])] + [
        (main.with_name(f"{main.stem}.{table.name}{main.suffix}"), table) for table in found[1:]
    ]


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")  # pragma: no cover


def record_objects(plant: str, records: Sequence[Any]) -> list[dict[str, Any]]:
    """One JSON object per record: plant, time fields (with ``utc_offset_s``), the rest."""
    objects = []
    for record in records:
        fields = attrs.asdict(record, recurse=True)
        head = {"plant": plant, "unix_time": fields.pop("unix_time")}
        head |= {"start": fields.pop("start"), "utc_offset_s": utc_offset(record.start)}
        objects.append(head | fields)
    return objects


def _flat_objects(table: Table) -> Objects:
    def objects(plant: str, records: Sequence[Any]) -> list[dict[str, Any]]:
        return [dict(zip(table.names, row, strict=True)) for row in table.rows(plant, records)]

    return objects


def _cell(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


@attrs.define
class JsonLinesWriter:
    """One JSON object per line, as `objects` makes them from a batch."""

    stream: TextIO
    destination: str
    objects: Objects
    owned: bool = True
    rows: int = attrs.field(init=False, default=0)

    def write(self, plant: str, records: Sequence[Any]) -> None:
        """Write and flush the batch."""
        lines = [
            json.dumps(
                obj,
                default=_json_default,
                ensure_ascii=False,
                allow_nan=False,  # strict JSON: a NaN is no record (the decoder refuses one)
            )
            for obj in self.objects(plant, records)
        ]
        if lines:
            text = "\n".join(lines) + "\n"
            if not text.isascii():
                text = _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
            self.stream.write(text)
            self.stream.flush()
            self.rows += len(lines)

    def close(self) -> None:
        """Close the file (stdout is only flushed)."""
        if self.owned:
            self.stream.close()
        else:
            self.stream.flush()


@attrs.define
class CsvWriter:
    """A header line (unless appending), then flat rows; empty cells for nulls."""

    stream: TextIO
    destination: str
    table: Table
    header: bool = True
    owned: bool = True
    rows: int = attrs.field(init=False, default=0)
    _csv: Any = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._csv = csv.writer(self.stream, lineterminator="\n")
        if self.header:
            self._csv.writerow(self.table.names)
            self.stream.flush()

    def write(self, plant: str, records: Sequence[Any]) -> None:
        """Write and flush the batch."""
        rows = self.table.rows(plant, records)
        self._csv.writerows([[_cell(value) for value in row] for row in rows])
        self.stream.flush()
        self.rows += len(rows)

    def close(self) -> None:
        """Close the file (stdout is only flushed)."""
        if self.owned:
            self.stream.close()
        else:
            self.stream.flush()


def arrow_schema(table: Table) -> Any:  # noqa: ANN401 - pyarrow has no type hints
    """Return the pyarrow schema of `table` (`UsageError` with a hint without pyarrow)."""
    try:
        import pyarrow as pa  # noqa: PLC0415 - optional: only Parquet output needs it
    except ImportError:
        raise UsageError(PARQUET_HINT) from None
    types = {
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "timestamp": pa.timestamp("ms", tz="UTC"),
        "bool": pa.bool_(),
    }
    return pa.schema([(column.name, types[column.kind]) for column in table.columns])


@attrs.define
class ParquetWriter:
    """Typed flat columns (nullable); a row group per `ROW_GROUP_ROWS` rows.

    `sink` is a path or a binary stream. A path (`atomic`, or with `keep`) is written to a
    hidden file beside it that replaces it on `close`: a hard kill, which leaves a Parquet
    file without its footer (unreadable), leaves the old file (or none) in place. With
    `keep`, the rows of that existing file come first.
    """

    sink: Path | IO[bytes]
    destination: str
    table: Table
    keep: Path | None = None
    atomic: bool = False
    row_group_rows: int = ROW_GROUP_ROWS
    rows: int = attrs.field(init=False, default=0)
    _pending: list[Row] = attrs.field(init=False, factory=list)
    _writer: Any = attrs.field(init=False, default=None)
    _schema: Any = attrs.field(init=False)
    _partial: Path | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self._schema = arrow_schema(self.table)
        import pyarrow.parquet as pq  # noqa: PLC0415 - optional, checked just above

        target = self.sink
        if isinstance(self.sink, Path) and (self.atomic or self.keep is not None):
            self._partial = self.sink.with_name(f".{self.sink.name}.partial")
            self._partial.unlink(missing_ok=True)  # a killed run's: never reused
            target = self._partial
        if isinstance(target, Path):  # it holds identifiers: created 0600
            target = create_private_file(target)
        if self._partial is not None and isinstance(self.sink, Path) and self.sink.exists():
            shutil.copymode(self.sink, self._partial)  # the file it replaces keeps its mode
        self._writer = pq.ParquetWriter(target, self._schema)
        if self.keep is not None:
            for batch in pq.ParquetFile(self.keep).iter_batches():
                self._writer.write_batch(batch)

    def write(self, plant: str, records: Sequence[Any]) -> None:
        """Keep the batch's rows; write a row group once enough have gathered."""
        rows = self.table.rows(plant, records)
        self._pending.extend(rows)
        self.rows += len(rows)
        if len(self._pending) >= self.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            import pyarrow as pa  # noqa: PLC0415 - imported (and checked) at creation

            names = self._schema.names
            table = pa.Table.from_pylist(
                [dict(zip(names, row, strict=True)) for row in self._pending],
                schema=self._schema,
            )
            self._writer.write_table(table)
            self._pending = []

    def close(self) -> None:
        """Write the rows kept and the footer: the file is valid (and in place) from here on."""
        if self._writer is not None:
            try:
                self._flush()
            finally:
                self._writer.close()
                self._writer = None
                if self._partial is not None and isinstance(self.sink, Path):
                    self._partial.replace(self.sink)


TableWriter = JsonLinesWriter | CsvWriter | ParquetWriter


@attrs.define
class Export:
    """The writers of one output (a file per table), used as one `Writer`."""

    writers: list[TableWriter]

    def write(self, plant: str, records: Sequence[Any]) -> None:
        """Write the batch to every table."""
        for writer in self.writers:
            writer.write(plant, records)

    def close(self) -> None:
        """Close every file, the first error raised after all are closed."""
        errors: list[OSError] = []
        for writer in self.writers:
            try:
                writer.close()
            except OSError as exc:  # pragma: no cover - a full disk on the last flush
                errors.append(exc)
        self.writers = []
        if errors:  # pragma: no cover
            raise errors[0]

    def counts(self) -> list[tuple[str, int]]:
        """Rows written so far, per destination."""
        return [(writer.destination, writer.rows) for writer in self.writers]


def _open_text(path: Path, mode: Literal["w", "a"]) -> TextIO:
    # It holds identifiers: created 0600 (an existing file keeps its mode).
    return create_private_file(path).open(mode, encoding="utf-8", newline="")


def _stream_writer(fmt: Format, table: Table, objects: Objects, stdout: TextIO) -> TableWriter:
    if fmt == "jsonl":
        return JsonLinesWriter(for_terminal(stdout), "stdout", objects, owned=False)
    if fmt == "csv":
        return CsvWriter(for_terminal(stdout), "stdout", table, owned=False)
    return ParquetWriter(stdout.buffer, "stdout", table)


def open_export(
    path: str | None,
    fmt: Format,
    endpoint: Endpoint,
    stdout: TextIO,
    *,
    append: bool = False,
) -> Export:
    """Open the writers of `path` (None or ``-``: `stdout`); `append` continues its files.

    A stream (stdout, ``/dev/null``) gets the first table only: an inverter fetch to
    stdout in CSV or Parquet writes no periods.
    """
    first = tables(endpoint)[0]
    objects = record_objects if endpoint is not Endpoint.INVERTER_LIST else _flat_objects(first)
    if path is None or path == "-":
        return Export([_stream_writer(fmt, first, objects, stdout)])
    files = output_files(path, fmt, endpoint) or [(Path(path), first)]
    writers: list[TableWriter] = []
    try:
        for file, table in files:
            regular = not is_stream(str(file))
            keep = append and file.exists() and regular
            if fmt == "parquet":
                kept = file if keep else None
                writers.append(ParquetWriter(file, str(file), table, keep=kept, atomic=regular))
                continue
            stream = _open_text(file, "a" if keep else "w")
            if fmt == "csv":
                empty = not keep or os.fstat(stream.fileno()).st_size == 0
                writers.append(CsvWriter(stream, str(file), table, header=empty))
            else:
                writers.append(JsonLinesWriter(stream, str(file), objects))
    except OSError as exc:
        Export(writers).close()
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    except UsageError:
        Export(writers).close()
        raise
    return Export(writers)
