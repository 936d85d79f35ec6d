"""The export paths in-process (`main([...])`), where coverage sees them.

test_cli_exports.py runs the same features as a subprocess; these check the results too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path

import pytest

from lacecal_async.cli import main
from lacecal_async.cli.resume import repair_tail
from lacecal_async.cli.streams import merge
from lacecal_async.testing import FakeLacecalServer
from tests.support.cli import (
    DST_END,
    DST_START,
    FAST,
    FULL,
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

pytest.importorskip("pyarrow.parquet")

HALF = DST_START + 43200


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLacecalServer]:
    with threaded_server(FULL) as fake:
        yield fake


def fetch(server: FakeLacecalServer, endpoint: str, end: int, *extra: str) -> list[str]:
    return [
        "fetch", "--endpoint", endpoint, f"p0={FULL[0].itr}", FULL[1].itr,
        "--start", str(DST_START), "--end", str(end),
        "--base-url", server.base_url, "--rate", FAST, "-q", *extra,
    ]  # fmt: skip


LABELS = {"p0": FULL[0], FULL[1].itr: FULL[1]}


def check(path: Path, ext: str, endpoint: str) -> None:
    if ext == "jsonl":
        grouped = by_plant(read_jsonl(path.read_text(encoding="utf-8")))
        for label, plant in LABELS.items():
            got = [record_from_json(endpoint, line) for line in grouped[label]]
            want = plant.meter_records if endpoint == "meter" else plant.inverter_records
            assert got == list(want(DST_START, DST_END))
        return
    rows = read_csv(path)[1] if ext == "csv" else read_parquet(path)
    for label, plant in LABELS.items():
        assert by_plant(rows)[label] == expected_rows(endpoint, label, plant, DST_START, DST_END)


@pytest.mark.parametrize("endpoint", ["meter", "inverter"])
@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_resume_completes_a_half_fetched_file(
    server: FakeLacecalServer,
    tmp_path: Path,
    ext: str,
    endpoint: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / f"x.{ext}"
    assert main(fetch(server, endpoint, HALF, "-o", str(out))) == 0
    assert main(fetch(server, endpoint, DST_END, "-o", str(out), "--resume")) == 0
    err = capsys.readouterr().err
    assert "2 plants continue after their last period, 0 are complete, 0 start at" in err
    check(out, ext, endpoint)
    if endpoint == "inverter" and ext != "jsonl":
        check(tmp_path / f"x.periods.{ext}", ext, "periods")
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_resume_refuses_another_endpoints_file(
    server: FakeLacecalServer, tmp_path: Path, ext: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"x.{ext}"
    assert main(fetch(server, "meter", HALF, "-o", str(out))) == 0
    if ext == "parquet":
        (tmp_path / "x.periods.parquet").write_bytes(b"not parquet")
    assert main(fetch(server, "inverter", DST_END, "-o", str(out), "--resume")) == 2
    assert "does not hold `lacecal fetch --endpoint inverter` output" in capsys.readouterr().err


def test_resume_needs_every_file_of_the_output(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "i.csv"
    assert main(fetch(server, "inverter", HALF, "-o", str(out))) == 0
    (tmp_path / "i.periods.csv").unlink()
    assert main(fetch(server, "inverter", DST_END, "-o", str(out), "--resume")) == 2
    assert capsys.readouterr().err == (
        f"lacecal: error: cannot resume {out}: {tmp_path / 'i.periods.csv'} is missing\n"
    )


def test_resume_of_an_empty_or_new_file_starts_at_start(
    server: FakeLacecalServer, tmp_path: Path
) -> None:
    out = tmp_path / "m.csv"
    out.write_text("p0,17", encoding="utf-8")  # one line, never finished
    assert main(fetch(server, "meter", DST_END, "-o", str(out), "--resume")) == 0
    check(out, "csv", "meter")
    fresh = tmp_path / "n.jsonl"
    assert main(fetch(server, "meter", DST_END, "-o", str(fresh), "--resume")) == 0
    check(fresh, "jsonl", "meter")


def test_repair_tail_keeps_whole_lines(tmp_path: Path) -> None:
    file = tmp_path / "f"
    file.write_bytes(b"")
    repair_tail(file)
    assert file.read_bytes() == b""
    file.write_bytes(b"a\n" + b"x" * 70_000)
    repair_tail(file)
    assert file.read_bytes() == b"a\n"


def test_the_command_to_continue_names_every_option_but_no_identifier(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = fetch(server, "meter", DST_END, "-o", str(tmp_path / "m.data"), "--format", "csv")
    args += ["--wire-format", "xml", "--timeout", "5", "--retries", "0", "Unknown000000ITR"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert_no_secret(err, secrets(FULL))
    (line,) = [x for x in err.splitlines() if x.startswith("lacecal: to continue: ")]
    assert line.endswith(
        f"--format csv --base-url {server.base_url} --wire-format xml --rate 100/0.1 "
        "--timeout 5 --retries 0 --resume"
    )
    assert f" p0=...{FULL[0].itr[-4:]} ...{FULL[1].itr[-4:]} ...0ITR --start " in line


def test_formats_on_stdout_in_process(
    server: FakeLacecalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(fetch(server, "meter", HALF, "-o", "-", "--format", "csv")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("plant,unix_time,start,utc_offset_s,interval_s,")
    assert len(lines) == 1 + sum(len(p.meter_records(DST_START, HALF)) for p in FULL)
    assert main(fetch(server, "meter", HALF, "-o", "-", "--resume")) == 2
    assert "--resume continues an output file" in capsys.readouterr().err
    assert main(fetch(server, "meter", HALF, "-o", "x.csv", "--format", "jsonl")) == 2
    assert "extension '.csv' but --format jsonl" in capsys.readouterr().err


def test_inverters_into_files_in_process(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["inverters", f"p0={FULL[0].itr}", "--base-url", server.base_url, "--rate", FAST]
    out = tmp_path / "inv.jsonl"
    assert main([*base, "-o", str(out)]) == 0
    lines = read_jsonl(out.read_text(encoding="utf-8"))
    assert [(x["plant"], x["inverter_id"]) for x in lines] == [
        ("p0", i.id) for i in FULL[0].inverters
    ]
    assert main([*base, "-o", str(out)]) == 2
    assert "inv.jsonl exists: --resume continues it, --force overwrites it" in (
        capsys.readouterr().err
    )
    assert main([*base, "-o", str(out), "--force"]) == 0
    assert main([*base, "--format", "csv"]) == 2
    assert "--format names the format of -o FILE" in capsys.readouterr().err
    assert main([*base, "-o", "-"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["plant"] == "p0"


async def test_merge_passes_on_a_stream_s_error() -> None:
    async def good() -> AsyncGenerator[int]:
        yield 1
        await asyncio.sleep(10)
        yield 2  # pragma: no cover - cancelled first

    async def bad() -> AsyncGenerator[int]:
        await asyncio.sleep(0)
        raise RuntimeError("bug")
        yield 3  # pragma: no cover

    seen = []

    async def consume() -> None:
        async for value in merge([good(), bad()]):
            seen.append(value)

    with pytest.raises(RuntimeError, match="bug"):
        await consume()
    assert seen == [1]
