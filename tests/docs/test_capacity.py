"""The fleet plan stays true: its table is what its code prints from the figures it names.

The page's ``python`` block also runs with every other docs example (test_examples).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from typing import Any

import pytest

from tests.support.docs import ROOT, blocks, page

PAGE = "docs/explanation/capacity.md"


def _plan() -> tuple[dict[str, Any], str]:
    """Run the page's plan block in this process: its names and what it printed."""
    (block,) = blocks("python", (ROOT / PAGE,))
    names: dict[str, Any] = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block.code, block.name, "exec"), names)  # noqa: S102 - the page's own code
    return names, printed.getvalue()


def _rows(results: str, section: str) -> dict[str, float]:
    report = json.loads(page(results))
    return {row["name"]: row["value"] for row in report["sections"][section]["rows"]}


def test_the_plan_table_is_what_its_code_prints() -> None:
    _, printed = _plan()
    assert printed.count("\n") == 13  # a header, its rule and 11 rows
    assert printed in page(PAGE)


def test_the_plans_inputs_are_the_measured_figures() -> None:
    names, _ = _plan()
    capacity = _rows("benchmarks/results/capacity.json", "capacity")
    commit = json.loads(page("benchmarks/results/capacity.json"))["machine"]["commit"]
    assert commit in page(PAGE)
    assert names["BYTES"] == {
        "SQLite": round(capacity["SQLite: bytes per meter record (table + indexes)"]),
        "PostgreSQL": round(capacity["PostgreSQL: bytes per meter record (table + indexes)"]),
    }
    (only,) = [name for name in capacity if "commits only: workers' CPU" in name]
    assert names["PG_COMMIT_CPU"] == pytest.approx(capacity[only] / 1e3)
    assert names["PG_SERVER_CPU"] == pytest.approx(
        capacity[only.replace("workers' CPU", "PostgreSQL's CPU")] / 1e3
    )
    assert names["WAL"] == capacity[only.replace("workers' CPU", "WAL")]
    # the plants section's 100,000-plant figures, as the scale page gives them
    scale = page("docs/explanation/scale.md")
    assert f"**{names['POLL_CPU'] * 1e3:.2f} ms**" in scale
    assert f"{names['CATCH_UP_CPU'] * 1e3:.2f} ms" in scale
    assert f"**{names['PLANT_BYTES']:,} bytes**" in scale
    # the latest full run's plants one core keeps up with, as performance.md gives them
    overhead = _rows("benchmarks/results/latest.json", "overhead")
    per_core = overhead["meter: plants one core keeps up with at the full rate limit"]
    assert names["BACKFILL_A_CORE"] == pytest.approx(int(per_core) * 14.4)


def test_the_lease_renewal_cost_is_derived_from_the_two_slices() -> None:
    names, _ = _plan()
    simulated = {
        sim["lease_rounds_run"]: sim
        for row in json.loads(page("benchmarks/results/capacity.json"))["sections"]["capacity"][
            "rows"
        ]
        if (sim := row.get("simulation"))
    }
    without, with_rounds = simulated[False], simulated[True]
    attempts = with_rounds["commits"] + sum(with_rounds["errors"].values())
    renewals = with_rounds["lease_rounds"] * with_rounds["plants"] // with_rounds["workers"]
    extra_cpu = (
        with_rounds["server_cpu_ms_per_commit"] - without["server_cpu_ms_per_commit"]
    ) / 1e3
    extra_wal = with_rounds["wal_bytes_per_commit"] - without["wal_bytes_per_commit"]
    assert names["RENEW_CPU"] == pytest.approx(extra_cpu * attempts / renewals, rel=0.01)
    assert names["RENEW_WAL"] == pytest.approx(extra_wal * attempts / renewals, rel=0.01)
    shown = re.search(r"\| commits/s achieved \(target ([\d,]+)\) \| ([\d,]+) ", page(PAGE))
    assert shown is not None
    assert shown.groups() == (
        f"{round(without['target_per_s']):,}",
        f"{round(without['achieved_per_s']):,}",
    )
