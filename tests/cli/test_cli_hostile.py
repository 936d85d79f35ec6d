"""The `lacecal` command against hostile input: slips on the command line, a server that
sends terminal escapes or non-numbers, and files other users could read."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from lacecal_async.cli import main
from lacecal_async.cli.writers import JsonLinesWriter, record_objects
from lacecal_async.records import Inverter
from lacecal_async.testing import Plant, make_plants
from tests.support import processes
from tests.support.checks import fragment_of
from tests.support.cli import END, FAST, START, threaded_server
from tests.support.raw_http import http_reply, threaded_raw_server

ITR = "SECRETabcd1234XY"
OTHER = "q7Wz0Kp3Lm9Xr2Tb"
HOSTILE_NAMES = [
    "\x1b]0;pwned\x07",  # retitles the terminal
    "\x1b[2J\x1b[H",  # clears it
    "\x1b[32mall plants OK\x1b[0m",  # colour: a fake all-clear
    "\x9b31mC1 CSI",  # the 8-bit CSI
    "two\nlines",  # a fake table row
]
#: Strings that a terminal acts on, none of which may reach it.
CONTROLS = ("\x1b", "\x07", "\x9b", "\r")


@pytest.fixture(autouse=True)
def _umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: new files would be -rw-r--r--
    try:
        yield
    finally:
        os.umask(old)


# -- argparse never echoes an identifier ---------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([ITR], id="unknown-command"),
        pytest.param([f"north={ITR}"], id="unknown-command-with-alias"),
        pytest.param(["fetch", ITR, "meter", "--start", "2024-01-01"], id="invalid-choice"),
        pytest.param(
            ["fetch", "--endpoint", "meter", "--start", "2024-01-01", ITR, "--quite"],
            id="unrecognized-argument",
        ),
        pytest.param(["inverters", OTHER, "--bogus", ITR], id="unrecognized-option-value"),
        pytest.param(
            ["fetch", "--endpoint", "meter", "--start", "2024-01-01", "--rate", ITR],
            id="bad-typed-value",
        ),
        pytest.param(["inverters", "--timeout", ITR.lower()], id="bad-typed-value-lower"),
        pytest.param(["inverters", "--wire-format", ITR], id="invalid-option-choice"),
        pytest.param(
            ["fetch", "--endpoint", "meter", ITR, "--end", "now"], id="missing-required-option"
        ),
        pytest.param(["fetch", "--endpoint", "meter", ITR + "x"], id="longer-word"),
        pytest.param(
            [
                "fetch",
                "--endpoint",
                "meter",
                OTHER,
                "--start",
                "2024",
                "-o",
                f"/nonexistent/{ITR}.csv",
            ],
            id="output-in-a-missing-directory",
        ),
        pytest.param(
            ["fetch", "--endpoint", "meter", OTHER, "--start", "2024", "-o", f"{ITR}.txt"],
            id="output-with-an-unknown-extension",
        ),
        pytest.param(
            [
                "fetch",
                "--endpoint",
                "meter",
                "--start",
                "2024",
                "--itr-file",
                f"/nonexistent/{ITR}",
            ],
            id="missing-itr-file",
        ),
        pytest.param(["inverters", OTHER, "-o", f"/nonexistent/{ITR}"], id="inverters-output"),
    ],
)
def test_a_usage_error_never_shows_an_identifier(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "error:" in captured.err
    assert captured.out == ""
    for itr in (ITR, OTHER):
        assert fragment_of(captured.err, itr) is None, captured.err


# -- a hostile server: what reaches the terminal is escaped ---------------------------------


def _inverter_list() -> bytes:
    return json.dumps(
        [
            {"id": i, "nombre": name, "fabricante": "SMA\x1b[5m", "modelo": "M", "nserie": None}
            for i, name in enumerate(HOSTILE_NAMES, 1)
        ]
    ).encode()


def _reply(target: str) -> bytes:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
    json_type = [("Content-Type", "application/json"), ("Connection", "close")]
    if query.get("id") == [ITR]:
        if "inverter_list.php" in target:
            body = _inverter_list()
        else:
            record = {"unix_time": 1704067200, "date": "2024-01-01 01:00:00 +0100"}
            record |= {"interval": 600, "LOAD_meter": {"RST": {"E": "NaN"}}}
            body = json.dumps([record]).encode()
        return http_reply(200, "OK", [*json_type, ("Content-Length", str(len(body)))], body)
    # the other plant: an error whose reason phrase and body carry escapes and the identifier
    body = f"\x1b[31mno plant {query.get('id')}\x1b[0m".encode()
    reason = "\x1b[2J\x1b]0;owned\x07 all plants OK"
    return http_reply(500, reason, [*json_type, ("Content-Length", str(len(body)))], body)


@pytest.fixture(scope="module")
def hostile_url() -> Iterator[str]:
    with threaded_raw_server(_reply) as url:
        yield url


def assert_terminal_safe(text: str) -> None:
    for control in CONTROLS:
        assert control not in text, f"{control!r} reaches the terminal: {text!r}"
    for itr in (ITR, OTHER):
        assert fragment_of(text, itr) is None, text


def test_inverter_names_with_escapes_are_shown_escaped(
    hostile_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["inverters", ITR, OTHER, "--base-url", hostile_url, "--retries", "0"]
    assert main(args) == 1  # OTHER fails
    captured = capsys.readouterr()
    assert_terminal_safe(captured.out)
    assert_terminal_safe(captured.err)
    assert "\\x1b]0;pwned\\x07" in captured.out  # shown, harmless
    assert "\\x9b31mC1 CSI" in captured.out
    assert "two\\nlines" in captured.out
    assert len(captured.out.splitlines()) == 1 + len(HOSTILE_NAMES)  # no fake row
    assert "500 \\x1b[2J\\x1b]0;owned\\x07 all plants OK" in captured.err


def test_inverters_table_hides_identifiers_a_server_echoes_in_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def echoing(plant: Plant) -> Plant:
        itr = plant.itr
        inverters = (
            Inverter(1, f"inverter of {itr}", "Maker", "M-1", itr),
            Inverter(2, itr.lower(), itr[2:12], f"model {itr.upper()[:9]}", None),
            Inverter(3, "\u200b".join(itr), "\x00".join(itr[:10]), "M-2", f"SN-{itr[4:14]}"),
        )
        return attrs.evolve(plant, inverters=inverters)

    plants = [echoing(plant) for plant in make_plants(2, seed=17, days=1)]
    with threaded_server(plants) as fake:
        args = ["inverters", f"roof={plants[0].itr}", plants[1].itr, "--base-url", fake.base_url]
        assert main([*args, "--rate", FAST]) == 0
    captured = capsys.readouterr()
    rows = captured.out.splitlines()
    assert len(rows) == 1 + 3 + 3  # the header, then every inverter of both plants
    assert rows[1].split()[:4] == ["roof", "1", "inverter", "of"]  # the rest is shown
    for plant in plants:
        for text in (captured.out, captured.err):
            assert fragment_of(text, plant.itr) is None, text


@pytest.mark.parametrize("progress", ["plain", "live"])
def test_fetch_reports_progress_and_log_lines_escaped(
    hostile_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    progress: str,
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    output = tmp_path / "x.jsonl"
    args = [
        "fetch",
        "--endpoint",
        "meter",
        ITR,
        OTHER,
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-02",
    ]
    args += ["--base-url", hostile_url, "--retries", "0", "-v", "--progress", progress]
    assert main([*args, "-o", str(output)]) == 1
    err = capsys.readouterr().err
    if progress == "live":  # the display's own escapes only: cursor moves and erasing
        err = err.replace("\x1b[K", "").replace("\x1b[J", "")
        for lines in range(1, 10):
            err = err.replace(f"\x1b[{lines}F", "")
    assert_terminal_safe(err)
    assert "all plants OK" in err  # the reason is shown, escaped
    assert "...34XY failed: " in err  # the NaN page failed the plant, named redacted
    assert "$[0].LOAD_meter.RST" in err
    assert output.read_text() == ""  # nothing written for either plant


# -- strict JSON Lines -------------------------------------------------------------------


def test_a_nan_energy_fails_the_plant_instead_of_writing_nan(
    hostile_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "x.jsonl"
    args = [
        "fetch",
        "--endpoint",
        "meter",
        ITR,
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-02",
        "-q",
    ]
    assert main([*args, "--base-url", hostile_url, "--retries", "0", "-o", str(output)]) == 1
    assert "NaN" not in output.read_text()
    assert "expected a finite JSON number" in capsys.readouterr().err


def test_json_lines_never_holds_nan_or_raw_c1_controls(tmp_path: Path) -> None:
    record = make_plants(1)[0].meter_record(1_700_000_400)
    path = tmp_path / "x.jsonl"
    with path.open("w", encoding="utf-8") as stream:
        writer = JsonLinesWriter(stream, str(path), record_objects, owned=False)
        writer.write("\x9b31m plant \u202e", [record])
        nan = type(record)(record.unix_time, record.start, record.interval)
        object.__setattr__(nan, "unix_time", float("nan"))  # what the decoder never makes
        with pytest.raises(ValueError, match="Out of range float"):
            writer.write("p", [nan])
    text = path.read_text(encoding="utf-8")
    assert "\x9b" not in text
    assert "\u202e" not in text
    assert json.loads(text)["plant"] == "\x9b31m plant \u202e"  # the same data


# -- private files -----------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_fetch_creates_its_output_readable_by_the_owner_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    pytest.importorskip("pyarrow")
    plant = make_plants(1)[0]
    with threaded_server([plant]) as server:
        created = tmp_path / f"new.{suffix}"
        existing = tmp_path / f"old.{suffix}"
        existing.write_bytes(b"")
        existing.chmod(0o640)
        for path in (created, existing):
            args = [
                "fetch",
                "--endpoint",
                "meter",
                plant.itr,
                "--start",
                str(START),
                "--end",
                str(END),
            ]
            args += ["--base-url", server.base_url, "--rate", "60/0.1", "-q", "-o", str(path)]
            args += ["--force"]  # the existing file is overwritten, and keeps its mode
            assert main(args) == 0
    assert _mode(created) == 0o600
    assert _mode(existing) == 0o640  # a file that exists keeps its mode
    assert created.stat().st_size > 0
    capsys.readouterr()


def test_demo_writes_private_csv_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--plants", "2", "--days", "1", "--rate", "60/0.1", "--out", str(out)]
    assert main([*args, "--progress", "none"]) == 0
    assert _mode(out / "meter.csv") == _mode(out / "inverter.csv") == 0o600
    capsys.readouterr()


def test_demo_never_shows_an_identifier_shaped_output_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / ITR
    args = ["demo", "--plants", "1", "--days", "1", "--rate", "60/0.1", "--out", str(out)]
    assert main([*args, "--progress", "none"]) == 0
    captured = capsys.readouterr()
    assert "Wrote " in captured.out
    assert fragment_of(captured.out + captured.err, ITR) is None


def test_create_private_file_does_not_follow_a_planted_symlink(tmp_path: Path) -> None:
    from lacecal_async.private_file import create_private_file  # noqa: PLC0415 - new in 0.1.1

    victim = tmp_path / "victim"  # a file someone else may read, or one not to be touched
    victim.write_bytes(b"theirs")
    link = tmp_path / "out.csv"
    link.symlink_to(victim)
    with pytest.raises(OSError, match="symbolic link"):
        create_private_file(link)
    dangling = tmp_path / "db.sqlite"
    dangling.symlink_to(tmp_path / "elsewhere")  # would create a file where the link points
    with pytest.raises(OSError, match="symbolic link"):
        create_private_file(dangling)
    assert not (tmp_path / "elsewhere").exists()
    assert victim.read_bytes() == b"theirs"
    stream = tmp_path / "stdout"
    stream.symlink_to("/dev/null")  # like /dev/stdout: a link to a stream creates nothing
    assert create_private_file(stream) == stream


def test_create_private_file_never_truncates_or_widens(tmp_path: Path) -> None:
    from lacecal_async.private_file import create_private_file  # noqa: PLC0415 - new in 0.1.1

    path = tmp_path / "store.sqlite"
    assert create_private_file(path) == path
    assert (_mode(path), path.read_bytes()) == (0o600, b"")
    path.write_bytes(b"data")
    path.chmod(0o644)
    create_private_file(str(path))
    assert (_mode(path), path.read_bytes()) == (0o644, b"data")
    with pytest.raises(FileNotFoundError):
        create_private_file(tmp_path / "missing" / "x")


def _on_a_terminal(args: list[str]) -> bytes:
    """Run the command with stdout on a pseudo-terminal; return what the terminal got."""
    master, slave = os.openpty()
    try:
        done = processes.run(
            [sys.executable, "-m", "lacecal_async", *args], stdout=slave, text=False
        )
    finally:
        os.close(slave)
    out = b""
    with contextlib.suppress(OSError):  # EIO once the other side is closed and drained
        while chunk := os.read(master, 65536):
            out += chunk
    os.close(master)
    assert done.returncode == 1, done.stderr  # OTHER fails
    return out


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["inverters", ITR, OTHER, "-o", "-", "--format", "csv"], id="inverters-csv"),
        pytest.param(
            ["inverters", ITR, OTHER, "-o", "-", "--format", "jsonl"], id="inverters-jsonl"
        ),
        pytest.param(
            [
                "fetch",
                "inverter",
                ITR,
                OTHER,
                "--start",
                "2024-01-01",
                "--end",
                "2024-01-02",
                "-o",
                "-",
                "--format",
                "csv",
            ],
            id="fetch-csv",
        ),
    ],
)
def test_data_on_stdout_that_is_a_terminal_is_escaped(hostile_url: str, args: list[str]) -> None:
    # (the data names a plant without an alias by its identifier: that is the data)
    shown = _on_a_terminal([*args, "--base-url", hostile_url, "--retries", "0"]).decode()
    shown = shown.replace("\r\n", "\n")  # the terminal's own line ends
    for control in CONTROLS:
        assert control not in shown, f"{control!r} reaches the terminal: {shown!r}"
    if args[0] == "inverters" and "csv" in args:
        assert "\\x1b]0;pwned\\x07" in shown  # shown, harmless
