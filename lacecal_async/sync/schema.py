"""The stores' schema, described once and rendered per database as numbered migrations.

Version N of a store's schema is its first N migrations: SQLite counts them in ``PRAGMA
user_version``, PostgreSQL in a ``schema_version`` row per migration. A store runs the
missing ones in one transaction when it opens a database, and refuses one whose version
is higher than it knows. Never edit a released migration: append one.

The data tables are the command's export tables (`lacecal_async.tables`): same columns,
names and units, and a column is NOT NULL where the schema says it is never empty.
Inverter data is ``inverter`` (one row per inverter and period) and ``inverter_periods``
(one row per period, with the plant's total; the export's ``periods`` file), so ``SUM``
counts each period once. The two databases differ in their types only:

- SQLite: ``start`` is ISO 8601 text with the plant's offset; tables are STRICT (a value of
  the wrong type is an error, not silently stored) and the data tables WITHOUT ROWID (rows
  live in their primary key's b-tree: no second index).
- PostgreSQL: ``start`` is ``timestamptz`` beside ``unix_time bigint``, energies ``double
  precision``, periods and offsets ``integer``; plant keys and endpoints sort bytewise
  (``COLLATE "C"``), as in SQLite, whatever the database's locale. The store's own times
  (``first_seen``, ``next_poll``...) are ``double precision`` UNIX seconds from the sync
  engine's clock, which may be scaled or fake; lease and heartbeat times are
  ``timestamptz`` from the database's clock, the one clock every worker of a fleet shares.
  The fleet's tables (leases, workers, refusals) exist in PostgreSQL only.
"""

from __future__ import annotations

import attrs

from lacecal_async.tables import INVERTER_LIST, INVERTERS, METER, PERIODS, Column, Table

__all__ = [
    "POSTGRES_MIGRATIONS",
    "SQLITE_MIGRATIONS",
    "TABLE_NAMES",
    "Types",
    "column_type",
]

#: The store's table of each export table (the export's ``periods`` names no endpoint).
TABLE_NAMES: dict[Table, str] = {
    METER: "meter",
    INVERTERS: "inverter",
    PERIODS: "inverter_periods",
    INVERTER_LIST: "inverters",
}
_SMALL_INTS = frozenset({"utc_offset_s", "interval_s", "inverter_count"})


@attrs.frozen
class Types:
    """A database's names for the schema's types, and how its tables end."""

    text: str
    int: str
    bigint: str
    real: str
    timestamp: str
    #: After a table's closing parenthesis (SQLite: STRICT), and a data table's.
    table_end: str
    data_end: str

    def column(self, column: Column) -> str:
        """Return the type of an export column."""
        if column.kind == "string":
            return self.text
        if column.kind == "timestamp":
            return self.timestamp
        if column.kind == "float64":
            return self.real
        return self.int if column.name in _SMALL_INTS else self.bigint


_SQLITE = Types("TEXT", "INTEGER", "INTEGER", "REAL", "TEXT", " STRICT", " STRICT, WITHOUT ROWID")
_POSTGRES = Types(
    'text COLLATE "C"', "integer", "bigint", "double precision", "timestamptz", "", ""
)


def column_type(column: Column) -> str:
    """Return the PostgreSQL type of an export column."""
    return _POSTGRES.column(column)


def _columns(types: Types, table: Table) -> str:
    return ",\n    ".join(
        f"{c.name} {types.column(c)}{' NOT NULL' if c.null_when == 'never' else ''}"
        for c in table.columns
    )


def _data_table(types: Types, table: Table, *constraints: str) -> str:
    return (
        f"CREATE TABLE {TABLE_NAMES[table]} (\n    {_columns(types, table)},\n"
        f"    PRIMARY KEY ({', '.join(table.key)}),\n"
        + "".join(f"    {constraint},\n" for constraint in constraints)
        + f"    FOREIGN KEY (plant) REFERENCES plants (plant)\n){types.data_end}"
    )


def _core_v1(t: Types) -> tuple[str, ...]:
    """Plants, their records, sync state and holes."""
    endpoint = "endpoint {0} NOT NULL CHECK (endpoint IN ('meter', 'inverter'))"
    return (
        f"""CREATE TABLE plants (
    plant {t.text} PRIMARY KEY,
    fingerprint {t.text} NOT NULL UNIQUE,
    alias {t.text} UNIQUE,
    added_at {t.real} NOT NULL,
    CHECK (plant = coalesce(alias, fingerprint))
){t.table_end}""",
        _data_table(t, METER, "CHECK (interval_s > 0)"),
        _data_table(t, PERIODS, "CHECK (interval_s > 0)", "CHECK (inverter_count >= 0)"),
        _data_table(
            t,
            INVERTERS,
            "CHECK (interval_s > 0)",
            "FOREIGN KEY (plant, unix_time) REFERENCES inverter_periods (plant, unix_time)",
        ),
        f"""CREATE TABLE inverters (
    {_columns(t, INVERTER_LIST)},
    updated_at {t.real} NOT NULL,
    PRIMARY KEY (plant, inverter_id),
    FOREIGN KEY (plant) REFERENCES plants (plant)
){t.table_end}""",
        f"""CREATE TABLE sync_state (
    plant {t.text} NOT NULL REFERENCES plants (plant),
    {endpoint.format(t.text)},
    latest {t.bigint},
    interval_s {t.int} CHECK (interval_s > 0),
    next_poll {t.real},
    failures {t.int} NOT NULL CHECK (failures >= 0),
    last_error {t.text.split()[0]},
    last_error_at {t.real},
    since {t.bigint},
    updated_at {t.real} NOT NULL,
    PRIMARY KEY (plant, endpoint)
){t.table_end}""",
        f"""CREATE TABLE holes (
    plant {t.text} NOT NULL REFERENCES plants (plant),
    {endpoint.format(t.text)},
    start_time {t.bigint} NOT NULL,
    end_time {t.bigint} NOT NULL,
    interval_s {t.int} NOT NULL CHECK (interval_s > 0),
    first_seen {t.real} NOT NULL,
    attempts {t.int} NOT NULL CHECK (attempts >= 0),
    next_attempt {t.real},
    PRIMARY KEY (plant, endpoint, start_time),
    CHECK (end_time > start_time)
){t.table_end}""",
        "CREATE INDEX holes_due ON holes (next_attempt) WHERE next_attempt IS NOT NULL",
    )


