"""The `lacecal` command as a real subprocess: Ctrl-C mid-fetch, demo, serve, exit statuses."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support import processes
from tests.support.cli import (
    PLANTS,
    START,
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

pq = pytest.importorskip("pyarrow.parquet")

#: Ten days of three plants: 10 to 20 pages each at one request per 0.4 s, i.e. seconds.
SLOW_PLANTS = make_plants(3, seed=15, days=10)
SLOW_END = START + 10 * 86400


@pytest.fixture(scope="module")
def slow_server() -> Iterator[FakeLacecalServer]:
    with threaded_server(SLOW_PLANTS) as fake:
        yield fake


def _rows(path: Path, ext: str) -> list[dict[str, Any]]:
    if ext == "csv":
        return read_csv(path)[1]
    if ext == "parquet":
        return read_parquet(path)
    lines = read_jsonl(path.read_text(encoding="utf-8"))
    return [{"plant": line["plant"], "record": record_from_json("meter", line)} for line in lines]


@pytest.mark.slow
@pytest.mark.parametrize("ext", ["csv", "parquet", "jsonl"])
def test_ctrl_c_mid_fetch_leaves_a_valid_prefix(
    slow_server: FakeLacecalServer, tmp_path: Path, ext: str
) -> None:
    out = tmp_path / f"meter.{ext}"
    aliases = [f"p{i}={p.itr}" for i, p in enumerate(SLOW_PLANTS)]
    command = lacecal(
        *("fetch", "meter", *aliases, "--start", str(START), "--end", str(SLOW_END)),
        *("--base-url", slow_server.base_url, "--rate", "1/0.4", "-o", str(out)),
        *("--progress-every", "0.05"),
    )
    seen = []
    with processes.started(command, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        for line in process.stderr:  # plain progress: stderr is not a terminal
            seen.append(line)
            found = re.search(r" ([\d,]+) periods", line)
            if found and int(found.group(1).replace(",", "")) > 0:
                process.send_signal(signal.SIGINT)
                break
        rest = process.communicate(timeout=TIMEOUT)[1]
    assert process.returncode == 130, "".join(seen) + rest
    assert "lacecal: interrupted; " in rest
    assert "Traceback" not in rest
    assert_no_secret("".join(seen) + rest, secrets(SLOW_PLANTS))
    grouped = by_plant(_rows(out, ext))
    total = 0
    for i, plant in enumerate(SLOW_PLANTS):
        got = grouped.get(f"p{i}", [])
        if ext == "jsonl":
            full: list[Any] = plant.meter_records(START, SLOW_END)
            got = [row["record"] for row in got]
        else:
            full = expected_rows("meter", f"p{i}", plant, START, SLOW_END)
        assert got == full[: len(got)]
        total += len(got)
    everything = sum(len(p.meter_records(START, SLOW_END)) for p in SLOW_PLANTS)
    assert 0 < total < everything
    assert f"{total:,} periods written: {total:,} rows to {out}" in rest


def test_fetch_subprocess_exit_statuses(tmp_path: Path) -> None:
    with threaded_server(PLANTS[:2]) as fake:
        ok = run(
            *("fetch", "inverter", *secrets(PLANTS[:2]), "--start", str(START)),
            *("--end", str(START + 86400), "--base-url", fake.base_url, "--rate", "100/0.1"),
            *("-o", str(tmp_path / "i.csv")),
        )
        assert ok.returncode == 0, ok.stderr
        _, rows = read_csv(tmp_path / "i.csv")
        for plant in PLANTS[:2]:
            want = expected_rows("inverter", plant.itr, plant, START, START + 86400)
            assert by_plant(rows)[plant.itr] == want
        assert_no_secret(ok.stderr, secrets(PLANTS))
        failed = run(
            *("fetch", "meter", "Unknown000000ITR", "--start", str(START), "--end"),
            *(str(START + 86400), "--base-url", fake.base_url, "--retries", "0"),
        )
        assert failed.returncode == 1
        assert "lacecal: ...0ITR failed: meter.php for ITR ...0ITR: HTTP 404" in failed.stderr
    usage = run("fetch", "meter", "x=Unknown000000ITR", "--start", "last tuesday")
    assert usage.returncode == 2
    assert usage.stderr == "lacecal: error: invalid time 'last tuesday': expected an ISO " + (
        "date (2024-10-21), a month (2024-10), a year (2024), an ISO datetime "
        "(2024-10-21T08:30, 2024-10-21T08:30+02:00), "
        "UNIX seconds or 'now'\n"
    )


def test_demo_from_a_fresh_directory(tmp_path: Path) -> None:
    done = run("demo", "--plants", "3", "--days", "1", "--rate", "6/0.1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Checked: all " in done.stdout
    assert re.search(r"^total +[\d,.]+ +[\d,.]+ +[\d,.]+ +[\d,.]+$", done.stdout, re.MULTILINE)
    out = tmp_path / "lacecal-demo"
    plants = make_plants(3, seed=0, start=1729461600, days=2)
    _, meter = read_csv(out / "meter.csv")
    for name, plant in zip(["almeria", "avila", "badajoz"], plants, strict=True):
        assert by_plant(meter)[name] == expected_rows(
            "meter", name, plant, 1729461600, 1729461600 + 86400
        )
    assert "inverter: 3/3 plants done" in done.stderr
    assert_no_secret(done.stdout + done.stderr, secrets(plants))


def test_serve_prints_its_url_and_stops_on_ctrl_c() -> None:
    with processes.started(
        lacecal("serve", "--plants", "2", "--rate", "6/1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        table = [process.stdout.readline() for _ in range(3)]
        itr = table[1].split()[0]
        listed = run("inverters", f"one={itr}", "--base-url", url)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[1].startswith("one  ")
        assert processes.stop(process, signal.SIGINT) == 0
    assert url.startswith("http://127.0.0.1:")


def test_module_help_names_the_command() -> None:
    done = run("--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: lacecal ")
    assert "lacecal demo" in done.stdout


@pytest.mark.skipif(os.name != "posix", reason="console scripts live in bin/ on POSIX")
def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "lacecal"
    if not script.exists():
        pytest.skip("the package is not installed with its scripts in this environment")
    done = processes.run([str(script), "--version"])
    assert done.returncode == 0
    assert done.stdout.startswith("lacecal ")
