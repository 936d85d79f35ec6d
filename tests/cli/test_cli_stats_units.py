"""``lacecal stats``' parts: WHEN in a zone, formats, files, the ha-json writer, continuations."""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lacecal_async.cli.options import UsageError
from lacecal_async.cli.stats import parse_zone, when_in
from lacecal_async.cli.stats_output import (
    HaJsonWriter,
    choose_stats_format,
    open_stats_output,
    read_continuation,
    stats_files,
)
from lacecal_async.cli.when import parse_when
from lacecal_async.endpoints import Endpoint
from lacecal_async.stats import rollup
from lacecal_async.stats_tables import stats_tables
from lacecal_async.testing import make_plants

MADRID = ZoneInfo("Europe/Madrid")
UTC_ZONE = ZoneInfo("UTC")
PLANT = make_plants(1, seed=1, start=int(datetime(2024, 6, 1, tzinfo=UTC).timestamp()), days=1)[0]
HOURS = rollup({"roof": PLANT.meter_records(PLANT.first, PLANT.first + 3 * 3600)}, "hour", MADRID)


def test_when_without_an_offset_is_local_in_the_zone_given() -> None:
    assert when_in("2024-10", None) == parse_when("2024-10")  # Madrid, as everywhere else
    assert when_in("2024-10", UTC_ZONE) == int(datetime(2024, 10, 1, tzinfo=UTC).timestamp())
    assert when_in("2024", UTC_ZONE) == int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
    assert when_in("2024-10-02T08:30", UTC_ZONE) == int(
        datetime(2024, 10, 2, 8, 30, tzinfo=UTC).timestamp()
    )
    explicit = "2024-10-02T08:30+02:00"
    assert when_in(explicit, UTC_ZONE) == parse_when(explicit)  # an offset is kept
    assert when_in("1727827200", UTC_ZONE) == 1727827200  # UNIX seconds are no local time
    assert abs(when_in("now", UTC_ZONE) - datetime.now(UTC).timestamp()) < 60
    assert parse_zone("Europe/Madrid") == MADRID
    for bad in ("Mars/Olympus", "../etc/passwd", ""):
        with pytest.raises(UsageError, match="no such time zone"):
            parse_zone(bad)


def test_formats_and_the_files_they_write(tmp_path: Path) -> None:
    assert choose_stats_format(None, None) == "jsonl"
    assert choose_stats_format("-", "csv") == "csv"
    assert choose_stats_format("x.json", None) == "ha-json"
    assert choose_stats_format("x.PQ", None) == "parquet"
    assert choose_stats_format("x.out", "ha-json") == "ha-json"
    with pytest.raises(UsageError, match="no extension"):
        choose_stats_format(str(tmp_path / "x"), None)
    assert stats_files(None, "csv", Endpoint.INVERTER) == []
    assert stats_files("/dev/null", "csv", Endpoint.INVERTER) == []
    assert stats_files("a/x.csv", "csv", Endpoint.INVERTER) == [
        Path("a/x.csv"),
        Path("a/x.inverters.csv"),
    ]
    assert stats_files("x.jsonl", "jsonl", Endpoint.INVERTER) == [Path("x.jsonl")]
    with pytest.raises(UsageError, match="cannot write"):
        open_stats_output(str(tmp_path / "no" / "x.csv"), "csv", Endpoint.METER, io.StringIO())


