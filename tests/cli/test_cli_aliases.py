"""The command refuses an alias that holds a piece of an identifier (review 3, item 5).

On every command that takes plants (sync, fetch, inverters), from arguments, files and
``LACECAL_ITR``: an alias that, once separators are dropped and width and case folded,
holds 8 consecutive characters of any identifier named in the run is a usage error (exit
2, one line) that quotes neither; nothing is fetched, written or stored.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lacecal_async.cli import main
from lacecal_async.cli.itrs import ENV_VAR, collect_plants
from tests.support.windows import assert_no_leak, fullwidth

A, B = "2Yw4aCQ9gfZ6y1T9", "jGWbUno6N9jec3hQ"
NOWHERE = ["--base-url", "http://127.0.0.1:9/APIv1/", "--retries", "0"]
BAD = [
    pytest.param([f"2Yw4-aCQ9-gfZ6-y1T9={A}"], id="own-identifier-dashed"),
    pytest.param([f"roof={A}", f"x{A[2:14]}={B}"], id="12-of-another-plant"),
    pytest.param([f"{fullwidth(B[4:12])}={A}", B], id="fullwidth-of-another"),
    pytest.param([f"r o o f {' '.join(A[:8].lower())}={A}"], id="spaced-lower"),
]


def assert_refused(err: str) -> None:
    assert err.count("\n") == 1, err
    assert err.startswith("lacecal: error: ")
    assert "8 or more characters of an identifier" in err
    assert_no_leak(err, [A, B])


@pytest.mark.parametrize("entries", BAD)
def test_sync_refuses_such_an_alias_and_creates_nothing(
    entries: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.db"
    assert main(["sync", str(db), *entries, "--start", "2024-10-02", "-q", *NOWHERE]) == 2
    assert_refused(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("entries", BAD)
@pytest.mark.parametrize("command", ["fetch", "inverters"])
def test_fetch_and_inverters_refuse_such_a_label(
    entries: list[str], command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.csv"
    fetch = ["fetch", "--endpoint", "meter", "--start", "2024-10-02", "-q"]
    head = fetch if command == "fetch" else ["inverters"]
    assert main([*head, *entries, "-o", str(out), *NOWHERE]) == 2
    assert_refused(capsys.readouterr().err)
    assert not out.exists()


def test_files_and_the_environment_are_checked_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = tmp_path / "plants.txt"
    listed.write_text(f"roof={A}\n# a comment\nnorth-{B[3:11]}={B}\n", encoding="utf-8")
    args = ["inverters", "--itr-file", str(listed), *NOWHERE]
    assert main(args) == 2
    assert_refused(capsys.readouterr().err)
    monkeypatch.setenv(ENV_VAR, f"{A},{A[:4]}-{A[4:8]}-x={B}")
    assert main(["inverters", *NOWHERE]) == 2
    assert_refused(capsys.readouterr().err)


def test_innocent_aliases_and_seven_characters_pass() -> None:
    plants = collect_plants([f"roof-{A[:7]}={A}", f"site 2024-10-02 inverter-7={B}"])
    assert [p.alias for p in plants] == [f"roof-{A[:7]}", "site 2024-10-02 inverter-7"]
