"""`python -m benchmarks --smoke` runs every section and writes numeric figures (no speeds).

It takes ~20 s on 2 quiet cores, minutes on a loaded machine: the cap is pytest's
timeout, and whichever way the run ends its process group (and the servers it started,
through its lifeline) is gone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import SECTIONS
from tests.support import processes

ROOT = Path(__file__).resolve().parents[2]


#: A cap for a hung run (pytest's timeout is the same): a slow machine is no failure.
CAP = 600


@pytest.mark.slow
@pytest.mark.timeout(CAP)
def test_smoke_run_writes_every_section(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    done = processes.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--output", str(output)],
        cwd=ROOT,
        timeout=CAP - 30,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["smoke"] is True
    assert report["machine"]["cpu"]
    assert report["machine"]["python"]
    assert set(report["sections"]) == set(SECTIONS)
    for name, section in report["sections"].items():
        assert "error" not in section, (name, section.get("error"))
        assert section["rows"], name
        for row in section["rows"]:
            assert row["name"]
            assert row["unit"]
            assert isinstance(row["value"], int | float), (name, row)
            assert not isinstance(row["value"], bool)
            if row["baseline"] is not None:
                assert isinstance(row["baseline"], int | float), (name, row)
    assert "| Section | Measure |" in report["markdown"]
    assert "| Section | Measure |" in done.stdout
