"""A column someone added to a data table by hand (a DBA's audit column): refused at open.

Pages go to PostgreSQL as one array of the table's row type
(``SELECT * FROM unnest($n::meter[])``), so the statement depends on the table's whole
physical row, not on the columns the store names. Before, one extra nullable column (which
the column arrays of before ignored) made every `commit_page` fail with a raw asyncpg
``PostgresSyntaxError: INSERT has more expressions than target columns``, not a
`StoreError`: a fleet worker crashed on it, page after page. Now the store checks the row
at open and refuses with a `StoreError` naming the columns.
"""

from __future__ import annotations

import asyncpg
import pytest

from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import PostgresStore, StoreError
from lacecal_async.tables import METER
from tests.support.stores import KEY, meter_pages, page_state


async def _execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("table", "column"),
    [("meter", "loaded_at timestamptz DEFAULT now()"), ("inverter", "note text")],
)
async def test_a_data_table_with_a_column_added_by_hand_is_refused_at_open(
    postgres_dsn: str, table: str, column: str
) -> None:
    pages = meter_pages()
    async with PostgresStore(postgres_dsn) as store:
        await store.add_plant(KEY)
        await store.commit_page(KEY, Endpoint.METER, pages[0], page_state(pages[0]), now=1.0)
    await _execute(postgres_dsn, f"ALTER TABLE {table} ADD COLUMN {column}")
    for create in (True, False):
        with pytest.raises(StoreError, match=rf"the table {table} has the columns \(.*, \w+\)"):
            await PostgresStore(postgres_dsn, create=create).open()
    # Put back as it was, the store opens and its pages land.
    await _execute(postgres_dsn, f"ALTER TABLE {table} DROP COLUMN {column.split(maxsplit=1)[0]}")
    async with PostgresStore(postgres_dsn) as store:
        await store.commit_page(KEY, Endpoint.METER, pages[1], page_state(pages[1]), now=2.0)
        rows = [row async for batch in store.read_rows(METER) for row in batch]
    assert len(rows) == len(pages[0]) + len(pages[1])
