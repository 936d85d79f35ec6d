"""Exports as an analyst loads them, written by `lacecal` as a subprocess.

Typed the same in every format, inverter totals apart, resumable, inverter lists that join,
months and years, stdout and /dev/null.
"""

from __future__ import annotations

import csv
import io
import math
import re
import shlex
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lacecal_async.cli.when import parse_when
from lacecal_async.testing import FakeLacecalServer
from tests.support import processes
from tests.support.cli import (
    DST_END,
    DST_START,
    FAST,
    FULL,
    SLOW,
    SLOW_END,
    SLOW_START,
    assert_no_secret,
    by_plant,
    expected_rows,
    read_csv,
    read_jsonl,
    read_parquet,
    record_from_json,
    secrets,
    threaded_server,
)
from tests.support.commands import TIMEOUT, lacecal, run

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pa_csv = pytest.importorskip("pyarrow.csv")
pa_json = pytest.importorskip("pyarrow.json")


@pytest.fixture(scope="module")
def full_server() -> Iterator[FakeLacecalServer]:
    with threaded_server(FULL) as fake:
        yield fake


@pytest.fixture(scope="module")
def slow_server() -> Iterator[FakeLacecalServer]:
    with threaded_server(SLOW) as fake:
        yield fake


def fetch_args(server: FakeLacecalServer, endpoint: str, *extra: str) -> list[str]:
    plants = [f"p{i}={p.itr}" for i, p in enumerate(FULL)]
    return [
        "fetch", endpoint, *plants, "--start", str(DST_START), "--end", str(DST_END),
        "--base-url", server.base_url, "--rate", FAST, "-q", *extra,
    ]  # fmt: skip


def ok(*args: str) -> subprocess.CompletedProcess[str]:
    done = run(*args)
    assert done.returncode == 0, done.stderr
    return done


# -- 1. one schema, typed the same in every format ---------------------------------------


def _unitless(kind: Any) -> str:
    """A pyarrow type, with the timestamp unit left out (CSV infers s, Parquet stores ms)."""
    return f"timestamp[{kind.tz}]" if pa.types.is_timestamp(kind) else str(kind)


def _check_instants(table: Any) -> None:
    seconds = table.column("start").cast(pa.timestamp("s", tz="UTC")).cast(pa.int64())
    assert seconds.to_pylist() == table.column("unix_time").to_pylist()


@pytest.mark.parametrize("endpoint", ["meter", "inverter"])
def test_csv_and_parquet_load_with_the_same_types(
    full_server: FakeLacecalServer, tmp_path: Path, endpoint: str
) -> None:
    for ext in ("csv", "parquet"):
        ok(*fetch_args(full_server, endpoint, "-o", str(tmp_path / f"x.{ext}")))
    names = ["x"] if endpoint == "meter" else ["x", "x.periods"]
    for name in names:
        from_csv = pa_csv.read_csv(tmp_path / f"{name}.csv")
        from_parquet = pq.read_table(tmp_path / f"{name}.parquet")
        csv_types = {f.name: _unitless(f.type) for f in from_csv.schema}
        assert csv_types == {f.name: _unitless(f.type) for f in from_parquet.schema}
        assert csv_types["start"] == "timestamp[UTC]"
        assert csv_types["unix_time"] == csv_types["utc_offset_s"] == "int64"
        assert {kind for col, kind in csv_types.items() if col.endswith("kwh")} == {"double"}
        for table in (from_csv, from_parquet):
            _check_instants(table)
            assert set(table.column("utc_offset_s").to_pylist()) == {7200, 3600}  # DST
        assert from_csv.to_pylist() == from_parquet.to_pylist()
        if name == "x" and endpoint == "inverter":
            assert csv_types["inverter_id"] == "int64"


def test_json_lines_load_with_the_same_types(
    full_server: FakeLacecalServer, tmp_path: Path
) -> None:
    out = tmp_path / "m.jsonl"
    ok(*fetch_args(full_server, "meter", "-o", str(out)))
    ok(*fetch_args(full_server, "meter", "-o", str(tmp_path / "m.parquet")))
    table = pa_json.read_json(out)
    flat = pq.read_table(tmp_path / "m.parquet")
    for name in ("plant", "unix_time", "utc_offset_s"):
        assert table.schema.field(name).type == flat.schema.field(name).type
    # pyarrow's JSON reader has no zoned timestamps: it gives the UTC instant, naive.
    assert pa.types.is_timestamp(table.schema.field("start").type)
    naive = table.column("start").cast(pa.int64()).to_pylist()
    assert naive == table.column("unix_time").to_pylist()
    assert str(table.schema.field("grid").type).startswith("struct<rst: struct<imported: double")
    lines = read_jsonl(out.read_text(encoding="utf-8"))
    assert {line["start"][-6:] for line in lines} == {"+02:00", "+01:00"}
    for line in lines:
        when = datetime.fromisoformat(line["start"])
        assert when.timestamp() == line["unix_time"]
        assert when.utcoffset().total_seconds() == line["utc_offset_s"]  # type: ignore[union-attr]


