"""The docs stay true: every ``python`` block of the README and of docs/ runs as written.

Each runs in a fresh interpreter under ``-X dev`` with ResourceWarning an error and no
warning printed; together they pass ``mypy --strict`` (the slow test below).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from tests.support import processes
from tests.support.docs import ROOT, Block, blocks

PYTHON = blocks("python")


def test_the_docs_have_examples() -> None:
    assert len(PYTHON) >= 15
    assert {block.page.name for block in PYTHON} >= {"README.md", "first-fetch.md"}


@pytest.mark.parametrize("block", PYTHON, ids=[block.name for block in PYTHON])
def test_example_runs_without_a_warning(
    block: Block, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = dict(os.environ)
    if "LACECAL_DSN" in block.code or "TemporaryPostgres" in block.code:
        # PostgreSQL examples run against a throwaway server (skipped where none can start,
        # as the store tests are; a failure under CI)
        env["LACECAL_DSN"] = request.getfixturevalue("postgres_dsn")
    script = tmp_path / "example.py"
    script.write_text(block.code, encoding="utf-8")
    command = [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", str(script)]
    done = processes.run(command, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr


MYPY_CONFIG = """\
[mypy]
strict = True
python_version = 3.11
[mypy-homeassistant.*]
ignore_missing_imports = True
"""


@pytest.mark.slow
def test_examples_pass_mypy_strict(tmp_path: Path) -> None:
    for i, block in enumerate(PYTHON):
        (tmp_path / f"example_{i:03d}.py").write_text(block.code, encoding="utf-8")
    (tmp_path / "mypy.ini").write_text(MYPY_CONFIG, encoding="utf-8")
    command = [sys.executable, "-m", "mypy", "--config-file", str(tmp_path / "mypy.ini")]
    cache = ROOT / ".mypy_cache" / "docs-examples"
    done = processes.run(
        [*command, "--cache-dir", str(cache), str(tmp_path)], cwd=tmp_path, timeout=600
    )
    # example_007.py:12: error ... -> docs/how-to/exports.md:131: error ... (the page's line)
    report = re.sub(
        r"example_(\d{3})\.py:(\d+)",
        lambda m: f"{where(PYTHON[int(m[1])], int(m[2]))}",
        done.stdout,
    )
    assert done.returncode == 0, report


def where(block: Block, line: int) -> str:
    """``page:line`` of a block's `line` (1 is the line after the opening fence)."""
    return f"{block.page.relative_to(ROOT)}:{block.line + line}"
