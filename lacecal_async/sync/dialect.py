"""What really differs between the stores' two databases, and nothing else.

The core (`lacecal_async.sync.core`) writes each statement once, in PostgreSQL's notation
with standard ``CAST``: ``$n`` parameters, ``column = ANY($n)`` for a list parameter, row
locks (``FOR NO KEY UPDATE``...) and ``COLLATE "C"``. A `Dialect` renders it for its
database: SQLite numbers its parameters ``?n``, reads a list parameter (sent as JSON) with
``json_each``, takes no row locks (its write transaction locks the whole file), and
calls bytewise order ``BINARY``. It also says how a period's ``start`` is stored: ISO 8601
text in SQLite, ``timestamptz`` (which keeps no offset) in PostgreSQL.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, cast

import attrs

from lacecal_async.tables import Row, Table

__all__ = ["POSTGRES", "SQLITE", "Dialect"]

_LIST_PARAM = re.compile(r"([\w.]+) = ANY\(\$(\d+)\)")
_ROW_LOCK = re.compile(r" FOR (?:NO KEY UPDATE|KEY SHARE|UPDATE)(?: SKIP LOCKED)?")
_PARAM = re.compile(r"\$(\d+)")


@functools.cache
def _at(offset: int) -> timezone:
    return timezone(timedelta(seconds=offset))


@attrs.frozen
class Dialect:
    """How one database says the core's statements and stores a period's start."""

    name: str
    #: The start is a ``timestamptz`` (else ISO 8601 text with the plant's offset).
    timestamps: bool

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - two instances, module-wide
    def sql(self, statement: str) -> str:
        """Return the core's `statement` in this dialect."""
        if self.timestamps:
            return statement
        statement = _LIST_PARAM.sub(r"\1 IN (SELECT value FROM json_each($\2))", statement)
        statement = _ROW_LOCK.sub("", statement).replace('COLLATE "C"', "COLLATE BINARY")
        return _PARAM.sub(r"?\1", statement)

    def args(self, args: Sequence[Any]) -> Sequence[Any]:
        """Return a statement's parameters as the driver sends them (lists as JSON in SQLite)."""
        if self.timestamps or not any(isinstance(a, list) for a in args):
            return args
        return [json.dumps(a) if isinstance(a, list) else a for a in args]

    def rows_in(self, table: Table, rows: Sequence[Row]) -> Sequence[Row]:
        """Return a data table's `rows` as the database stores them (`start` as it keeps it)."""
        names = table.names
        if self.timestamps or "start" not in names:
            return rows
        at = names.index("start")
        return [(*row[:at], cast("datetime", row[at]).isoformat(), *row[at + 1 :]) for row in rows]

    def start_out(self, start: Any, offset: int) -> datetime:  # noqa: ANN401 - as stored
        """Return a stored `start` as the record had it: at the plant's `offset` [s]."""
        if self.timestamps:
            return start.astimezone(_at(offset))  # type: ignore[no-any-return]
        return datetime.fromisoformat(start)


SQLITE = Dialect("sqlite", timestamps=False)
POSTGRES = Dialect("postgresql", timestamps=True)
