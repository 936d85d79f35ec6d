"""`python -m benchmarks --smoke` runs every section and writes numeric figures (no speeds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import SECTIONS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_smoke_run_writes_every_section(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "benchmarks", "--smoke", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
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
