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

from lacecal_async.cli.export import Format, arrow_schema
from lacecal_async.cli.itrs import parse_entry
from lacecal_async.cli.options import UsageError
from lacecal_async.cli.schema import Table
from lacecal_async.client import DEFAULT_BASE_URL
from lacecal_async.endpoints import Endpoint
from lacecal_async.itr import redact
from lacecal_async.records import InverterRecord, MeterRecord

__all__ = ["check_overwrite", "last_times", "repair_tail", "resume_command"]


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


def _not_ours(path: Path, endpoint: Endpoint) -> UsageError:
    return UsageError(
        f"cannot resume {path}: it does not hold `lacecal fetch {endpoint.value}` output "
        "in this version's columns (--force overwrites it)"
    )


def _keep_last(last: dict[str, int], plant: object, unix_time: object) -> None:
    if not isinstance(plant, str) or type(unix_time) is not int:
        raise ValueError("no plant or unix_time")
    if unix_time > last.get(plant, unix_time - 1):
        last[plant] = unix_time


def _csv_last(path: Path, table: Table) -> dict[str, int]:
    last: dict[str, int] = {}
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader, None)
        if header is None:
            return last
        if header != table.names:
            raise ValueError("other columns")
        plant, unix_time = header.index("plant"), header.index("unix_time")
        for cells in reader:
            _keep_last(last, cells[plant], int(cells[unix_time]))
    return last


def _jsonl_last(path: Path, endpoint: Endpoint) -> dict[str, int]:
    record = MeterRecord if endpoint is Endpoint.METER else InverterRecord
    keys = {"plant", "utc_offset_s", *(field.name for field in attrs.fields(record))}
    last: dict[str, int] = {}
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            obj = json.loads(line)
            if not isinstance(obj, dict) or set(obj) != keys:
                raise ValueError("other keys")
            _keep_last(last, obj["plant"], obj["unix_time"])
    return last


def _parquet_last(path: Path, table: Table) -> dict[str, int]:
    import pyarrow.parquet as pq  # noqa: PLC0415 - optional: arrow_schema checked it first

    schema = arrow_schema(table)
    if not pq.read_schema(path).remove_metadata().equals(schema):
        raise ValueError("other columns")
    data = pq.read_table(path, columns=["plant", "unix_time"])
    grouped = data.group_by("plant").aggregate([("unix_time", "max")]).to_pylist()
    return {row["plant"]: row["unix_time_max"] for row in grouped}


def last_times(
    files: Sequence[tuple[Path, Table]], fmt: Format, endpoint: Endpoint
) -> dict[str, int]:
    """Return each plant's last ``unix_time`` in an existing output ({} if there is none)."""
    path, table = next((f, t) for f, t in files if t.per_period or fmt == "jsonl")
    if not path.exists():
        return {}
    try:
        if fmt == "parquet":
            return _parquet_last(path, table)
        repair_tail(path)
        if fmt == "csv":
            return _csv_last(path, table)
        return _jsonl_last(path, endpoint)
    except (ValueError, KeyError, IndexError) as exc:  # ArrowInvalid is a ValueError
        raise _not_ours(path, endpoint) from exc
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _redacted_entry(text: str, number: int) -> str:
    plant = parse_entry(text, f"argument {number}")
    shown = redact(plant.itr)
    return shown if plant.alias is None else f"{plant.alias}={shown}"


def resume_command(args: argparse.Namespace, end: int) -> tuple[str, bool]:
    """Return the command that continues this fetch, and whether it needs identifiers put in.

    `end` is the instant this fetch stops at, so that a resumed one covers the same range.
    """
    words = ["lacecal", "fetch", args.endpoint]
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
