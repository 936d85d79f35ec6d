"""One spelling on the command line: ``--endpoint`` and ``--start``/``--end`` everywhere.

The spellings of older releases (``fetch``'s positional endpoint, ``sync``'s and ``stats``'s
``--since``, ``stats``'s ``--until``) still work, with the same result as the new ones, so
scripts and systemd units written for them still run; no ``--help`` (nor the generated CLI
page) shows them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lacecal_async.cli import build_parser, main
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.cli import FAST, UNKNOWN, threaded_server

PLANTS = make_plants(2, seed=23, days=2)
START = PLANTS[0].first
END = START + 86400
ENTRIES = [f"p{i}={p.itr}" for i, p in enumerate(PLANTS)]
OLD_WORDS = ("--since", "--until", "{meter,inverter} ")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLacecalServer]:
    with threaded_server(PLANTS) as fake:
        yield fake


def service(server: FakeLacecalServer) -> list[str]:
    return ["--base-url", server.base_url, "--rate", FAST, "--retries", "0"]


def help_of(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main([command, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", ["fetch", "sync", "export", "stats"])
def test_help_shows_endpoint_start_and_end_and_no_old_spelling(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_of(command, capsys)
    usage = text.split("\n\n", 1)[0]
    assert "[--endpoint {meter,inverter" in usage
    assert "--start WHEN" in usage
    if command != "sync":  # sync's range ends at the plants' latest record
        assert "[--end WHEN]" in usage
    for word in OLD_WORDS:
        assert word not in text, (command, word)


def test_the_generated_cli_page_shows_no_old_spelling(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page is each subparser's help at 80 columns (scripts/docs_hooks.py)."""
    monkeypatch.setenv("COLUMNS", "80")
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    page = "\n".join(sub.format_help() for sub in commands.choices.values())
    assert page.count("\n  --endpoint {meter,inverter") == 4  # in each command's options
    for word in OLD_WORDS:
        assert word not in page


@pytest.mark.parametrize("endpoint", ["meter", "inverter"])
def test_fetch_takes_the_old_positional_endpoint(
    endpoint: str, server: FakeLacecalServer, tmp_path: Path
) -> None:
    spellings = {
        "new": ["--endpoint", endpoint, *ENTRIES, "--start", str(START)],
        "old": [endpoint, *ENTRIES, "--start", str(START)],
        "old, plants after the options": [endpoint, "--start", str(START), *ENTRIES],
    }
    outputs = set()
    for i, spelling in enumerate(spellings.values()):
        out = tmp_path / f"{i}.csv"
        args = ["fetch", *spelling, "--end", str(END), *service(server), "-q", "-o", str(out)]
        assert main(args) == 0
        outputs.add(out.read_bytes())
    (only,) = outputs
    assert only.count(b"\n") > 100


def test_fetch_without_an_endpoint_fetches_meter_records(
    server: FakeLacecalServer, tmp_path: Path
) -> None:
    plain, named = tmp_path / "plain.csv", tmp_path / "named.csv"
    args = ["fetch", *ENTRIES, "--start", str(START), "--end", str(END), *service(server), "-q"]
    assert main([*args, "-o", str(plain)]) == 0
    assert main([*args, "--endpoint", "meter", "-o", str(named)]) == 0
    assert plain.read_bytes() == named.read_bytes()


def test_two_different_endpoints_are_a_usage_error(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.csv"
    args = ["fetch", "--endpoint", "inverter", "meter", *ENTRIES, "--start", str(START)]
    assert main([*args, *service(server), "-o", str(out)]) == 2
    assert capsys.readouterr().err == (
        "lacecal: error: two endpoints: --endpoint inverter and meter\n"
    )
    assert not out.exists()


def stored(db: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Every meter and inverter record the store holds, as `lacecal export` writes them."""
    capsys.readouterr()
    for endpoint in ("meter", "inverter"):
        assert main(["export", str(db), "--endpoint", endpoint, "-q"]) == 0
    return capsys.readouterr().out


def test_sync_since_is_start(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exported = []
    for option in ("--start", "--since"):
        db = tmp_path / f"{option[2:]}.db"
        args = ["sync", str(db), *ENTRIES, option, str(END - 6 * 3600), *service(server), "-q"]
        assert main(args) == 0
        exported.append(stored(db, capsys))
    new, old = exported
    assert new == old
    assert len(new.splitlines()) >= 2 * 36  # six hours of two endpoints of two plants


@pytest.fixture(scope="module")
def db(server: FakeLacecalServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spelling") / "plants.db"
    args = ["sync", str(path), *ENTRIES, "--start", str(START), *service(server), "-q"]
    assert main(args) == 0
    return path


def test_stats_since_and_until_are_start_and_end(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = []
    for first, last in (("--start", "--end"), ("--since", "--until"), ("--since", "--end")):
        args = ["stats", str(db), "--by", "hour", first, str(START), last, str(END), "-q"]
        assert main(args) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] == outputs[2]
    rows = [json.loads(line) for line in outputs[0].splitlines()]
    assert len(rows) == 2 * 24  # two plants, a day of hours


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["stats", "{db}", "--by", "day", "--start", "1", "--since", "2"], id="stats"),
        pytest.param(
            ["stats", "{db}", "--by", "day", "--start", "1", "--end", "3", "--until", "2"], id="end"
        ),
        pytest.param(["sync", "{db}", "--start", "1", "--since", "2"], id="sync"),
    ],
)
def test_old_and_new_spelling_together_are_a_usage_error(
    args: list[str], db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([a.format(db=db) for a in args]) == 2
    err = capsys.readouterr().err
    assert "not allowed with argument" in err, err


@pytest.mark.parametrize("command", ["sync", "stats"])
def test_a_missing_start_names_the_new_spelling(
    command: str, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # sync needs it only for a plant new to the store.
    args = [command, str(db), *(["--by", "day"] if command == "stats" else [f"new={UNKNOWN}"])]
    assert main(args) == 2
    err = capsys.readouterr().err
    needed = "one of the arguments --start is required" if command == "stats" else "--start is"
    assert needed in err, err
    assert "--since" not in err


@pytest.mark.parametrize(
    ("args", "abbreviation"),
    [
        (["fetch", "x", "--start", "2024-10-02", "--forc"], "--forc"),
        (["export", "s.db", "--forc"], "--forc"),
        (["inverters", "x", "--forc"], "--forc"),
        (["sync", "s.db", "x", "--start", "2024-10-02", "--foll"], "--foll"),
        (["status", "s.db", "--js"], "--js"),
        (["stats", "s.db", "--by", "day", "--start", "2024-10-02", "--forc"], "--forc"),
        (["serve", "--foll"], "--foll"),
        (["demo", "--plant", "3"], "--plant"),
    ],
    ids=lambda value: value[0] if isinstance(value, list) else None,
)
def test_an_abbreviated_option_is_refused_not_guessed(
    args: list[str], abbreviation: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A unit file's abbreviation would change meaning the day an option starting so is added.
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(args)
    assert exit_.value.code == 2
    assert f"unrecognized arguments: {abbreviation}" in capsys.readouterr().err
