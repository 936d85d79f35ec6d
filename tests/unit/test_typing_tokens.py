"""mypy --strict reads a token's record type: one signature, no overload per endpoint.

typing_checks.py asserts the types inside the project's own mypy run; this test runs mypy on
a small program and reads what it reveals and refuses, so a lost type fails pytest too.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.support import processes
from tests.support.docs import ROOT

PROGRAM = """\
from lacecal_async import INVERTER, METER, InverterRecord, LacecalClient, decode

async def main(client: LacecalClient, itrs: list[str]) -> None:
    reveal_type(await client.fetch_many(itrs, METER))
    reveal_type(client.stream_many(itrs, INVERTER))
    reveal_type(await client.latest_many(itrs, INVERTER))
    reveal_type(decode(METER, b"[]"))
    reveal_type(await client.fetch_many(itrs, "meter"))
    wrong: tuple[InverterRecord, ...] = (await client.fetch_many(itrs, METER))["x"].records
"""

# mypy's names, without the module prefixes (older releases print "builtins.dict").
REVEALED = [
    "dict[str, FetchResult[MeterRecord]]",
    "AsyncGenerator[PageEvent[InverterRecord] | ItrDone | ItrFailed, None]",
    "dict[str, LatestResult[InverterRecord]]",
    "tuple[MeterRecord, ...]",
    "dict[str, FetchResult[Any]]",
]
_PREFIX = re.compile(r"\b(?:builtins|typing|lacecal_async\.events|lacecal_async\.records)\.")


@pytest.mark.slow
def test_mypy_types_each_call_by_its_token(tmp_path: Path) -> None:
    (tmp_path / "program.py").write_text(PROGRAM, encoding="utf-8")
    cache = ROOT / ".mypy_cache" / "typing-tokens"
    command = [sys.executable, "-m", "mypy", "--strict", "--python-version", "3.11"]
    done = processes.run(
        [*command, "--cache-dir", str(cache), "program.py"], cwd=tmp_path, timeout=600
    )
    revealed = [_PREFIX.sub("", t) for t in re.findall(r'Revealed type is "(.*)"', done.stdout)]
    assert len(revealed) == len(REVEALED), done.stdout
    assert revealed == REVEALED, done.stdout
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, done.stdout  # only the wrong record type is refused
    assert errors[0].startswith("program.py:9: error: Incompatible types in assignment")
    assert "MeterRecord" in errors[0], errors[0]
