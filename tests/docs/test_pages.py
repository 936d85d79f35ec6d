"""The docs' other claims stay true: tables, the SQL query, command lines, extras, links."""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import os
import re
import shlex
import sys
import tomllib
from pathlib import Path

import pytest

from lacecal_async import LacecalClient
from lacecal_async.cli import build_parser
from tests.support import processes
from tests.support.docs import PAGES, ROOT, blocks, page


def test_schema_tables_match_the_writers() -> None:
    from lacecal_async.tables import INVERTER_LIST, INVERTERS, METER, PERIODS  # noqa: PLC0415

    kinds = {"timestamp (UTC)": "timestamp"}
    documented = {
        (name, kinds.get(kind, kind), unit.replace("-", ""), null)
        for name, kind, unit, null in re.findall(
            r"^\| `(\w+)` \| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \|",
            page("docs/reference/schema.md"),
            re.MULTILINE,
        )
    }
    written = {
        (c.name, c.kind, c.unit, c.null_when)
        for table in (METER, INVERTERS, PERIODS, INVERTER_LIST)
        for c in table.columns
    }
    assert documented == written


def test_duckdb_query_sums_each_period_once(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    pytest.importorskip("pyarrow")
    from lacecal_async.testing import make_plants  # noqa: PLC0415
    from tests.support.cli import threaded_server  # noqa: PLC0415
    from tests.support.commands import run  # noqa: PLC0415

    (query,) = [block.code for block in blocks("sql")]
    plants = make_plants(2, seed=15, start=1729900800, days=3)  # 2024-10-26: DST on the 27th
    with threaded_server(plants) as fake:
        done = run(
            *("fetch", "inverter", *(f"p{i}={p.itr}" for i, p in enumerate(plants))),
            *("--start", "2024-10-26", "--end", "2024-10-29", "--base-url", fake.base_url),
            *("--rate", "100/0.1", "-q", "-o", str(tmp_path / "inverter.parquet")),
        )
    assert done.returncode == 0, done.stderr
    connection = duckdb.connect()
    connection.execute(f"SET file_search_path = '{tmp_path}'")
    got = connection.execute(query.replace(" LIMIT 4", "")).fetchall()
    want: dict[tuple[str, str], list[float]] = {}
    for i, plant in enumerate(plants):
        for record in plant.inverter_records(1729893600, 1730156400):
            want.setdefault((f"p{i}", str(record.start.date())), []).append(record.total_energy)
    assert [(p, str(day), kwh, n) for p, day, kwh, n in got] == [
        (p, day, round(sum(values), 3), len(values)) for (p, day), values in sorted(want.items())
    ]
    assert {n for *_, n in got} >= {150}  # 2024-10-27 has 25 local hours


def test_postgres_example_prints_its_lease(postgres_dsn: str, tmp_path: Path) -> None:
    (code,) = [block.code for block in blocks("python") if "lease_plants" in block.code]
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "LACECAL_DSN": postgres_dsn}
    done = processes.run([sys.executable, str(script)], cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "['roof'] ['worker-1']\n"


def _command_lines() -> list[tuple[str, str]]:
    """Every ``lacecal`` command shown: ``$ lacecal ...`` in transcripts, ExecStart= in units."""
    found = []
    for block in blocks("text") + blocks("") + blocks("ini") + blocks("sh"):
        text = re.sub(r"\\\n\s*", " ", block.code)  # continuation lines
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("$ lacecal "):
                command = line.removeprefix("$ lacecal ")
            elif line.startswith("ExecStart=") and "/lacecal " in line:
                command = line.split("/lacecal ", 1)[1]
            else:
                continue
            command = re.split(r" \| | ; |; | &$", command)[0]
            command = command.replace("${LACECAL_DSN}", "postgresql://lacecal@db.internal/solar")
            found.append((block.name, command))
    return found


COMMANDS = _command_lines()


def test_the_docs_show_commands() -> None:
    assert len(COMMANDS) >= 25
    shown = {command.split()[0] for _, command in COMMANDS}
    assert shown >= {"fetch", "serve", "sync", "status", "export", "stats", "inverters"}


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_every_command_shown_parses(where: str, command: str) -> None:
    """A command line a reader copies is one the parser accepts: no renamed option."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            build_parser().parse_args(shlex.split(command))
        except SystemExit as exc:
            pytest.fail(f"{where}: lacecal {command}\n{stderr.getvalue()} (exit {exc.code})")


def test_every_command_shown_has_one_spelling() -> None:
    """``--endpoint``, ``--start``/``--end``: no old spelling the parser still takes quietly."""
    old = [
        f"{where}: lacecal {command}"
        for where, command in COMMANDS
        if {"--since", "--until"} & set(shlex.split(command))
        or re.match(r"fetch (meter|inverter)\b", command)
    ]
    assert old == []


def test_the_documented_constructor_is_the_real_one() -> None:
    (documented,) = re.findall(
        r"`LacecalClient\((.*?)\)`", page("docs/tutorial/first-fetch.md"), re.DOTALL
    )
    names = [name for name in re.findall(r"(\w+)=", documented) if name != "session"]
    real = [
        name
        for name in inspect.signature(LacecalClient.__init__).parameters
        if name not in {"self", "session"}
    ]
    assert names == real


def test_every_extra_and_its_packages_are_listed() -> None:
    extras = tomllib.loads(page("pyproject.toml"))["project"]["optional-dependencies"]
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+) \|", page("docs/index.md"), re.MULTILINE))
    assert set(rows) == set(extras)
    for extra, requirements in extras.items():
        if extra == "dev":
            continue
        names = {re.split(r"[<>=;\s]", r, maxsplit=1)[0] for r in requirements}
        assert names == {n.strip() for n in rows[extra].split(",")}, extra


def test_readme_links_resolve() -> None:
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page("README.md")):
        assert (ROOT / target).exists(), target


def test_every_page_is_in_the_site() -> None:
    nav = page("mkdocs.yml")
    for path in PAGES[1:]:
        assert str(path.relative_to(ROOT / "docs")) in nav, path


#: One-off measurements the docs name by the commit they were made at (not benchmark runs),
#: and the previous full run (`b6318ab`), named where a figure is compared with it.
ONE_OFF_RUNS = {
    *("41b0fe9", "b562518", "65873e7", "b0eaf6b", "c50acf1", "078891e", "a8eb7da"),
    "b6318ab",
}


def test_figures_name_the_latest_benchmark_run() -> None:
    """A figure from the benchmarks names its run: a new latest.json makes the docs say so."""
    latest = json.loads(page("benchmarks/results/latest.json"))["machine"]["commit"]
    named = {
        commit
        for path in PAGES
        for commit in re.findall(r"`([0-9a-f]{7})`", path.read_text(encoding="utf-8"))
    }
    assert latest in named
    assert named - {latest} <= ONE_OFF_RUNS, "figures from an older run: update them"
