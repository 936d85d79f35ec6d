"""The command shows, writes and stores no identifier a server echoes (review 3, item 4).

`lacecal inverters` of plants whose inverter lists echo their own and each other's
identifiers (fullwidth, bold, spaced, split across fields): the table and the files (-o)
hold none. A server that echoes a plant's identifier in fullwidth letters in its error
bodies: `lacecal sync`'s stderr, the stored sync state (``last_error``) and `lacecal status`
(table and JSON) hold none either.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from lacecal_async.cli import main
from lacecal_async.testing import FakeLacecalServer
from tests.support.cli import threaded_server
from tests.support.echoing import INNOCENT, echoing_plants
from tests.support.raw_http import http_reply, threaded_raw_server
from tests.support.windows import assert_no_leak, fullwidth, math_bold

PLANTS = echoing_plants(seed=33)
A, B, C = PLANTS
ITRS = [plant.itr for plant in PLANTS]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLacecalServer]:
    with threaded_server(PLANTS) as running:
        yield running


def inverters(server: FakeLacecalServer, *more: str) -> list[str]:
    return ["inverters", A.itr, f"roof={B.itr}", C.itr, "--base-url", server.base_url, *more]


def test_the_inverters_table_shows_no_echoed_identifier(
    server: FakeLacecalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(inverters(server, "--rate", "100/1")) == 0
    captured = capsys.readouterr()
    assert_no_leak(captured.out, ITRS)
    assert_no_leak(captured.err, ITRS)
    assert f"Tejado ...{A.itr[-4:]}" in captured.out
    assert INNOCENT[0].name in captured.out
    assert INNOCENT[1].name in captured.out
    assert len(captured.out.splitlines()) == 1 + 4 + 2 + 2


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_an_inverters_file_holds_no_echoed_identifier(
    server: FakeLacecalServer, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"inverters{suffix}"
    assert main(inverters(server, "--rate", "100/1", "-o", str(out))) == 0
    text = out.read_text(encoding="utf-8")
    # The plant column holds the full identifier of a plant without alias, by design:
    # drop it, and look at every other field.
    for itr in (A.itr, C.itr):
        text = text.replace(itr, "PLANT")
    assert_no_leak(text, ITRS)
    assert INNOCENT[0].name in text


def _echoing_errors(target: str) -> bytes:
    """500 to every request, its body echoing the plant's identifier in fullwidth and bold."""
    itr = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)["id"][0]
    body = f"plant {fullwidth(itr)} is unknown (nor {math_bold(itr.lower())})".encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")]
    return http_reply(500, "Server Error", [*headers, ("Content-Length", str(len(body)))], body)


def test_an_error_body_echoing_a_fullwidth_identifier_is_hidden_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.db"
    with threaded_raw_server(_echoing_errors) as url:
        args = ["sync", str(db), A.itr, f"roof={B.itr}", "--start", "2024-10-02", "-q"]
        assert main([*args, "--base-url", url, "--retries", "0", "--rate", "100/1"]) == 1
    err = capsys.readouterr().err
    assert_no_leak(err, ITRS)
    assert "is unknown" in err
    connection = sqlite3.connect(db)
    try:
        errors = [row[0] for row in connection.execute("SELECT last_error FROM sync_state")]
    finally:
        connection.close()
    assert len(errors) == 4
    for error in errors:
        assert "HTTP 500" in error
        assert_no_leak(error, ITRS)
    assert main(["status", str(db)]) == 1  # failing plants: a warning
    table = capsys.readouterr().out
    assert "is unknown" in table
    assert_no_leak(table, ITRS)
    assert main(["status", str(db), "--json"]) == 1
    objects = json.loads(capsys.readouterr().out)
    assert_no_leak(json.dumps(objects, ensure_ascii=False), ITRS)
    assert_no_leak(json.dumps(objects), ITRS)
    assert_no_leak(db.read_bytes().decode("utf-8", "replace"), ITRS)
