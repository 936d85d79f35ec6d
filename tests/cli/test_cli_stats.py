"""``lacecal stats`` on a store ``lacecal sync`` filled from the fake server, in every format.

The reference is read from the database with sqlite3 and summed here (each value as the
decimal the service wrote, grouped by the local month its own offset gives): every format
must give, for each plant, monthly totals equal to the sum of its stored periods.
"""

from __future__ import annotations

import asyncio
import csv
import json
import sqlite3
import stat
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lacecal_async.cli import main
from lacecal_async.cli import stats as stats_command
from lacecal_async.cli.interrupt import Interrupted
from lacecal_async.stats import METER_QUANTITIES
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.cli import FAST, assert_no_secret, threaded_server

pq = pytest.importorskip("pyarrow.parquet")

MADRID = ZoneInfo("Europe/Madrid")
SINCE = int(datetime(2024, 10, 20, tzinfo=MADRID).timestamp())
#: 600, 900 and 300 s periods; gaps; a single-phase plant; across the October DST change.
PLANTS = make_plants(4, seed=15, start=SINCE, days=16)[1:]
ALIASES = ("roof", "Cádiz 2", "barn")
SECRETS = [p.itr for p in PLANTS]
Totals = dict[tuple[str, str], dict[str, float]]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLacecalServer]:
    with threaded_server(PLANTS) as fake:
        yield fake