def _fleet_v1(t: Types) -> tuple[str, ...]:
    """Create the leases (a row per plant, added with it) and workers (a row each, a heartbeat).

    A free plant has no worker; an expired lease is free to take. ``adopted``: taken beyond
    the taker's share, as every other live worker refused it. (``refused_by``, the last
    worker that gave it back, went in version 4.)
    """
    return (
        f"""CREATE TABLE leases (
    plant {t.text} PRIMARY KEY REFERENCES plants (plant),
    worker {t.text},
    acquired_at {t.timestamp},
    expires_at {t.timestamp},
    refused_by {t.text},
    adopted boolean NOT NULL DEFAULT false,
    CHECK ((worker IS NULL) = (expires_at IS NULL))
)""",
        "CREATE INDEX leases_worker ON leases (worker) WHERE worker IS NOT NULL",
        f"""CREATE TABLE workers (
    worker {t.text} PRIMARY KEY,
    started_at {t.timestamp} NOT NULL,
    heartbeat_at {t.timestamp} NOT NULL,
    expires_at {t.timestamp} NOT NULL
)""",
    )


def _fleet_refusals(t: Types) -> tuple[str, ...]:
    """Who refused which plant: a row per worker that released a plant for want of its identifier.

    It counts while the worker's heartbeat is live and goes with the worker's row (a worker
    leaving, or forgotten an hour after it expired). A worker is never given a plant it
    refused; one that every live worker refused stays free (`lacecal status` flags it) until
    a worker that has not refused it joins.
    """
    return (
        f"""CREATE TABLE lease_refusals (
    plant {t.text} NOT NULL REFERENCES plants (plant),
    worker {t.text} NOT NULL REFERENCES workers (worker) ON DELETE CASCADE,
    refused_at {t.timestamp} NOT NULL,
    PRIMARY KEY (plant, worker)
)""",
        "CREATE INDEX lease_refusals_worker ON lease_refusals (worker)",
    )


def _faults(t: Types) -> tuple[str, ...]:
    """Faults a daemon survives.

    Per plant and endpoint, what was ignored for being dated after the clock (the latest such
    record's start, when it was refused, how many stored periods were removed for it); per
    plant, the refreshes of its inverter list (their failures show in `status` like the
    records').
    """
    return (
        f"ALTER TABLE sync_state ADD COLUMN future_record {t.bigint}",
        f"ALTER TABLE sync_state ADD COLUMN future_seen_at {t.real}",
        f"ALTER TABLE sync_state ADD COLUMN future_removed {t.bigint} NOT NULL DEFAULT 0 "
        "CHECK (future_removed >= 0)",
        f"""CREATE TABLE inventory_state (
    plant {t.text} PRIMARY KEY REFERENCES plants (plant),
    failures {t.int} NOT NULL CHECK (failures >= 0),
    last_error {t.text.split()[0]},
    last_error_at {t.real},
    next_poll {t.real},
    updated_at {t.real} NOT NULL
){t.table_end}""",
    )


def _no_refused_by(_: Types) -> tuple[str, ...]:
    """`leases.refused_by` goes: written and never read since `lease_refusals`."""
    return ("ALTER TABLE leases DROP COLUMN refused_by",)


def _released_at(t: Types) -> tuple[str, ...]:
    """`leases.released_at`: when the lease was last given back (NULL: never held since).

    A worker taking a plant waits out what is left of the hand-over from the moment the
    previous holder let go (released, or its lease expired), not a whole one, and none for
    a plant no worker ever held. Free leases at the upgrade count as released then: their
    previous holders (older versions) did not say when.
    """
    return (
        f"ALTER TABLE leases ADD COLUMN released_at {t.timestamp}",
        "UPDATE leases SET released_at = clock_timestamp() WHERE worker IS NULL",
    )


#: SQLite's migrations; migration i (from 0) takes the schema to version i + 1.
SQLITE_MIGRATIONS: tuple[tuple[str, ...], ...] = (_core_v1(_SQLITE), _faults(_SQLITE))
#: PostgreSQL's: the same, with the fleet's tables.
POSTGRES_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    _core_v1(_POSTGRES) + _fleet_v1(_POSTGRES),
    _fleet_refusals(_POSTGRES),
    _faults(_POSTGRES),
    _no_refused_by(_POSTGRES),
    _released_at(_POSTGRES),
)
