"""MkDocs hooks: the pages that are generated at build time, so they cannot go stale.

``<!-- generated: cli -->`` becomes the ``--help`` of ``lacecal`` and of each command, from the
argparse parser itself; ``<!-- generated: benchmarks -->`` becomes the table of the latest
benchmark run, ``benchmarks/results/latest.json``, naming the commit it was measured on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLI_MARK = "<!-- generated: cli -->"
BENCH_MARK = "<!-- generated: benchmarks -->"


def cli_reference() -> str:
    """Every command's ``--help``, as ``lacecal COMMAND --help`` prints it at 80 columns."""
    from lacecal_async.cli import build_parser  # noqa: PLC0415 - only when a page asks

    os.environ["COLUMNS"] = "80"  # argparse wraps to the terminal's width: the page's, here
    parser = build_parser()
    parts = ["## `lacecal`\n", "```text", f"$ lacecal --help\n{parser.format_help()}```\n"]
    commands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in commands:
        for name, sub in action.choices.items():
            help_text = sub.format_help()
            parts += [
                f"## `lacecal {name}`\n",
                "```text",
                f"$ lacecal {name} --help\n{help_text}```\n",
            ]
    return "\n".join(parts)


def commits_since(commit: str) -> str:
    """How many commits this checkout is past `commit`, when git can tell."""
    try:
        done = subprocess.run(  # noqa: S603
            ["git", "rev-list", "--count", f"{commit}..HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    count = int(done.stdout.strip() or 0)
    return f" This build is {count} commit{'s' if count != 1 else ''} after that run."


def benchmarks_table() -> str:
    """Return the latest run's table, its commit and date first."""
    latest = json.loads((ROOT / "benchmarks/results/latest.json").read_text(encoding="utf-8"))
    machine = latest["machine"]
    commit = machine["commit"] + (" (with uncommitted changes)" if machine.get("dirty") else "")
    note = (
        f"Every figure in this table is from one run of `{latest['command']}` at commit "
        f"`{commit}`, {machine['date']}.{commits_since(machine['commit'])}"
    )
    return f"{note}\n\n{latest['markdown']}\n"


def on_page_markdown(markdown: str, **_: Any) -> str:  # noqa: ANN401
    """Fill in the generated parts of a page."""
    if CLI_MARK in markdown:
        markdown = markdown.replace(CLI_MARK, cli_reference())
    if BENCH_MARK in markdown:
        markdown = markdown.replace(BENCH_MARK, benchmarks_table())
    return markdown
