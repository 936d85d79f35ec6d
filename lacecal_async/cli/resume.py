"""Continue an interrupted ``lacecal fetch``: where each plant stopped, and the command to run.

The file itself is the state: per plant (its ``plant`` label), the last ``unix_time`` in
the table with one row per period (the meter file, or an inverter fetch's periods file).
A resumed fetch asks each plant for what comes after it, so nothing is fetched twice.
The command printed on Ctrl-C never holds a whole identifier: plants named on the command
line show as ``alias=...WXYZ``, and ``--itr-file`` or ``LACECAL_ITR`` are repeated as given.
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
from collections.abc import Sequence
from pathlib import Path

import attrs

from lacecal_async.cli.itrs import parse_entry
from lacecal_async.cli.options import UsageError
from lacecal_async.cli.writers import Format, arrow_schema
from lacecal_async.client import DEFAULT_BASE_URL
from lacecal_async.endpoints import Endpoint
from lacecal_async.itr import redact
from lacecal_async.records import InverterRecord, MeterRecord
from lacecal_async.tables import Table

__all__ = ["check_overwrite", "next_starts", "repair_tail", "resume_command"]


def check_overwrite(files: Sequence[Path], *, force: bool, resume: bool) -> None:
    """Refuse to replace an existing output unless ``--force`` (or ``--resume``) says so."""
    existing = [file for file in files if file.exists()]
    if existing and not (force or resume):
        raise UsageError(f"{existing[0]} exists: --resume continues it, --force overwrites it")


def repair_tail(path: Path) -> None:
    """Cut a last line that a hard kill left unfinished (no newline), so appends line up."""
    with path.open("rb+") as stream:
        size = stream.seek(0, 2)
        if size == 0:
            return
        stream.seek(size - 1)
        if stream.read(1) == b"\n":
            return
        chunk = 1 << 16
        end = size
        while end > 0:
            begin = max(0, end - chunk)
            stream.seek(begin)
            found = stream.read(end - begin).rfind(b"\n")
            if found >= 0:
                stream.truncate(begin + found + 1)
                return
            end = begin
        stream.truncate(0)


def _keep_last(last: dict[str, int], plant: object, unix_time: object, interval: object) -> None:
    if not isinstance(plant, str) or type(unix_time) is not int or type(interval) is not int:
        raise ValueError("no plant, unix_time or interval")
    if unix_time + interval > last.get(plant, 0):
        last[plant] = unix_time + interval


def _csv_next(path: Path, table: Table) -> dict[str, int]:
    last: dict[str, int] = {}
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader, None)
        if header is None:
            return last
        if header != table.names:
            raise ValueError("other columns")
        columns = [header.index(name) for name in ("plant", "unix_time", "interval_s")]
        for cells in reader:
            plant, unix_time, interval = (cells[i] for i in columns)
            _keep_last(last, plant, int(unix_time), int(interval))
    return last


def _jsonl_next(path: Path, endpoint: Endpoint) -> dict[str, int]:
    record = MeterRecord if endpoint is Endpoint.METER else InverterRecord
    keys = {"plant", "utc_offset_s", *(field.name for field in attrs.fields(record))}
    last: dict[str, int] = {}
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            obj = json.loads(line)
            if not isinstance(obj, dict) or set(obj) != keys:
                raise ValueError("other keys")
            _keep_last(last, obj["plant"], obj["unix_time"], obj["interval"])
    return last


def _parquet_next(path: Path, table: Table) -> dict[str, int]:
    import pyarrow.compute as pc  # noqa: PLC0415 - optional: arrow_schema checked it first
    import pyarrow.parquet as pq  # noqa: PLC0415

    schema = arrow_schema(table)
    if not pq.read_schema(path).remove_metadata().equals(schema):
        raise ValueError("other columns")
    data = pq.read_table(path, columns=["plant", "unix_time", "interval_s"])
    data = data.append_column("next", pc.add(data["unix_time"], data["interval_s"]))
    grouped = data.group_by("plant").aggregate([("next", "max")]).to_pylist()
    return {row["plant"]: row["next_max"] for row in grouped}


def _whole_parquet(path: Path) -> None:
    """Refuse a file that lacks Parquet's closing magic: its footer was never written."""
    with path.open("rb") as stream:
        size = stream.seek(0, 2)
        stream.seek(max(0, size - 4))
        if size >= 12 and stream.read(4) == b"PAR1":  # head magic, footer length, tail magic
            return
    raise UsageError(
        f"cannot resume {path}: it is not a whole Parquet file (no footer: its write was "
        "interrupted, by a kill or a crash), so its rows cannot be read; --force fetches "
        "everything again"
    )


def _next(path: Path, table: Table, fmt: Format, endpoint: Endpoint) -> dict[str, int]:
    try:
        if fmt == "parquet":
            _whole_parquet(path)
            return _parquet_next(path, table)
        repair_tail(path)
        if fmt == "csv":
            return _csv_next(path, table)
        return _jsonl_next(path, endpoint)
    except (ValueError, KeyError, IndexError) as exc:  # ArrowInvalid is a ValueError
        raise UsageError(
            f"cannot resume {path}: it does not hold `lacecal fetch --endpoint "
            f"{endpoint.value}` output in this version's columns (--force overwrites it)"
        ) from exc
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def next_starts(
    files: Sequence[tuple[Path, Table]], fmt: Format, endpoint: Endpoint
) -> dict[str, int]:
    """Return where each plant in an existing output continues: after its last period.

    Every file of the output is checked to hold this endpoint's columns; the plants' last
    periods come from the table with one row per period. {} when there is no output yet
    (or no row in it). The rows of the other tables past these are `drop_rows_past`'s.
    """
    missing = [str(file) for file, _ in files if not file.exists()]
    found: dict[str, int] = {}
    rows = False
    for file, table in files:
        if file.exists():
            starts = _next(file, table, fmt, endpoint)
            rows = rows or bool(starts)
            if table.per_period or fmt == "jsonl":
                found = starts
    if missing and rows:  # without rows: killed before its files were all made
        raise UsageError(f"cannot resume {files[0][0]}: {missing[0]} is missing")
    return found


def _redacted_entry(text: str, number: int) -> str:
    plant = parse_entry(text, f"argument {number}")
    shown = redact(plant.itr)
    return shown if plant.alias is None else f"{plant.alias}={shown}"


def resume_command(args: argparse.Namespace, end: int) -> tuple[str, bool]:
    """Return the command that continues this fetch, and whether it needs identifiers put in.

    `end` is the instant this fetch stops at, so that a resumed one covers the same range.
    """
    words = ["lacecal", "fetch", "--endpoint", args.endpoint]
    words += [_redacted_entry(text, i) for i, text in enumerate(args.itr, 1)]
    for file in args.itr_file:
        words += ["--itr-file", file]
    words += ["--start", args.start, "--end", args.end if args.end is not None else str(end)]
    words += ["-o", args.output]
    if args.format is not None:
        words += ["--format", args.format]
    if args.base_url != DEFAULT_BASE_URL:
        words += ["--base-url", args.base_url]
    if args.wire_format != "json":
        words += ["--wire-format", args.wire_format]
    if tuple(args.rate) != (6, 60.0):
        words += ["--rate", f"{args.rate[0]}/{args.rate[1]:g}"]
    if args.timeout != 30.0:
        words += ["--timeout", f"{args.timeout:g}"]
    if args.retries != 3:
        words += ["--retries", str(args.retries)]
    return shlex.join([*words, "--resume"]), bool(args.itr)
