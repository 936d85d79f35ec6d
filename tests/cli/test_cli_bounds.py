"""Numbers out of range are usage errors, never tracebacks (review 3, item 10).

Every time, duration, count and port the command takes: huge, negative, nan and inf
values exit 2 before any request, file or database is touched. Those the command reads
itself (times, durations, DSN ports, --workers) say so on one line; those argparse reads
(typed options) with its usage. Before, `--since` and `--lookback` raised OverflowError
tracebacks or sent a negative `t` (HTTP 400), DSN ports raised OverflowError from the
socket layer, `export --start` raised OverflowError from SQLite, and `serve`/`demo`
crashed on nan days or huge numbers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lacecal_async.cli import main
from lacecal_async.testing import make_plants
from tests.support.windows import assert_no_leak

ITR = make_plants(1, seed=0)[0].itr
HUGE = "99999999999999999999"
NOWHERE = ["--base-url", "http://127.0.0.1:9/APIv1/", "--retries", "0"]
DSN = "postgresql://lacecal:pw@127.0.0.1:{port}/fleet"


def sync(db: str, *more: str) -> list[str]:
    return ["sync", db, ITR, "--start", "2024-10-02", "-q", *NOWHERE, *more]


ONE_LINE = [
    pytest.param(["--start", HUGE], "time", id="since-huge"),
    pytest.param(["--start", "1969-12-31"], "time", id="since-before-1970"),
    pytest.param(["--start", "9999-12-31T23:00-05:00"], "time", id="since-after-9999"),
    pytest.param(["--start", "0001-01-01"], "time", id="since-year-1"),
    pytest.param(["--lookback", HUGE + "d"], "duration", id="lookback-huge"),
    pytest.param(["--lookback", "9" * 400 + "s"], "duration", id="lookback-inf"),
    pytest.param(["--lease-ttl", HUGE + "d"], "duration", id="lease-ttl-huge"),
]


@pytest.mark.parametrize(("more", "word"), ONE_LINE)
def test_sync_times_and_durations_out_of_range_are_one_line(
    more: list[str], word: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.db"
    assert main([*sync(str(db)), *more]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("lacecal: error: ")
    assert word in err
    assert "Traceback" not in err
    assert not db.exists()


@pytest.mark.parametrize("port", [HUGE, "65536", "-1", "0", "99999999999,5432", "5432x"])
@pytest.mark.parametrize("command", ["sync", "status", "export", "query-port"])
def test_a_dsn_port_out_of_range_is_one_line(
    port: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if command == "query-port":
        dsn = f"postgresql://lacecal:pw@127.0.0.1/fleet?port={port}"
        argv = ["status", dsn]
    else:
        dsn = DSN.format(port=port)
        argv = {
            "sync": sync(dsn, "--follow"),
            "status": ["status", dsn],
            "export": ["export", dsn],
        }[command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "port" in err
    assert "Traceback" not in err
    assert "pw" not in err.replace("postgresql", "")


@pytest.mark.parametrize("workers", [HUGE, "100000"])
def test_workers_out_of_range_is_one_line(workers: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = sync(DSN.format(port=9), "--follow", "--workers", workers)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "--workers" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["fetch", "--endpoint", "meter", ITR, "--start", HUGE, "-q", *NOWHERE],
        [
            "fetch",
            "--endpoint",
            "meter",
            ITR,
            "--start",
            "2024-10-02",
            "--end",
            HUGE,
            "-q",
            *NOWHERE,
        ],
        ["fetch", "--endpoint", "meter", ITR, "--start", "1900-01-01", "-q", *NOWHERE],
        ["export", "{db}", "--start", HUGE],
        ["export", "{db}", "--end", "1800"],
    ],
)
def test_fetch_and_export_times_out_of_range_are_one_line(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.db"
    if "export" in argv:  # a store to export from
        made = ["sync", str(db), ITR, "--start", "now", "-q", "--endpoint", "meter", *NOWHERE]
        assert main(made) == 1  # nothing to fetch from: failed, the store is made
        capsys.readouterr()
    assert main([a.replace("{db}", str(db)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "time" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["fetch", "--endpoint", "meter", ITR, "--start", "0", "--retries", HUGE],
        ["fetch", "--endpoint", "meter", ITR, "--start", "0", "--rate", "1/1e308"],
        ["fetch", "--endpoint", "meter", ITR, "--start", "0", "--rate", f"{HUGE}/60"],
        ["fetch", "--endpoint", "meter", ITR, "--start", "0", "--timeout", "1e308"],
        ["fetch", "--endpoint", "meter", ITR, "--start", "0", "--progress-every", "nan"],
        ["sync", "x.db", ITR, "--start", "0", "--progress-every", "-1"],
        ["inverters", ITR, "--timeout", "inf"],
        ["serve", "--port", HUGE],
        ["serve", "--rate", "x"],
        ["serve", "--rate", "1/1e308"],
        ["serve", "--port", "-1"],
        ["serve", "--plants", "-3"],
        ["serve", "--plants", HUGE],
        ["serve", "--days", "nan"],
        ["serve", "--days", "inf"],
        ["serve", "--days", "-5"],
        ["serve", "--days", "1e300"],
        ["demo", "--days", HUGE],
        ["demo", "--days", "0"],
        ["demo", "--plants", "-1"],
        ["demo", "--plants", HUGE],
    ],
)
def test_typed_options_out_of_range_are_usage_errors(
    argv: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "usage: lacecal" in err
    assert "Traceback" not in err
    assert_no_leak(err, [ITR])
    assert list(tmp_path.iterdir()) == []