@pytest.fixture(scope="module")
def db(server: FakeLacecalServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stats") / "plants.db"
    plants = [f"{alias}={p.itr}" for alias, p in zip(ALIASES, PLANTS, strict=True)]
    args = ["sync", str(path), *plants, "--start", str(SINCE), "--base-url", server.base_url]
    assert main([*args, "--rate", FAST, "--endpoint", "all", "-q"]) == 0
    return path


def month_of(unix_time: int, offset: int) -> str:
    return datetime.fromtimestamp(unix_time + offset, UTC).strftime("%Y-%m")


def stored_months(db: Path, table: str, columns: list[str]) -> tuple[Totals, dict[Any, int]]:
    """Each plant's and month's exact sum of every column, from the database itself."""
    connection = sqlite3.connect(db)
    try:
        rows = connection.execute(
            f"SELECT plant, unix_time, utc_offset_s, {', '.join(columns)} FROM {table}"  # noqa: S608
        ).fetchall()
    finally:
        connection.close()
    sums: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    periods: dict[Any, int] = defaultdict(int)
    for plant, unix_time, offset, *values in rows:
        key = (plant, month_of(unix_time, offset))
        periods[key] += 1
        for name, value in zip(columns, values, strict=True):
            if value is not None:
                sums[key][name] += Decimal(repr(value))
    return {k: {n: float(v) for n, v in q.items()} for k, q in sums.items()}, periods


def stats(db: Path, *args: str) -> int:
    return main(["stats", str(db), "--start", str(SINCE), *args])


def test_monthly_totals_are_the_sums_of_the_stored_periods_in_every_flat_format(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    want, periods = stored_months(db, "meter", list(METER_QUANTITIES))
    assert {month for _, month in want} == {"2024-10", "2024-11"}
    got: dict[str, Totals] = {}
    for ext in ("csv", "jsonl", "parquet"):
        out = tmp_path / f"months.{ext}"
        assert stats(db, "--by", "month", "-o", str(out)) == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        if ext == "csv":
            with out.open(encoding="utf-8", newline="") as file:
                rows = list(csv.DictReader(file))
            got[ext] = {
                (r["plant"], r["start"][:7]): {q: float(r[q]) for q in METER_QUANTITIES if r[q]}
                for r in rows
            }
            counted = {(r["plant"], r["start"][:7]): int(r["periods"]) for r in rows}
        elif ext == "jsonl":
            objects = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
            got[ext] = {(o["plant"], o["start"][:7]): o["energy"] for o in objects}
        else:
            table = pq.read_table(out)
            assert str(table.schema.field("start").type) == "timestamp[ms, tz=UTC]"
            assert str(table.schema.field("complete").type) == "bool"
            assert str(table.schema.field("periods").type) == "int64"
            assert str(table.schema.field("grid_q1_kvarh").type) == "double"
            got[ext] = {
                (r["plant"], datetime.fromtimestamp(r["unix_time"] + r["utc_offset_s"], UTC)
                 .strftime("%Y-%m")): {q: r[q] for q in METER_QUANTITIES if r[q] is not None}
                for r in table.to_pylist()
            }  # fmt: skip
    for ext, totals in got.items():
        assert totals == want, ext
    assert counted == periods
    err = capsys.readouterr().err
    assert "lacecal: 6 month rows of 3 plants (" in err
    assert_no_secret(err, SECRETS)


def test_inverter_months_total_and_per_inverter(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "inverters.csv"
    assert stats(db, "--by", "month", "--endpoint", "inverter", "-o", str(out)) == 0
    totals, _ = stored_months(db, "inverter_periods", ["total_energy_kwh"])
    with out.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert {(r["plant"], r["start"][:7]): float(r["total_energy_kwh"]) for r in rows} == {
        key: value["total_energy_kwh"] for key, value in totals.items()
    }
    companion = tmp_path / "inverters.inverters.csv"
    assert stat.S_IMODE(companion.stat().st_mode) == 0o600
    connection = sqlite3.connect(db)
    try:
        stored = connection.execute(
            "SELECT plant, unix_time, utc_offset_s, inverter_id, inverter_energy_kwh FROM inverter"
        ).fetchall()
    finally:
        connection.close()
    want: dict[tuple[str, str, int], Decimal] = defaultdict(Decimal)
    for plant, unix_time, offset, inverter, energy in stored:
        want[(plant, month_of(unix_time, offset), inverter)] += Decimal(repr(energy))
    with companion.open(encoding="utf-8", newline="") as file:
        each = list(csv.DictReader(file))
    assert {
        (r["plant"], r["start"][:7], int(r["inverter_id"])): float(r["energy_kwh"]) for r in each
    } == {key: float(value) for key, value in want.items()}


def test_home_assistant_hours_add_up_to_the_stored_months(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "ha.json"
    assert stats(db, "--by", "hour", "--format", "ha-json", "-o", str(out)) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    statistics = json.loads(out.read_text(encoding="utf-8"))
    want, _ = stored_months(db, "meter", list(METER_QUANTITIES))
    ids = {s["metadata"]["statistic_id"] for s in statistics}
    assert {"mean_type", "unit_class"} <= set(statistics[0]["metadata"])
    assert "lacecal:cadiz_2_grid_imported" in ids
    assert "lacecal:roof_grid_q1" in ids
    for statistic in statistics:
        metadata = statistic["metadata"]
        plant = metadata["name"].split(" grid")[0].split(" load")[0].split(" renewable")[0]
        quantity = (
            metadata["statistic_id"]
            .split(":")[1]
            .removeprefix(plant.lower().replace(" ", "_").replace("á", "a") + "_")
        )
        column = next(q for q in METER_QUANTITIES if q.rsplit("_", 1)[0] == quantity)
        months: dict[str, Decimal] = defaultdict(Decimal)
        previous = None
        for row in statistic["stats"]:
            start = datetime.fromisoformat(row["start"])
            months[start.strftime("%Y-%m")] += Decimal(repr(row["state"]))
            expected = Decimal(repr(row["state"])) + (previous or 0)
            assert Decimal(repr(row["sum"])) == expected  # the sum adds the hour, exactly
            previous = Decimal(repr(row["sum"]))
        for month, value in months.items():
            assert float(value) == want[(plant, month)][column], (metadata["statistic_id"], month)
    assert_no_secret(out.read_text(encoding="utf-8"), SECRETS)


def test_continuing_a_previous_export_gives_the_rows_of_one_export(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, whole = tmp_path / "1.json", tmp_path / "2.json", tmp_path / "all.json"
    middle = str(SINCE + 6 * 86400 + 7200)
    assert stats(db, "--by", "hour", "--end", middle, "-o", str(first)) == 0
    resumes = [s["resume"]["start"] for s in json.loads(first.read_text()) if s["resume"]]
    since = min(resumes, key=datetime.fromisoformat)
    args = ["stats", str(db), "--by", "hour", "--start", since, "-o", str(second)]
    assert main([*args, "--continue-from", str(first)]) == 0
    assert stats(db, "--by", "hour", "-o", str(whole)) == 0
    full = {s["metadata"]["statistic_id"]: s for s in json.loads(whole.read_text())}
    for statistic in json.loads(second.read_text()):
        sid = statistic["metadata"]["statistic_id"]
        later = [
            r for r in full[sid]["stats"] if r["start"] in {x["start"] for x in statistic["stats"]}
        ]
        assert statistic["stats"] == later, sid
        assert statistic["resume"] == full[sid]["resume"]
    late = ["stats", str(db), "--by", "hour", "--start", middle, "-o", str(tmp_path / "3.json")]
    assert main([*late, "--continue-from", str(first)]) == 2
    assert "give --start at or before it, so its sum continues" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('[{"metadata": {}}]')
    assert main([*late, "--continue-from", str(tmp_path / "bad.json")]) == 2
    assert "not an ha-json output of lacecal stats" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("[")
    assert main([*late, "--continue-from", str(tmp_path / "bad.json")]) == 2
    assert "not JSON" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "day", "--format", "ha-json"], "use --by hour"),
        (
            ["--by", "hour", "--format", "ha-json", "--tz", "Asia/Kolkata"],
            "Asia/Kolkata is UTC+05:30",
        ),
        (  # whole hours half the year: the range to now has its +10:30 too
            ["--by", "hour", "--format", "ha-json", "--tz", "Australia/Lord_Howe"],
            "Australia/Lord_Howe is UTC+10:30",
        ),
        (
            ["--by", "hour", "--format", "ha-json", "--tz", "America/St_Johns"],
            "America/St_Johns is UTC-0",
        ),
        (["--by", "day", "--tz", "Mars/Olympus"], "no such time zone"),
        (["--by", "day", "--end", "2024-10-01"], "--end is not after --start"),
        (["--by", "day", "nowhere"], "the store holds no plant 'nowhere'"),
        (["--by", "hour", "--source", "My Solar", "-o", "{tmp}/x.json"], "--source: source must"),
        (["--by", "day", "--continue-from", "{tmp}/x.json"], "--continue-from continues"),
        (["--by", "day", "-o", "{tmp}/x.txt"], "name the format with --format"),
        (["--by", "day", "-o", "{tmp}/x.csv", "--format", "jsonl"], "extension '.csv' but"),
        (
            ["--by", "hour", "--continue-from", "{tmp}/none.json", "-o", "{tmp}/x.json"],
            "cannot read",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert stats(db, *(arg.format(tmp=tmp_path) for arg in args)) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_an_existing_output_is_kept_without_force(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "days.csv"
    out.write_text("mine\n")
    out.chmod(0o640)
    assert stats(db, "--by", "day", "-o", str(out)) == 2
    assert "exists: --force overwrites it" in capsys.readouterr().err
    assert out.read_text() == "mine\n"
    assert stats(db, "--by", "day", "-o", str(out), "--force", "-q") == 0
    assert out.read_text().startswith("plant,unix_time,start,")
    assert capsys.readouterr().err == ""
    ha = tmp_path / "ha.json"
    ha.write_text("[]")
    ha.chmod(0o640)
    old = ["--ha-version", "2024.6", "--source", "solar"]
    assert stats(db, "--by", "hour", "-o", str(ha), "--force", "-q", *old, "barn") == 0
    assert stat.S_IMODE(ha.stat().st_mode) == 0o640  # a replaced file keeps its mode
    metadata = json.loads(ha.read_text())[0]["metadata"]
    assert metadata["statistic_id"].startswith("solar:barn_")
    assert metadata["has_mean"] is False
    assert "mean_type" not in metadata


def test_stdout_is_json_lines_and_a_plant_can_be_chosen(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stats(db, "--by", "day", "--tz", "Europe/Madrid", "--end", "2024-10-28", "roof") == 0
    captured = capsys.readouterr()
    objects = [json.loads(line) for line in captured.out.splitlines()]
    assert [o["start"][:10] for o in objects] == [f"2024-10-{d}" for d in range(20, 28)]
    assert {o["plant"] for o in objects} == {"roof"}
    day = next(o for o in objects if o["start"].startswith("2024-10-27"))
    assert day["end"] == "2024-10-28T00:00:00+01:00"  # 25 hours
    assert "lacecal: 8 day rows of 1 plant" in captured.err


def test_a_database_without_a_store_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    assert stats(other, "--by", "day") == 2
    assert "lacecal: error: " in capsys.readouterr().err
    assert stats(tmp_path / "missing.db", "--by", "day") == 2
    assert "no such store" in capsys.readouterr().err


def test_an_interrupted_run_keeps_what_it_wrote_and_exits_128_plus_the_signal(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def ran_then_stopped(work: Callable[[], Coroutine[Any, Any, None]]) -> Interrupted:
        asyncio.run(work())
        return Interrupted(2)

    def never_ran(work: Callable[[], Awaitable[None]]) -> Interrupted:
        return Interrupted(15)

    out = tmp_path / "days.csv"
    monkeypatch.setattr(stats_command, "run_interruptible", ran_then_stopped)
    assert stats(db, "--by", "day", "-o", str(out)) == 130
    err = capsys.readouterr().err
    assert err.startswith("lacecal: interrupted; ")
    assert f"to {out}" in err
    assert out.read_text().count("\n") > 1
    monkeypatch.setattr(stats_command, "run_interruptible", never_ran)
    assert stats(db, "--by", "day", "-o", str(tmp_path / "none.csv")) == 143
    assert capsys.readouterr().err == "lacecal: interrupted; nothing written\n"


def test_failures_say_what_failed_and_exit_1(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database, not at all" * 100)
    assert stats(garbage, "--by", "day") == 2  # names no store: a usage error
    assert "is not an SQLite database" in capsys.readouterr().err
    down = "postgresql://stats:secret@127.0.0.1:1/nowhere"  # nothing listens on port 1
    assert main(["stats", down, "--by", "day", "--start", str(SINCE)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lacecal: error: cannot read postgresql://127.0.0.1:1/nowhere: ")
    assert "secret" not in err
    if Path("/dev/full").exists():  # a full disk under the output
        assert stats(db, "--by", "day", "-o", "/dev/full", "--format", "csv") == 2
        assert "cannot write /dev/full: No space left on device" in capsys.readouterr().err
        assert stats(db, "--by", "day", "-o", "/dev/full", "--format", "jsonl") == 1
        assert capsys.readouterr().err == "lacecal: error: No space left on device\n"
    # A continuation whose anchor is no bucket of the rows (20 past the hour): nothing is
    # left half-written; an existing output stays as it was.
    previous = tmp_path / "previous.json"
    previous.write_text(
        json.dumps(
            [
                {
                    "metadata": {"statistic_id": "lacecal:roof_load"},
                    "stats": [],
                    "resume": {"start": "2024-10-22T10:20:00+02:00", "sum": 5.0},
                }
            ]
        )
    )
    out = tmp_path / "next.json"
    out.write_text("[]")
    args = ["--by", "hour", "-o", str(out), "--force", "--continue-from", str(previous)]
    assert stats(db, *args, "roof") == 1
    assert "the anchor's bucket (2024-10-22T08:20:00+00:00) is not among the rows" in (
        capsys.readouterr().err
    )
    assert out.read_text() == "[]"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "garbage.db",
        "next.json",
        "previous.json",
    ]
    late = ["--by", "hour", "--end", "2024-10-22T10:00", "--continue-from", str(previous)]
    assert stats(db, *late, "-o", str(tmp_path / "x.json")) == 2
    assert "--end must be after it" in capsys.readouterr().err


def test_a_broken_pipe_exits_1_quietly(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(work: Callable[[], Awaitable[None]]) -> None:
        raise BrokenPipeError

    monkeypatch.setattr(stats_command, "run_interruptible", broken)
    assert stats(db, "--by", "day") == 1
    assert capsys.readouterr().err == ""
