"""`RecordSource`: the reading half of a sync store, as its readers need it.

Statistics, exports and the `Store` protocol share this one description, so the stores
(`SQLiteStore`, `PostgresStore`) have one reading contract, and readers below the `sync`
layer (`lacecal_async.stats_store`) can take a store without importing it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from lacecal_async.endpoints import Endpoint
from lacecal_async.records import InverterRecord, MeterRecord
from lacecal_async.tables import Row, Table

__all__ = ["RecordSource"]


class RecordSource(Protocol):
    """What reads a store's committed periods: its rows, or its records as the client gave them."""

    def read_rows(
        self,
        table: Table,
        *,
        plants: Sequence[str] | None = None,
        start: int | None = None,
        end: int | None = None,
        batch: int = ...,
    ) -> AsyncIterator[list[Row]]:
        """Yield a table's rows in batches, ordered by plant and time (then inverter).

        `plants` keeps those plants only; `start` / `end` keep periods in ``[start, end)``.
        """

    def read_records(
        self,
        endpoint: Endpoint,
        *,
        plants: Sequence[str] | None = None,
        start: int | None = None,
        end: int | None = None,
        batch: int = ...,
    ) -> AsyncIterator[tuple[str, list[MeterRecord] | list[InverterRecord]]]:
        """Yield ``(plant, records)`` batches of a timed endpoint, ordered by plant and time.

        The records are those committed, as the client gave them (an inverter record's
        inverters by id): ``lacecal export`` writes them as ``lacecal fetch`` does.
        """
