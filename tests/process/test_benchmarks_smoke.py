"""`python -m benchmarks --smoke` runs every section and writes numeric figures (no speeds).

The sections run in a few groups, one run of the real command each, so that pytest's
workers share them: all of them in one run took ~80 s on 2 quiet cores and two and a half
minutes beside the rest of the suite, longer than any other test. The groups together are
every section. A group takes ~15 s quiet, minutes on a loaded machine: the cap is pytest's
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
#: The sections in groups of about the same time (seconds on 2 quiet cores in brackets).
GROUPS = (
    ("fleet", "capacity"),  # 10 + 5
    ("plants", "follow", "postgres"),  # 8 + 4 + 3
    ("scale", "schedule", "server", "gc"),  # 9 + 3 + 2 + 1
    ("sync", "overhead", "decode", "latency", "stats"),  # 10 + 1 + 1 + 1 + 1
)


def test_the_groups_are_every_section_once() -> None:
    named = [name for group in GROUPS for name in group]
    assert sorted(named) == sorted(SECTIONS)


@pytest.mark.slow
@pytest.mark.timeout(CAP)
@pytest.mark.parametrize("group", GROUPS, ids="+".join)
def test_a_smoke_run_of_each_group_writes_its_sections(
    tmp_path: Path, group: tuple[str, ...]
) -> None:
    output = tmp_path / "bench.json"
    only = [arg for name in group for arg in ("--only", name)]
    done = processes.run(
        [sys.executable, "-m", "benchmarks", "--smoke", *only, "--output", str(output)],
        cwd=ROOT,
        timeout=CAP - 30,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["smoke"] is True
    assert report["machine"]["cpu"]
    assert report["machine"]["python"]
    assert list(report["sections"]) == list(group)
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