def test_a_stream_named_by_path_gets_the_first_table(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # so the writer's open does not block
    try:
        output = open_stats_output(str(fifo), "csv", Endpoint.INVERTER, io.StringIO())
        output.write("roof", HOURS)
        output.close()
        text = os.read(reader, 1 << 20).decode()
    finally:
        os.close(reader)
    assert text.startswith("plant,unix_time,start,")
    assert text.count("\n") == 1 + len(HOURS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no companion file


def test_csv_goes_to_stdout_with_its_header() -> None:
    out = io.StringIO()
    output = open_stats_output(None, "csv", Endpoint.METER, out)
    output.write("roof", HOURS)
    output.finish()
    output.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("plant,unix_time,start,utc_offset_s,end,interval_s,periods,")
    assert len(lines) == 1 + len(HOURS)
    assert output.counts() == [("stdout", len(HOURS))]


def test_ha_json_to_stdout_and_a_discarded_file(tmp_path: Path) -> None:
    out = io.StringIO()
    writer = HaJsonWriter(out, "stdout", "lacecal", {})
    writer.write("roof", HOURS[:2])
    writer.write("roof", HOURS[2:])
    writer.finish()
    writer.close()
    found = json.loads(out.getvalue())
    assert len(found) == 20
    assert [row["start"] for row in found[0]["stats"]] == [h.start.isoformat() for h in HOURS]
    target = tmp_path / "ha.json"
    target.write_text("[]")
    broken = HaJsonWriter(target, str(target), "lacecal", {})
    broken.write("roof", HOURS)
    broken.discard()  # a failed run leaves the file it would have replaced
    assert target.read_text() == "[]"
    assert list(tmp_path.iterdir()) == [target]
    quiet = HaJsonWriter(tmp_path / "empty.json", "empty.json", "lacecal", {})
    quiet.write("roof", HOURS)
    quiet.close()  # interrupted before the plant was finished: left out
    assert json.loads((tmp_path / "empty.json").read_text()) == []
    stale = HaJsonWriter(Path("/dev/null"), "/dev/null", "lacecal", {})
    stale.discard()  # a stream has nothing to put back


def test_a_continuation_names_what_is_wrong_with_the_file(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(
            [
                {"metadata": {"statistic_id": "lacecal:a_load"}, "stats": [], "resume": None},
                {
                    "metadata": {"statistic_id": "lacecal:b_load"},
                    "stats": [{"start": "2024-01-01T00:00:00+01:00", "state": 1, "sum": 1}],
                    "resume": None,
                },
                {
                    "metadata": {"statistic_id": "lacecal:c_load"},
                    "stats": [],
                    "resume": {"start": "2024-01-01T05:00:00+01:00", "sum": 7.5},
                },
            ]
        )
    )
    anchors, starts = read_continuation(str(good))
    assert list(anchors) == ["lacecal:c_load"]
    assert anchors["lacecal:c_load"].sum == 7.5
    assert starts == {
        "lacecal:b_load": "2024-01-01T00:00:00+01:00",
        "lacecal:c_load": "2024-01-01T05:00:00+01:00",
    }
    naive = tmp_path / "naive.json"
    naive.write_text(
        json.dumps(
            [
                {
                    "metadata": {"statistic_id": "x:y"},
                    "stats": [],
                    "resume": {"start": "2024-01-01T05:00:00", "sum": 1},
                }
            ]
        )
    )
    with pytest.raises(UsageError, match="has no UTC offset"):
        read_continuation(str(naive))


def test_parquet_to_a_binary_stdout_and_tables_of_what_has_periods() -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8")
    output = open_stats_output(None, "parquet", Endpoint.METER, stdout)
    output.write("roof", HOURS)
    output.close()
    table = pq.read_table(io.BytesIO(raw.getvalue()))
    assert table.num_rows == len(HOURS)
    assert table.column("complete").to_pylist() == [row.complete for row in HOURS]
    with pytest.raises(ValueError, match="no periods to roll up"):
        stats_tables(Endpoint.INVERTER_LIST)


def test_a_wall_time_is_read_in_the_zone_given_not_through_madrid() -> None:
    """Madrid skips 02:00-03:00 on 2024-03-31 and starts at 1970-01-01T01:00+01:00; UTC does
    neither: ``--tz UTC --start 2024-03-31T02:30`` is 02:30Z, and 1970-01-01 is UNIX 0."""
    utc = datetime(2024, 3, 31, 2, 30, tzinfo=UTC)
    assert when_in("2024-03-31T02:30", UTC_ZONE) == int(utc.timestamp())
    kolkata = datetime(2024, 3, 31, 2, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert when_in("2024-03-31T02:00", ZoneInfo("Asia/Kolkata")) == int(kolkata.timestamp())
    assert when_in("1970-01-01", UTC_ZONE) == 0
    with pytest.raises(UsageError, match="out of range"):  # after 9999 (UTC), as elsewhere
        when_in("9999-12-31T23:30", ZoneInfo("Etc/GMT+12"))
