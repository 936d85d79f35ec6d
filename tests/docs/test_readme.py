"""The README stays true: every ``python`` block in it runs as written."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from tests.support import processes

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    done = processes.run([sys.executable, str(script)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_readme_schema_tables_match_the_writers() -> None:
    from lacecal_async.tables import INVERTER_LIST, INVERTERS, METER, PERIODS  # noqa: PLC0415

    text = README.read_text(encoding="utf-8")
    kinds = {"timestamp (UTC)": "timestamp"}
    documented = {
        (name, kinds.get(kind, kind), unit.replace("-", ""), null)
        for name, kind, unit, null in re.findall(
            r"^\| `(\w+)` \| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \|", text, re.MULTILINE
        )
    }
    written = {
        (c.name, c.kind, c.unit, c.null_when)
        for table in (METER, INVERTERS, PERIODS, INVERTER_LIST)
        for c in table.columns
    }
    assert documented == written


def test_readme_duckdb_query_sums_each_period_once(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    pytest.importorskip("pyarrow")
    from lacecal_async.testing import make_plants  # noqa: PLC0415
    from tests.support.cli import threaded_server  # noqa: PLC0415
    from tests.support.commands import run  # noqa: PLC0415

    (query,) = re.findall(r"```sql\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
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


def test_readme_postgres_example_runs_against_a_server(postgres_dsn: str, tmp_path: Path) -> None:
    (code,) = [block for block in BLOCKS if "PostgresStore(dsn)" in block]
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    done = processes.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, "LACECAL_DSN": postgres_dsn},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "['roof'] ['worker-1']\n"
