"""Drop the per-inverter rows a hard kill left past the periods file, before a resume.

An inverter fetch into CSV or Parquet writes two files: each page's per-inverter rows
first, then its periods. The periods file says where each plant resumes; a kill between
the two writes (or between the two Parquet files replacing the old ones) leaves rows of
periods it does not hold. They are fetched again, so they are dropped first: the resumed
output holds every row once.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from lacecal_async.cli.writers import Format
from lacecal_async.private_file import create_private_file
from lacecal_async.tables import Table

__all__ = ["drop_rows_past"]


def _past(starts: Mapping[str, int], plant: str, unix_time: int) -> bool:
    return plant not in starts or unix_time >= starts[plant]


def _partial_beside(path: Path) -> Path:
    """Make a new empty file beside `path`, with its mode, to replace it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    create_private_file(partial)
    shutil.copymode(path, partial)
    return partial


def _csv_drop(path: Path, starts: Mapping[str, int]) -> int:
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader, None)
        if header is None:
            return 0
        plant, unix_time = header.index("plant"), header.index("unix_time")
        rows = list(reader)
    kept = [cells for cells in rows if not _past(starts, cells[plant], int(cells[unix_time]))]
    if len(kept) == len(rows):
        return 0
    partial = _partial_beside(path)
    with partial.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")  # as CsvWriter wrote them
        writer.writerow(header)
        writer.writerows(kept)
        stream.flush()
        os.fsync(stream.fileno())
    partial.replace(path)
    return len(rows) - len(kept)


def _parquet_drop(path: Path, starts: Mapping[str, int]) -> int:
    import pyarrow as pa  # noqa: PLC0415 - optional: the resume checked the schema with it
    import pyarrow.parquet as pq  # noqa: PLC0415

    data = pq.read_table(path)
    keep = [
        not _past(starts, plant, unix_time)
        for plant, unix_time in zip(
            data["plant"].to_pylist(), data["unix_time"].to_pylist(), strict=True
        )
    ]
    dropped = keep.count(False)
    if dropped:
        partial = _partial_beside(path)
        pq.write_table(data.filter(pa.array(keep, pa.bool_())), partial)
        partial.replace(path)
    return dropped


def drop_rows_past(
    files: Sequence[tuple[Path, Table]], fmt: Format, starts: Mapping[str, int]
) -> list[tuple[Path, int]]:
    """Drop the rows of the tables other than the periods' past each plant's start.

    `starts` maps each plant label to where it resumes (after its last period); a plant
    missing from it resumes at --start, so all its rows go. Returns the files changed and
    how many rows each lost.
    """
    if fmt == "jsonl":
        return []  # one file, one line per period: nothing to line up
    changed = []
    for file, table in files:
        if table.per_period or not file.exists():
            continue
        dropped = _csv_drop(file, starts) if fmt == "csv" else _parquet_drop(file, starts)
        if dropped:
            changed.append((file, dropped))
    return changed
