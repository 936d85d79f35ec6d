"""``python -m benchmarks``: measure the client against the limits that bound it.

Runs every section (about 3 minutes on 2 cores), prints a markdown table and writes it with
the machine it came from as JSON (default ``benchmarks/results/latest.json``, only for a
complete run; ``--output`` for any). ``--smoke`` runs tiny versions of every section in
~15 s, to check that they run (CI); its figures mean nothing. ``--only SECTION`` (repeatable)
runs some sections. Exit status 1 if a section failed to run (a missed target is not a
failure: it is a figure to report).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from benchmarks._common import ROOT, Row

#: Section name -> (module, what it measures), in the order they run and print.
SECTIONS: dict[str, tuple[str, str]] = {
    "decode": ("benchmarks.bench_decode", "records/s of decode, beside parsers and typed decoders"),
    "schedule": ("benchmarks.bench_schedule", "wall time, requests and 429s vs the rate limit"),
    "overhead": ("benchmarks.bench_overhead", "stream_many unlimited vs bare aiohttp + orjson"),
    "gc": ("benchmarks.bench_gc", "lacecal fetch CPU per million records, GC tuned or not"),
    "scale": ("benchmarks.bench_scale", "peak RSS of fetch_many and stream_many at scale"),
    "latency": ("benchmarks.bench_latency", "time to records of a short fetch on a fresh ITR"),
    "server": ("benchmarks.bench_server", "pages/s the fake server serves (not a bottleneck?)"),
    "postgres": (
        "benchmarks.bench_postgres",
        "rows/s upserted into PostgreSQL, size per plant-year",
    ),
    "follow": (
        "benchmarks.bench_follow",
        "500 plants followed on a scaled clock: poll spread, 429s, delay to store",
    ),
    "plants": (
        "benchmarks.bench_plants",
        "100,000 plants followed: RSS per idle plant, CPU per poll, lateness (5,000 traced)",
    ),
    "sync": ("benchmarks.bench_sync", "records/s of a lacecal sync backfill beside fetch to CSV"),
    "stats": (
        "benchmarks.bench_stats",
        "records/s rolled up from a plant-year store, beside a SQL GROUP BY of the same rows",
    ),
    "fleet": (
        "benchmarks.bench_fleet",
        "records/s and plants per host of a PostgreSQL fleet backfill, --workers 2 vs 1",
    ),
    "capacity": (
        "benchmarks.bench_capacity",
        "bytes per stored record; 1,000,000 plants' commits simulated on PostgreSQL",
    ),
}
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "latest.json"
_PACKAGES = ("aiohttp", "attrs", "cattrs", "orjson", "msgspec", "pydantic", "lacecal_async")


def machine() -> dict[str, Any]:
    """Where the figures come from: CPU, cores, Python, packages, commit, date."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    packages: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": f"{platform.system()} {platform.release()}",
        "packages": packages,
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments
            ["git", *args],  # noqa: S607 - git from PATH is the point
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def normalise(section: str, raw: dict[str, Any]) -> Row:
    """Give rows of any section the common shape (name, value, unit, baseline, ratio, ...)."""
    if "value" in raw:
        return {"section": section, **raw}
    extra = dict(raw)
    name = str(extra.pop("name", None) or extra.pop("benchmark", "?"))
    if "records_per_s" in extra:  # bench_decode: ratios to msgspec and pydantic
        value = extra.pop("records_per_s")
        ratio = extra.pop("ratio_to_msgspec", None)
        baseline = round(value / ratio) if ratio else None
        return {
            "section": section,
            "name": name,
            "value": value,
            "unit": "records/s",
            "baseline": baseline,
            "baseline_name": "msgspec typed" if baseline else None,
            "ratio": ratio,
            "target": extra.pop("target", None),
            "met": extra.pop("met", None),
            **{k: v for k, v in extra.items() if k != "section"},
        }
    if "pages_per_s" in extra:  # bench_server
        return {
            "section": section,
            "name": name,
            "value": extra.pop("pages_per_s"),
            "unit": "pages/s",
            "baseline": None,
            "baseline_name": None,
            "ratio": None,
            "target": None,
            "met": None,
            **extra,
        }
    raise ValueError(f"{section}: a row without a value: {raw}")


def run_sections(names: Sequence[str], smoke: bool) -> dict[str, Any]:
    """Run the sections; a failing one records its error and the others still run."""
    results: dict[str, Any] = {}
    for name in names:
        module_name, about = SECTIONS[name]
        print(f"-- {name}: {about}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(module_name)
            runner: Callable[[bool], list[dict[str, Any]]] = module.run
            rows = [normalise(name, raw) for raw in runner(smoke)]
        except Exception as exc:
            traceback.print_exc()
            results[name] = {
                "about": about,
                "seconds": round(time.perf_counter() - started, 1),
                "error": f"{type(exc).__name__}: {exc}",
                "rows": [],
            }
            continue
        seconds = round(time.perf_counter() - started, 1)
        print(f"   {name}: {len(rows)} rows in {seconds} s", file=sys.stderr, flush=True)
        results[name] = {"about": about, "seconds": seconds, "rows": rows}
    return results


def _figure(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 100:
            return f"{int(value):,}"
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _ratio(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else ""


def markdown(report: dict[str, Any]) -> str:
    """The docs' performance table: one row per figure, with its baseline, ratio and target."""
    m = report["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']} on {m['system']}; "
        f"commit {m['commit']}{' (dirty)' if m['dirty'] else ''}, {m['date']}"
        f"{'; SMOKE RUN: figures mean nothing' if report['smoke'] else ''}; "
        f"whole run {report['seconds']:.0f} s.",
        "",
        "| Section | Measure | Value | Baseline | Ratio | Target | Met |",
        "|---|---|---:|---|---:|---|---|",
    ]
    for name, section in report["sections"].items():
        if "error" in section:
            lines.append(f"| {name} | **did not run**: {section['error']} | | | | | |")
        for r in section["rows"]:
            value = f"{_figure(r['value'])} {r['unit']}"
            baseline = ""
            if r.get("baseline") is not None:
                baseline = (
                    f"{_figure(r['baseline'])} {r['unit']}: {r.get('baseline_name') or 'baseline'}"
                )
            met = {True: "yes", False: "**no**", None: ""}[r.get("met")]
            lines.append(
                f"| {name} | {r['name']} | {value} | {baseline} | "
                f"{_ratio(r.get('ratio'))} | {r.get('target') or ''} | {met} |"
            )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny runs that only check it works")
    parser.add_argument(
        "--only", action="append", choices=list(SECTIONS), help="run this section (repeatable)"
    )
    parser.add_argument("--output", type=Path, help=f"JSON path (default: {DEFAULT_OUTPUT})")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    names = options.only or list(SECTIONS)
    started = time.perf_counter()
    sections = run_sections(names, options.smoke)
    report: dict[str, Any] = {
        "command": "python -m benchmarks" + (" --smoke" if options.smoke else ""),
        "smoke": options.smoke,
        "machine": machine(),
        "seconds": round(time.perf_counter() - started, 1),
        "sections": sections,
    }
    report["markdown"] = markdown(report)
    print(report["markdown"])
    output = options.output
    if output is None and not options.smoke and options.only is None:
        output = DEFAULT_OUTPUT
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwritten to {output}", file=sys.stderr)
    return 1 if any("error" in s for s in sections.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
