"""The `lacecal` command in-process (`main([...])`): formats, identifiers, exits, progress."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lacecal_async.cli import main
from lacecal_async.cli.itrs import ENV_VAR
from lacecal_async.cli.options import UsageError
from lacecal_async.cli.when import parse_when
from lacecal_async.cli.writers import ParquetWriter, open_export
from lacecal_async.endpoints import Endpoint
from lacecal_async.tables import INVERTERS, METER
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.cli import (
    BROKEN,
    END,
    FAST,
    PLANTS,
    START,
    UNKNOWN,
    assert_no_secret,
    by_plant,
    expected_rows,
    read_csv,
    read_jsonl,
    read_parquet,
    record_from_json,
    secrets,
    threaded_server,
    truth,
)
from tests.support.interrupting import Watched, main_until

pq = pytest.importorskip("pyarrow.parquet")

ALL_SECRETS = [*secrets(PLANTS), BROKEN.itr, UNKNOWN]
ALIASES = {PLANTS[0].itr: "north", PLANTS[2].itr: "south roof"}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLacecalServer]:
    with threaded_server([*PLANTS, BROKEN]) as fake:
        yield fake


def itr_args() -> list[str]:
    """Every plant; two with aliases."""
    return [f"{ALIASES[p.itr]}={p.itr}" if p.itr in ALIASES else p.itr for p in PLANTS]


def label(itr: str) -> str:
    return ALIASES.get(itr, itr)


def fetch(server: FakeLacecalServer, *extra: str, endpoint: str = "meter") -> list[str]:
    return [
        "fetch", "--endpoint", endpoint, *itr_args(), "--start", str(START), "--end", str(END),
        "--base-url", server.base_url, "--rate", FAST, "--progress", "plain", "--timeout", "10",
        *extra,
    ]  # fmt: skip


# -- formats, record by record ----------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["meter", "inverter"])
def test_csv_holds_every_record_with_flat_unit_columns(
    server: FakeLacecalServer,
    tmp_path: Path,
    endpoint: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / f"{endpoint}.csv"
    assert main(fetch(server, "-o", str(out), endpoint=endpoint)) == 0
    header, rows = read_csv(out)
    assert header[0] == "plant"
    grouped = by_plant(rows)
    assert set(grouped) == {label(p.itr) for p in PLANTS}
    for plant in PLANTS:
        want = expected_rows(endpoint, label(plant.itr), plant, START, END)
        assert list(want[0]) == header
        assert grouped[label(plant.itr)] == want
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_no_secret(captured.err, ALL_SECRETS)
    assert "north done" in captured.err


def test_csv_columns_are_named_with_units(server: FakeLacecalServer, tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    assert main(fetch(server, "-o", str(out), "-q")) == 0
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:5] == ["plant", "unix_time", "start", "utc_offset_s", "interval_s"]
    assert {"grid_imported_kwh", "grid_q4_kvarh", "load_r_kwh", "renewable_t_kwh"} <= set(header)
    assert all(h.endswith(("_kwh", "_kvarh")) for h in header[5:])


def test_a_plant_without_a_load_meter_has_empty_cells(
    server: FakeLacecalServer, tmp_path: Path
) -> None:
    plant = next(p for p in PLANTS if not p.load)
    out = tmp_path / "m.csv"
    args = [
        "fetch",
        "--endpoint",
        "meter",
        plant.itr,
        "--start",
        str(START),
        "--end",
        str(START + 3600),
    ]
    assert main([*args, "--base-url", server.base_url, "--rate", FAST, "-o", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    load = METER.names.index("load_kwh")
    assert len(lines) == 1 + 3600 // plant.interval
    assert all(line.split(",")[load] == "" for line in lines[1:])
    assert lines[1].split(",")[0] == plant.itr  # no alias: the full identifier, in the data


@pytest.mark.parametrize(("endpoint", "wire"), [("meter", "json"), ("inverter", "xml")])
def test_json_lines_on_stdout_by_default(
    server: FakeLacecalServer, endpoint: str, wire: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(fetch(server, "--wire-format", wire, endpoint=endpoint)) == 0
    captured = capsys.readouterr()
    grouped = by_plant(read_jsonl(captured.out))
    for plant in PLANTS:
        lines = grouped[label(plant.itr)]
        want = truth(endpoint, plant, START, END)
        assert [record_from_json(endpoint, line) for line in lines] == list(want)
        assert [line["start"] for line in lines] == [r.start.isoformat() for r in want]
    assert_no_secret(captured.err, ALL_SECRETS)


def test_json_lines_file_keeps_non_ascii_names(server: FakeLacecalServer, tmp_path: Path) -> None:
    out = tmp_path / "m.ndjson"
    args = [
        "fetch",
        "--endpoint",
        "meter",
        f"Año Ñ={PLANTS[1].itr}",
        "--start",
        str(START),
        "--end",
    ]
    assert main([*args, str(START + 3600), "--base-url", server.base_url, "-o", str(out)]) == 0
    lines = read_jsonl(out.read_text(encoding="utf-8"))
    assert {line["plant"] for line in lines} == {"Año Ñ"}
    assert '"Año Ñ"' in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("endpoint", ["meter", "inverter"])
def test_parquet_has_typed_flat_columns(
    server: FakeLacecalServer, tmp_path: Path, endpoint: str
) -> None:
    out = tmp_path / f"{endpoint}.parquet"
    assert main(fetch(server, "-o", str(out), endpoint=endpoint)) == 0
    table = pq.read_table(out)
    assert table.column_names[0] == "plant"
    assert str(table.schema.field("unix_time").type) == "int64"
    assert str(table.schema.field("start").type) == "timestamp[ms, tz=UTC]"
    assert (
        str(table.schema.field(table.column_names[5]).type) == "int64"
        if endpoint == ("inverter")
        else "double"
    )
    grouped = by_plant(read_parquet(out))
    for plant in PLANTS:
        assert grouped[label(plant.itr)] == expected_rows(
            endpoint, label(plant.itr), plant, START, END
        )


def test_parquet_row_groups_and_an_empty_file(tmp_path: Path) -> None:
    writer = ParquetWriter(tmp_path / "x.parquet", "x", METER, row_group_rows=100)
    records = PLANTS[0].meter_records(START, START + 250 * 600)
    writer.write("p", records[:150])
    writer.write("p", records[150:])
    writer.close()
    writer.close()  # twice is fine
    file = pq.ParquetFile(tmp_path / "x.parquet")
    assert file.metadata.num_rows == 250
    assert file.metadata.num_row_groups == 2  # 150 rows, then the 100 kept for close
    empty = ParquetWriter(tmp_path / "e.parquet", "e", INVERTERS)
    empty.close()
    assert pq.read_table(tmp_path / "e.parquet").num_rows == 0


def test_parquet_without_pyarrow_is_a_one_line_hint(
    server: FakeLacecalServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    assert main(fetch(server, "-o", str(tmp_path / "x.parquet"))) == 2
    err = capsys.readouterr().err
    assert (
        err
        == "lacecal: error: writing Parquet needs pyarrow: pip install 'lacecal_async[parquet]'\n"
    )
    assert not (tmp_path / "x.parquet").exists()


def test_an_inverter_record_without_inverters_is_a_period_without_rows(tmp_path: Path) -> None:
    record = PLANTS[0].inverter_record(START)
    empty = type(record)(record.unix_time, record.start, record.interval, 0.0, ())
    writer = open_export(str(tmp_path / "i.csv"), "csv", Endpoint.INVERTER, sys.stdout)
    writer.write("p", [empty, record])
    writer.close()
    _, rows = read_csv(tmp_path / "i.csv")
    _, periods = read_csv(tmp_path / "i.periods.csv")
    assert len(rows) == len(record.inverters)
    assert [(p["total_energy_kwh"], p["inverter_count"]) for p in periods] == [
        (0.0, 0),
        (record.total_energy, len(record.inverters)),
    ]


# -- identifiers --------------------------------------------------------------------------


def test_itr_file_with_aliases_comments_and_blank_lines(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = tmp_path / "plants.txt"
    listing.write_text(
        f"# my plants\n\n  roof = {PLANTS[0].itr}  # the big one\n{PLANTS[1].itr}\n",
        encoding="utf-8",
    )
    args = ["fetch", "--endpoint", "meter", "--itr-file", str(listing), "--start", str(START)]
    args += ["--end", str(START + 7200), "--base-url", server.base_url, "--rate", FAST]
    assert main([*args, "-o", str(tmp_path / "m.csv"), "--progress", "plain"]) == 0
    _, rows = read_csv(tmp_path / "m.csv")
    assert set(by_plant(rows)) == {"roof", PLANTS[1].itr}
    err = capsys.readouterr().err
    assert "roof done" in err
    assert f"...{PLANTS[1].itr[-4:]} done" in err
    assert_no_secret(err, ALL_SECRETS)


def test_itr_file_from_stdin_adds_to_arguments(
    server: FakeLacecalServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"b={PLANTS[1].itr}\n"))
    monkeypatch.setenv(ENV_VAR, f"ignored={PLANTS[2].itr}")  # arguments win over the variable
    args = [
        "fetch",
        "--endpoint",
        "meter",
        f"a={PLANTS[0].itr}",
        "--itr-file",
        "-",
        "--start",
        str(START),
    ]
    args += ["--end", str(START + 3600), "--base-url", server.base_url, "-q"]
    assert main([*args, "-o", str(tmp_path / "m.csv")]) == 0
    _, rows = read_csv(tmp_path / "m.csv")
    assert list(by_plant(rows)) == ["a", "b"] or set(by_plant(rows)) == {"a", "b"}


def test_identifiers_from_the_environment(
    server: FakeLacecalServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_VAR, f" x={PLANTS[0].itr}, ,{PLANTS[3].itr},x={PLANTS[0].itr}")
    args = ["fetch", "--endpoint", "meter", "--start", str(START), "--end", str(START + 3600)]
    assert main([*args, "--base-url", server.base_url, "-q", "-o", str(tmp_path / "m.csv")]) == 0
    _, rows = read_csv(tmp_path / "m.csv")
    assert set(by_plant(rows)) == {"x", PLANTS[3].itr}


# -- exit statuses ------------------------------------------------------------------------


def test_failed_plants_exit_1_and_are_listed_redacted(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = fetch(server, "-o", str(tmp_path / "m.csv"), "--retries", "0")
    args[3:3] = [f"bad={BROKEN.itr}", UNKNOWN]
    assert main(args) == 1
    err = capsys.readouterr().err
    failures = [
        line for line in err.splitlines() if line.startswith("lacecal: ") and " failed: " in line
    ]
    assert len(failures) == 2
    (resume,) = [line for line in err.splitlines() if line.startswith("lacecal: to continue: ")]
    assert f" bad=...{BROKEN.itr[-4:]} " in resume
    assert resume.endswith(" --retries 0 --resume")
    assert failures[0].startswith("lacecal: bad failed: meter.php for ITR ...")
    assert "HTTP 503" in failures[0]
    assert failures[1].startswith(f"lacecal: ...{UNKNOWN[-4:]} failed: ")
    assert "HTTP 404" in failures[1]
    assert "bad FAILED after 0 pages" in err
    assert_no_secret(err, ALL_SECRETS)
    _, rows = read_csv(tmp_path / "m.csv")
    assert len(by_plant(rows)) == len(PLANTS)  # the others are all there


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "yesterday"], "invalid time 'yesterday'"),
        (["--start", "2024-10-02", "--end", "2024-10-01"], "--end is before --start"),
        (["--start", "2024-10-02", "-o", "out.xlsx"], "extension '.xlsx'"),
        (["--start", "2024-10-02", "-o", "out"], "no extension"),
        (["--start", "2024-10-02", "-o", "/nonexistent/dir/out.csv"], "cannot write"),
        (["--start", "2024-10-02", "--itr-file", "/nonexistent.txt"], "cannot read ITR file"),
        (["--start", "2024-10-02", "short=abc"], "argument 2: invalid ITR identifier"),
        (["--start", "2024-10-02", "=AAAAAAAAAAAAAAAA"], "empty alias"),
        (["--start", "0", f"a={PLANTS[1].itr}", f"a={PLANTS[0].itr}"], "alias 'a' names two"),
        (["--start", "0", f"a={PLANTS[1].itr}", f"b={PLANTS[1].itr}"], "twice, as a and b"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fetch", "--endpoint", "meter", UNKNOWN, *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("lacecal: error: ")
    assert message in err
    assert_no_secret(err, ALL_SECRETS)


def test_an_invalid_identifier_is_redacted_in_its_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong = "Secret0000000000XYZW"  # 20 characters: not an identifier, still private
    assert main(["fetch", "--endpoint", "meter", wrong, "--start", "0"]) == 2
    err = capsys.readouterr().err
    assert "...XYZW" in err
    assert wrong not in err


def test_no_plant_at_all(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fetch", "--endpoint", "meter", "--start", "0"]) == 2
    assert "no plant given" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["fetch"],
        ["fetch", "--endpoint", "meter", UNKNOWN],  # --start is required
        ["fetch", "--endpoint", "meters", UNKNOWN, "--start", "0"],
        ["fetch", "--endpoint", "meter", UNKNOWN, "--start", "0", "--rate", "6"],
        ["fetch", "--endpoint", "meter", UNKNOWN, "--start", "0", "--rate", "0/60"],
        ["fetch", "--endpoint", "meter", UNKNOWN, "--start", "0", "--timeout=-1"],
        ["fetch", "--endpoint", "meter", UNKNOWN, "--start", "0", "--timeout", "soon"],
        ["fetch", "--endpoint", "meter", UNKNOWN, "--start", "0", "--retries", "x"],
        ["bogus"],
    ],
)
def test_argparse_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "usage: lacecal" in err
    assert "Traceback" not in err


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("lacecal ")
    assert main(["fetch", "--help"]) == 0
    text = capsys.readouterr().out
    assert "Europe/Madrid" in text
    assert "130 interrupted" in text


# -- interruption -------------------------------------------------------------------------


def test_ctrl_c_in_process_leaves_a_prefix_and_exits_130(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plants = make_plants(2, seed=15, days=10)
    out = tmp_path / "m.csv"

    def data_written() -> bool:  # then Ctrl-C, long before the last of its 20 pages
        return out.exists() and len(out.read_text(encoding="utf-8").splitlines()) > 1

    with threaded_server(plants) as fake:
        args = ["fetch", "--endpoint", "meter", *secrets(plants), "--start", str(plants[0].first)]
        args += ["--end", str(plants[0].first + 10 * 86400), "--rate", "1/0.5"]
        status = main_until(
            [*args, "--base-url", fake.base_url, "-o", str(out), "-q"], data_written
        )
    assert status == 130
    err = capsys.readouterr().err
    assert "lacecal: interrupted; " in err
    _, rows = read_csv(out)
    grouped = by_plant(rows)
    total = 0
    for plant in plants:
        got = grouped.get(plant.itr, [])
        full = expected_rows("meter", plant.itr, plant, plant.first, plant.first + 10 * 86400)
        assert got == full[: len(got)]
        total += len(got)
    assert 0 < total < sum(len(p.meter_records(p.first, p.first + 10 * 86400)) for p in plants)
    assert f"{total:,} periods written: {total:,} rows to {out}" in err


# -- progress -----------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_progress_on_a_terminal(
    server: FakeLacecalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("LINES", "5")  # room for 2 plants: the others are summed up
    monkeypatch.setenv("COLUMNS", "120")
    args = fetch(server, "-o", str(tmp_path / "m.csv"), "-v", "--retries", "0")
    args[args.index("--progress") + 1] = "auto"
    args[3:3] = [f"bad={BROKEN.itr}"]
    assert main(args) == 1
    text = terminal.getvalue()
    assert "\x1b[" in text  # redrawn in place
    assert "... and " in text
    assert "meter: 5/6 plants done, 1 failed" in text
    assert "debug: GET meter.php itr=..." in text  # -v: the library's log, above the display
    assert "lacecal: bad failed: " in text
    assert_no_secret(text, ALL_SECRETS)


def test_plain_progress_prints_summaries_periodically(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plants = make_plants(1, seed=15, days=2)
    with threaded_server(plants) as fake:
        args = [
            "fetch",
            "--endpoint",
            "meter",
            plants[0].itr,
            "--start",
            str(plants[0].first),
            "--end",
        ]
        args += [str(plants[0].first + 2 * 86400), "--rate", "1/0.3", "--progress-every", "0.1"]
        assert main([*args, "--base-url", fake.base_url, "-o", str(tmp_path / "m.csv")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert any("0/1 plants done" in line and "ETA" in line for line in err)
    assert err[-1].startswith("meter: 1/1 plants done, 2/2 pages, 288 periods in ")


def test_broken_pipe_on_stdout_exits_quietly(
    server: FakeLacecalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(fetch(server, "-q")) == 1


def test_a_write_failure_mid_fetch_is_one_line(
    server: FakeLacecalServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    class FullDisk:
        def write(self, plant: str, records: Any) -> None:
            raise OSError(28, "No space left on device")

        def close(self) -> None:
            pass

        def counts(self) -> list[tuple[str, int]]:
            return []

    monkeypatch.setattr("lacecal_async.cli.fetch.open_export", lambda *a, **k: FullDisk())
    assert main(fetch(server, "-q", "-o", str(tmp_path / "m.csv"))) == 1
    err = capsys.readouterr().err
    assert err == f"lacecal: error: cannot write {tmp_path / 'm.csv'}: No space left on device\n"


# -- inverters ------------------------------------------------------------------------------


def test_inverters_table(server: FakeLacecalServer, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["inverters", *itr_args(), f"bad={BROKEN.itr}", "--base-url", server.base_url]
    assert main([*args, "--rate", FAST, "--retries", "0"]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split() == ["plant", "id", "name", "manufacturer", "model", "serial", "number"]
    for plant in PLANTS:
        name = ALIASES.get(plant.itr, f"...{plant.itr[-4:]}")
        mine = [line for line in lines if line.startswith(name + "  ")]
        assert len(mine) == len(plant.inverters)
        for line, inverter in zip(mine, plant.inverters, strict=True):
            assert f"  {inverter.id}  " in line
            assert inverter.name in line
            assert (inverter.serial_number or "  -") in line
    assert captured.err.startswith("lacecal: bad failed: inverter_list.php for ITR ...")
    assert_no_secret(captured.out + captured.err, ALL_SECRETS)


def test_inverters_all_fine_exits_0(
    server: FakeLacecalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inverters", PLANTS[0].itr, "--base-url", server.base_url]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + len(PLANTS[0].inverters)


# -- demo and serve -------------------------------------------------------------------------


def test_demo_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--plants", "4", "--days", "1", "--rate", "6/0.1", "--out", str(out)]
    assert main([*args, "--progress", "plain"]) == 0
    captured = capsys.readouterr()
    table = captured.out.splitlines()
    header = next(i for i, line in enumerate(table) if line.startswith("plant"))
    assert table[header] == "plant    produced kWh  imported kWh  exported kWh  consumed kWh"
    names = [line.split()[0] for line in table[header + 1 : header + 6]]
    assert names == ["almeria", "avila", "badajoz", "bilbao", "total"]
    assert table[header + 4].endswith("*")  # bilbao has no load meter
    assert "Checked: all " in captured.out
    _, meter = read_csv(out / "meter.csv")
    _, inverter = read_csv(out / "inverter.csv")
    assert set(by_plant(meter)) == set(names[:4])
    assert len({(r["plant"], r["unix_time"]) for r in inverter}) == len(meter)


def test_serve_in_process_until_ctrl_c(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = Watched()
    monkeypatch.setattr(sys, "stdout", out)
    # Ctrl-C once it serves: its URL and the plants' table are out.
    assert (
        main_until(["serve", "--plants", "2", "--rate", "none"], lambda: len(out.lines()) >= 4) == 0
    )
    assert out.text().startswith("http://127.0.0.1:")
    assert "Ctrl-C stops" in capsys.readouterr().err


def test_when_formats() -> None:
    def utc(*fields: int) -> int:
        return int(datetime(*fields).replace(tzinfo=UTC).timestamp())  # type: ignore[arg-type]

    assert parse_when("2024-10-02") == utc(2024, 10, 1, 22)  # CEST midnight
    assert parse_when("2024-12-02") == utc(2024, 12, 1, 23)  # CET midnight
    assert parse_when("2024-10-02T08:30") == utc(2024, 10, 2, 6, 30)
    assert parse_when("2024-10-02 08:30:00+00:00") == utc(2024, 10, 2, 8, 30)
    assert parse_when("2024-10-02T08:30Z") == utc(2024, 10, 2, 8, 30)
    assert parse_when("2024-10-27T02:30") == utc(2024, 10, 27, 0, 30)  # repeated: the first
    assert parse_when("2024-10-02T08:30:00.2+00:00") == utc(2024, 10, 2, 8, 30) + 1
    assert parse_when("1727827200") == 1727827200
    assert parse_when(" now ", now=lambda: 1234.9) == 1234
    for bad in ("-5", "2024-13-01", "", "١٢٣"):
        with pytest.raises(UsageError, match="invalid time"):
            parse_when(bad)
