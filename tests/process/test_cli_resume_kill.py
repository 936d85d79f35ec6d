"""``lacecal fetch --resume`` after a hard kill (SIGKILL, power loss), as a subprocess.

A kill can land between any two writes: between a page's per-inverter rows and its periods
(two files), inside a line, or before a Parquet file has its footer. Each test leaves the
files the way such a kill does (or kills a real fetch), resumes, and checks every row is
there exactly once.
"""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lacecal_async.endpoints import Endpoint
from lacecal_async.tables import tables
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
    by_plant,
    expected_rows,
    read_csv,
    read_parquet,
    threaded_server,
)
from tests.support.commands import lacecal, run

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

HALF = DST_START + 43200
#: The span of one page that reached the per-inverter file before the kill.
PAGE = (HALF, HALF + 6 * 3600)
LABELS = {f"p{i}": plant for i, plant in enumerate(FULL)}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLacecalServer]:
    with threaded_server(FULL) as fake:
        yield fake


@pytest.fixture(scope="module")
def slow_server() -> Iterator[FakeLacecalServer]:
    with threaded_server(SLOW) as fake:
        yield fake


def fetch(server: FakeLacecalServer, out: Path, end: int, *extra: str) -> None:
    plants = [f"{label}={plant.itr}" for label, plant in LABELS.items()]
    done = run(
        "fetch", "inverter", *plants, "--start", str(DST_START), "--end", str(end),
        "--base-url", server.base_url, "--rate", FAST, "-q", "-o", str(out), *extra,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def in_page(line: str) -> bool:
    """Whether a CSV line is one of p0's in `PAGE` (plant, unix_time first)."""
    plant, unix_time = line.split(",")[:2]
    return plant == "p0" and PAGE[0] <= int(unix_time) < PAGE[1]


def page_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines()[1:] if in_page(line)]


def append(path: Path, lines: list[str], tail: str = "") -> None:
    with path.open("a", encoding="utf-8") as stream:
        stream.write("".join(f"{line}\n" for line in lines) + tail)


def assert_complete(out: Path, ext: str) -> None:
    """Both tables hold every plant's rows over the whole range exactly once, in order."""
    periods = out.with_name(f"{out.stem}.periods.{ext}")
    for path, endpoint in ((out, "inverter"), (periods, "periods")):
        rows = read_csv(path)[1] if ext == "csv" else read_parquet(path)
        assert sum(len(got) for got in by_plant(rows).values()) == len(rows)
        for label, plant in LABELS.items():
            want = expected_rows(endpoint, label, plant, DST_START, DST_END)
            assert by_plant(rows)[label] == want, (path.name, label)


@pytest.mark.parametrize("state", ["rows", "rows and half a line", "rows and some periods"])
def test_csv_resume_after_a_kill_between_the_two_files_has_no_duplicates(
    server: FakeLacecalServer, tmp_path: Path, state: str
) -> None:
    whole = tmp_path / "whole.csv"
    fetch(server, whole, DST_END)
    out = tmp_path / "x.csv"
    fetch(server, out, HALF)
    # The kill came after a page's per-inverter rows reached x.csv...
    append(out, page_lines(whole), "p1,17" if state == "rows and half a line" else "")
    if state == "rows and some periods":  # ...or while its periods were being written
        periods = page_lines(tmp_path / "whole.periods.csv")
        append(tmp_path / "x.periods.csv", periods[:3], periods[3][:9])
    fetch(server, out, DST_END, "--resume")
    assert_complete(out, "csv")


def test_csv_resume_after_a_kill_before_the_periods_file_was_made(
    server: FakeLacecalServer, tmp_path: Path
) -> None:
    out = tmp_path / "x.csv"
    out.write_text(",".join(tables(Endpoint.INVERTER)[0].names) + "\n", encoding="utf-8")
    fetch(server, out, DST_END, "--resume")
    assert_complete(out, "csv")


def test_parquet_resume_after_a_kill_between_the_two_files_has_no_duplicates(
    server: FakeLacecalServer, tmp_path: Path
) -> None:
    whole = tmp_path / "whole.parquet"
    fetch(server, whole, DST_END)
    out = tmp_path / "x.parquet"
    fetch(server, out, HALF)
    # A resumed fetch killed after x.parquet replaced the old one, before x.periods.parquet did.
    ahead = pq.read_table(whole)
    mask = [
        plant == "p0" and PAGE[0] <= unix_time < PAGE[1]
        for plant, unix_time in zip(
            ahead["plant"].to_pylist(), ahead["unix_time"].to_pylist(), strict=True
        )
    ]
    pq.write_table(pa.concat_tables([pq.read_table(out), ahead.filter(pa.array(mask))]), out)
    fetch(server, out, DST_END, "--resume")
    assert_complete(out, "parquet")


@pytest.mark.slow
def test_a_killed_first_parquet_fetch_is_resumable(
    slow_server: FakeLacecalServer, tmp_path: Path
) -> None:
    out = tmp_path / "x.parquet"
    plants = [f"p{i}={plant.itr}" for i, plant in enumerate(SLOW)]
    args = [
        "fetch", "meter", *plants, "--start", str(SLOW_START), "--end", str(SLOW_END),
        "--base-url", slow_server.base_url, "-q", "-o", str(out),
    ]  # fmt: skip
    # Killed once it has written some periods (its progress says so), before the footer.
    slow = lacecal(*args, "--rate", "1/0.4", "--progress", "plain", "--progress-every", "0.05")
    with processes.started(slow, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        for line in process.stderr:
            found = re.search(r" ([\d,]+) periods", line)
            if found and int(found.group(1).replace(",", "")) > 0:
                break
        assert processes.stop(process, signal.SIGKILL) == -signal.SIGKILL
    assert tmp_path.joinpath(".x.parquet.partial").exists()
    assert not out.exists()  # nothing half-written in its place
    resumed = run(*args, "--rate", FAST, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    rows = read_parquet(out)
    for i, plant in enumerate(SLOW):
        want = expected_rows("meter", f"p{i}", plant, SLOW_START, SLOW_END)
        assert by_plant(rows)[f"p{i}"] == want
    assert not list(tmp_path.glob(".*partial"))


def test_resume_of_a_parquet_file_without_a_footer_says_what_it_is(
    server: FakeLacecalServer, tmp_path: Path
) -> None:
    out = tmp_path / "m.parquet"
    out.write_bytes(b"PAR1")  # what a killed first fetch of an older version left
    done = run(
        "fetch", "meter", f"p0={FULL[0].itr}", "--start", str(DST_START), "--end", str(HALF),
        "--base-url", server.base_url, "-q", "-o", str(out), "--resume",
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        f"lacecal: error: cannot resume {out}: it is not a whole Parquet file (no footer: "
        "its write was interrupted, by a kill or a crash), so its rows cannot be read; "
        "--force fetches everything again\n"
    )