@pytest.mark.slow
def test_duckdb_reads_every_format_with_the_same_types(
    full_server: FakeLacecalServer, tmp_path: Path
) -> None:
    duckdb = pytest.importorskip("duckdb")
    for ext in ("csv", "parquet", "jsonl"):
        ok(*fetch_args(full_server, "meter", "-o", str(tmp_path / f"m.{ext}")))
    types = {}
    for ext in ("csv", "parquet", "jsonl"):
        relation = duckdb.sql(f"SELECT * FROM '{tmp_path / f'm.{ext}'}'")  # noqa: S608
        types[ext] = dict(zip(relation.columns, map(str, relation.dtypes), strict=True))
        wrong = duckdb.sql(
            f"SELECT count(*) FROM '{tmp_path / f'm.{ext}'}' WHERE epoch(start) <> unix_time"  # noqa: S608
        ).fetchall()
        assert wrong == [(0,)]
    assert types["csv"] == types["parquet"]
    assert types["csv"]["start"] == "TIMESTAMP WITH TIME ZONE"
    assert types["csv"]["grid_imported_kwh"] == "DOUBLE"
    for name in ("plant", "unix_time", "start", "utc_offset_s"):
        assert types["jsonl"][name] == types["csv"][name]


# -- 2. no double counting ---------------------------------------------------------------


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_inverter_energy_and_period_totals_each_sum_once(
    full_server: FakeLacecalServer, tmp_path: Path, ext: str
) -> None:
    args = fetch_args(full_server, "inverter", "-o", str(tmp_path / f"i.{ext}"))
    done = run(*[arg for arg in args if arg != "-q"])
    assert done.returncode == 0, done.stderr
    periods = sum(len(p.inverter_records(DST_START, DST_END)) for p in FULL)
    assert re.search(rf", {periods:,} periods in ", done.stderr)

    def load(path: Path) -> list[dict[str, Any]]:
        return read_csv(path)[1] if ext == "csv" else read_parquet(path)

    rows = load(tmp_path / f"i.{ext}")
    totals = load(tmp_path / f"i.periods.{ext}")
    assert "total_energy_kwh" not in rows[0]
    for i, plant in enumerate(FULL):
        records = plant.inverter_records(DST_START, DST_END)
        assert len(by_plant(totals)[f"p{i}"]) == len(records)
        assert by_plant(totals)[f"p{i}"] == expected_rows(
            "periods", f"p{i}", plant, DST_START, DST_END
        )
        assert by_plant(rows)[f"p{i}"] == expected_rows(
            "inverter", f"p{i}", plant, DST_START, DST_END
        )
        summed = sum(row["total_energy_kwh"] for row in by_plant(totals)[f"p{i}"])
        assert math.isclose(summed, sum(r.total_energy for r in records))
        summed = sum(row["inverter_energy_kwh"] for row in by_plant(rows)[f"p{i}"])
        assert math.isclose(summed, sum(e.energy for r in records for e in r.inverters))


# -- 3. resumable ------------------------------------------------------------------------


@pytest.mark.slow
def test_an_existing_output_is_not_overwritten_without_force(
    full_server: FakeLacecalServer, tmp_path: Path
) -> None:
    out = tmp_path / "i.csv"
    (tmp_path / "i.periods.csv").write_text("mine\n", encoding="utf-8")
    refused = run(*fetch_args(full_server, "inverter", "-o", str(out)))
    assert refused.returncode == 2
    assert refused.stderr == (
        f"lacecal: error: {tmp_path / 'i.periods.csv'} exists: --resume continues it, "
        "--force overwrites it\n"
    )
    assert not out.exists()
    assert (tmp_path / "i.periods.csv").read_text(encoding="utf-8") == "mine\n"
    ok(*fetch_args(full_server, "inverter", "-o", str(out), "--force"))
    assert read_csv(tmp_path / "i.periods.csv")[0][-1] == "inverter_count"
    both = run(*fetch_args(full_server, "inverter", "-o", str(out), "--force", "--resume"))
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr


def _interrupt(args: list[str]) -> str:
    """Run `args`, Ctrl-C once some periods are written; return stderr."""
    command = lacecal(*args, "--progress", "plain", "--progress-every", "0.05")
    seen = []
    with processes.started(command, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        for line in process.stderr:
            seen.append(line)
            found = re.search(r" ([\d,]+) periods", line)
            if found and int(found.group(1).replace(",", "")) > 0:
                process.send_signal(signal.SIGINT)
                break
        seen.append(process.communicate(timeout=TIMEOUT)[1])
    assert process.returncode == 130, "".join(seen)
    return "".join(seen)


def _complete(path: Path, ext: str, endpoint: str, plants: dict[str, Any]) -> None:
    """The file holds every plant's rows exactly once, in order."""
    if ext == "jsonl":
        grouped = by_plant(read_jsonl(path.read_text(encoding="utf-8")))
        for label, plant in plants.items():
            got = [record_from_json(endpoint, line) for line in grouped[label]]
            assert got == list(plant.meter_records(SLOW_START, SLOW_END))
        return
    rows = read_csv(path)[1] if ext == "csv" else read_parquet(path)
    for label, plant in plants.items():
        assert by_plant(rows)[label] == expected_rows(endpoint, label, plant, SLOW_START, SLOW_END)


@pytest.mark.parametrize(
    ("endpoint", "ext", "named"),
    [("meter", "csv", "file"), ("meter", "jsonl", "arguments"), ("inverter", "parquet", "file")],
)
@pytest.mark.slow
def test_ctrl_c_prints_the_command_that_resumes_and_it_completes_the_file(
    slow_server: FakeLacecalServer, tmp_path: Path, endpoint: str, ext: str, named: str
) -> None:
    listing = tmp_path / "plants.txt"
    listing.write_text(f"a={SLOW[0].itr}\n{SLOW[1].itr}\nc={SLOW[2].itr}\n", encoding="utf-8")
    plants = ["--itr-file", str(listing)]
    if named == "arguments":
        plants = [f"a={SLOW[0].itr}", SLOW[1].itr, f"c={SLOW[2].itr}"]
    out = tmp_path / f"x.{ext}"
    args = [
        "fetch", endpoint, *plants, "--start", str(SLOW_START), "--end", str(SLOW_END),
        "--base-url", slow_server.base_url, "--rate", "1/0.4", "-o", str(out),
    ]  # fmt: skip
    err = _interrupt(args)
    assert_no_secret(err, secrets(SLOW))
    assert "lacecal: interrupted; " in err
    found = re.search(r"^lacecal: to continue: (lacecal .*)$", err, re.MULTILINE)
    assert found is not None, err
    command = shlex.split(found.group(1))
    assert command[-1] == "--resume"
    if named == "arguments":
        assert "lacecal: (put each plant's identifier where ...WXYZ stands)" in err
        shown = [f"a=...{SLOW[0].itr[-4:]}", f"...{SLOW[1].itr[-4:]}", f"c=...{SLOW[2].itr[-4:]}"]
        assert command[4:7] == shown
        command[4:7] = plants
    else:
        assert command[4:6] == ["--itr-file", str(listing)]
    resumed = run(*command[1:])
    assert resumed.returncode == 0, resumed.stderr
    assert "lacecal: resuming " in resumed.stderr
    assert_no_secret(resumed.stderr, secrets(SLOW))
    labels = {"a": SLOW[0], SLOW[1].itr: SLOW[1], "c": SLOW[2]}
    if endpoint == "inverter":
        _complete(tmp_path / "x.periods.parquet", ext, "periods", labels)
    _complete(out, ext, endpoint, labels)
    again = run(*command[1:])  # nothing left: no request, nothing added
    assert again.returncode == 0, again.stderr
    assert "0 plants continue after their last period, 3 are complete" in again.stderr
    _complete(out, ext, endpoint, labels)


@pytest.mark.slow
def test_resume_cuts_an_unfinished_last_line_and_refuses_other_files(
    full_server: FakeLacecalServer, tmp_path: Path
) -> None:
    out = tmp_path / "m.csv"
    half = str(DST_START + 43200)
    ok(*fetch_args(full_server, "meter", "-o", str(out), "--end", half))
    with out.open("a", encoding="utf-8") as stream:
        stream.write("p0,17299")  # a hard kill mid-line
    done = ok(*fetch_args(full_server, "meter", "-o", str(out), "--resume"))
    assert "2 plants continue after their last period, 0 are complete" in done.stderr
    rows = read_csv(out)[1]
    for i, plant in enumerate(FULL):
        assert by_plant(rows)[f"p{i}"] == expected_rows("meter", f"p{i}", plant, DST_START, DST_END)
    other = run(*fetch_args(full_server, "inverter", "-o", str(out), "--resume"))
    assert other.returncode == 2
    assert other.stderr == (
        f"lacecal: error: cannot resume {out}: it does not hold `lacecal fetch --endpoint "
        "inverter` output in this version's columns (--force overwrites it)\n"
    )
    stdout = run(*fetch_args(full_server, "meter", "-o", "-", "--resume"))
    assert stdout.returncode == 2
    assert "--resume continues an output file" in stdout.stderr


# -- 4. inverter lists that join ---------------------------------------------------------


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_inverters_into_a_file_join_to_the_inverter_data(
    full_server: FakeLacecalServer, tmp_path: Path, ext: str
) -> None:
    out = tmp_path / f"inv.{ext}"
    plants = [f"p0={FULL[0].itr}", FULL[1].itr]
    done = ok("inverters", *plants, "--base-url", full_server.base_url, "-o", str(out))
    assert done.stdout == ""
    assert_no_secret(done.stderr, secrets(FULL))
    if ext == "csv":
        with out.open(encoding="utf-8", newline="") as stream:
            rows = [
                row
                | {
                    "inverter_id": int(row["inverter_id"]),
                    "serial_number": row["serial_number"] or None,
                }
                for row in csv.DictReader(stream)
            ]
    elif ext == "jsonl":
        rows = read_jsonl(out.read_text(encoding="utf-8"))
    else:
        rows = pq.read_table(out).to_pylist()
        assert str(pq.read_schema(out).field("inverter_id").type) == "int64"
    want = [
        {
            "plant": label,
            "inverter_id": i.id,
            "name": i.name,
            "manufacturer": i.manufacturer,
            "model": i.model,
            "serial_number": i.serial_number,
        }
        for label, plant in (("p0", FULL[0]), (FULL[1].itr, FULL[1]))
        for i in plant.inverters
    ]
    assert rows == want
    args = fetch_args(full_server, "inverter", "-o", str(tmp_path / "data.csv"))
    args[2:4] = plants
    ok(*args)
    listed = {(row["plant"], row["inverter_id"]) for row in rows}
    joined = {(row["plant"], row["inverter_id"]) for row in read_csv(tmp_path / "data.csv")[1]}
    assert joined == listed


def test_inverters_to_stdout_in_a_named_format(full_server: FakeLacecalServer) -> None:
    done = ok("inverters", FULL[0].itr, "--base-url", full_server.base_url, "-o", "-")
    lines = read_jsonl(done.stdout)
    assert [line["inverter_id"] for line in lines] == [i.id for i in FULL[0].inverters]
    assert {line["plant"] for line in lines} == {FULL[0].itr}  # the data: full identifier
    done = ok(
        "inverters", FULL[0].itr, "--base-url", full_server.base_url, "-o", "-", "--format", "csv"
    )
    assert done.stdout.splitlines()[0] == (
        "plant,inverter_id,name,manufacturer,model,serial_number"
    )


# -- 5. months, years, stdout and /dev/null ----------------------------------------------


def test_months_and_years_are_local_midnights() -> None:
    assert parse_when("2024-10") == int(datetime(2024, 9, 30, 22, tzinfo=UTC).timestamp())
    assert parse_when("2024") == int(datetime(2023, 12, 31, 23, tzinfo=UTC).timestamp())
    assert parse_when("2024-11") == parse_when("2024-11-01")


def test_a_month_on_the_command_line(full_server: FakeLacecalServer, tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    args = fetch_args(full_server, "meter", "-o", str(out))
    args[args.index("--start") + 1] = "2024-10"
    args[args.index("--end") + 1] = "2024-11"
    ok(*args)
    rows = read_csv(out)[1]
    assert rows[0]["start"] == "2024-10-25T14:00:00+02:00"  # the plants' first period
    for i, plant in enumerate(FULL):
        got = by_plant(rows)[f"p{i}"]
        assert got == expected_rows("meter", f"p{i}", plant, plant.first, parse_when("2024-11"))


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_stdout_in_the_format_named(full_server: FakeLacecalServer, fmt: str) -> None:
    done = processes.run(
        lacecal(*fetch_args(full_server, "meter", "-o", "-", "--format", fmt)), text=False
    )
    assert done.returncode == 0, done.stderr
    if fmt == "parquet":
        table = pq.read_table(io.BytesIO(done.stdout))
    elif fmt == "csv":
        table = pa_csv.read_csv(io.BytesIO(done.stdout))
    else:
        table = pa_json.read_json(io.BytesIO(done.stdout))
    want = sum(len(p.meter_records(DST_START, DST_END)) for p in FULL)
    assert table.num_rows == want


@pytest.mark.slow
def test_dev_null_and_a_mismatched_format(full_server: FakeLacecalServer) -> None:
    for endpoint in ("meter", "inverter"):
        done = ok(*fetch_args(full_server, endpoint, "-o", "/dev/null"))
        assert done.stdout == ""
        ok(*fetch_args(full_server, endpoint, "-o", "/dev/null", "--format", "parquet"))
    note = ok(*fetch_args(full_server, "inverter", "-o", "-", "--format", "csv"))
    assert "the periods' totals (total_energy_kwh) go beside an output file only" in note.stderr
    wrong = run(*fetch_args(full_server, "meter", "-o", "x.csv", "--format", "parquet"))
    assert wrong.returncode == 2
    assert wrong.stderr == "lacecal: error: x.csv: extension '.csv' but --format parquet\n"
