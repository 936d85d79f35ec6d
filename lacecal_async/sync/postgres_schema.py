"""The PostgreSQL store's schema, as numbered migrations recorded in ``schema_version``.

Version N of the schema is the first N migrations; ``schema_version`` holds a row per
migration run (its number and when). A store runs the missing ones in one transaction when
it opens a database, under an advisory lock so that workers starting together migrate once,
and refuses a database whose version is higher than `SCHEMA_VERSION`. Never edit a released
migration: append one.

The data tables are those of the SQLite store (the command's export tables,
`lacecal_async.tables`: same names, columns and units) in the types a PostgreSQL user
expects: ``start`` is ``timestamptz`` beside ``unix_time bigint``, energies are ``double
precision``, periods and offsets ``integer``. Plant keys and endpoints sort bytewise
(``COLLATE "C"``), as in SQLite, whatever the database's locale. The store's own times
(``first_seen``, ``next_poll``...) are ``double precision`` UNIX seconds because they come
from the sync engine's clock, which may be scaled or fake; lease and heartbeat times are
``timestamptz`` from the database's clock, the one clock every worker of a fleet shares.
"""

from __future__ import annotations

from lacecal_async.sync.sqlite_schema import TABLE_NAMES
from lacecal_async.tables import INVERTER_LIST, INVERTERS, METER, PERIODS, Column, Table

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "TABLE_NAMES", "column_type"]

_SMALL_INTS = frozenset({"utc_offset_s", "interval_s", "inverter_count"})
_TEXT = 'text COLLATE "C"'


def column_type(column: Column) -> str:
    """Return the PostgreSQL type of an export column."""
    if column.kind == "string":
        return _TEXT
    if column.kind == "timestamp":
        return "timestamptz"
    if column.kind == "float64":
        return "double precision"
    return "integer" if column.name in _SMALL_INTS else "bigint"


def _columns(table: Table) -> str:
    return ",\n    ".join(
        f"{c.name} {column_type(c)}{' NOT NULL' if c.null_when == 'never' else ''}"
        for c in table.columns
    )


def _data_table(table: Table, *constraints: str) -> str:
    return (
        f"CREATE TABLE {TABLE_NAMES[table]} (\n    {_columns(table)},\n"
        f"    PRIMARY KEY ({', '.join(table.key)}),\n"
        + "".join(f"    {constraint},\n" for constraint in constraints)
        + "    FOREIGN KEY (plant) REFERENCES plants (plant)\n)"
    )


_ENDPOINT = f"endpoint {_TEXT} NOT NULL CHECK (endpoint IN ('meter', 'inverter'))"
_V1: tuple[str, ...] = (
    f"""CREATE TABLE plants (
    plant {_TEXT} PRIMARY KEY,
    fingerprint {_TEXT} NOT NULL UNIQUE,
    alias {_TEXT} UNIQUE,
    added_at double precision NOT NULL,
    CHECK (plant = coalesce(alias, fingerprint))
)""",
    _data_table(METER, "CHECK (interval_s > 0)"),
    _data_table(PERIODS, "CHECK (interval_s > 0)", "CHECK (inverter_count >= 0)"),
    _data_table(
        INVERTERS,
        "CHECK (interval_s > 0)",
        "FOREIGN KEY (plant, unix_time) REFERENCES inverter_periods (plant, unix_time)",
    ),
    f"""CREATE TABLE inverters (
    {_columns(INVERTER_LIST)},
    updated_at double precision NOT NULL,
    PRIMARY KEY (plant, inverter_id),
    FOREIGN KEY (plant) REFERENCES plants (plant)
)""",
    f"""CREATE TABLE sync_state (
    plant {_TEXT} NOT NULL REFERENCES plants (plant),
    {_ENDPOINT},
    latest bigint,
    interval_s integer CHECK (interval_s > 0),
    next_poll double precision,
    failures integer NOT NULL CHECK (failures >= 0),
    last_error text,
    last_error_at double precision,
    since bigint,
    updated_at double precision NOT NULL,
    PRIMARY KEY (plant, endpoint)
)""",
    f"""CREATE TABLE holes (
    plant {_TEXT} NOT NULL REFERENCES plants (plant),
    {_ENDPOINT},
    start_time bigint NOT NULL,
    end_time bigint NOT NULL,
    interval_s integer NOT NULL CHECK (interval_s > 0),
    first_seen double precision NOT NULL,
    attempts integer NOT NULL CHECK (attempts >= 0),
    next_attempt double precision,
    PRIMARY KEY (plant, endpoint, start_time),
    CHECK (end_time > start_time)
)""",
    "CREATE INDEX holes_due ON holes (next_attempt) WHERE next_attempt IS NOT NULL",
    # A row per plant (added with it): the worker holding its lease, until when. A free
    # plant has no worker; an expired lease is free to take. refused_by: the last worker that
    # gave it back for want of its identifier (another takes it beyond its share: adopted).
    f"""CREATE TABLE leases (
    plant {_TEXT} PRIMARY KEY REFERENCES plants (plant),
    worker {_TEXT},
    acquired_at timestamptz,
    expires_at timestamptz,
    refused_by {_TEXT},
    adopted boolean NOT NULL DEFAULT false,
    CHECK ((worker IS NULL) = (expires_at IS NULL))
)""",
    "CREATE INDEX leases_worker ON leases (worker) WHERE worker IS NOT NULL",
    # A row per worker, its heartbeat renewed with its leases: the live ones share the plants.
    f"""CREATE TABLE workers (
    worker {_TEXT} PRIMARY KEY,
    started_at timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
)""",
)

# Version 2: who refused which plant. A row per worker that released a plant for want of its
# identifier; it counts while the worker's heartbeat is live and goes with the worker's row
# (a worker leaving, or forgotten an hour after it expired). A worker is never given a plant
# it refused; one that every live worker refused stays free (`lacecal status` flags it) until
# a worker that has not refused it joins. (`leases.refused_by` is only the last refuser.)
_V2: tuple[str, ...] = (
    f"""CREATE TABLE lease_refusals (
    plant {_TEXT} NOT NULL REFERENCES plants (plant),
    worker {_TEXT} NOT NULL REFERENCES workers (worker) ON DELETE CASCADE,
    refused_at timestamptz NOT NULL,
    PRIMARY KEY (plant, worker)
)""",
    "CREATE INDEX lease_refusals_worker ON lease_refusals (worker)",
)

# Version 3: faults a daemon survives (as the SQLite store's version 2). Per plant and
# endpoint, what was ignored for being dated after the clock (the latest such record's
# start, when it was refused, how many stored periods were removed for it); per plant, the
# refreshes of its inverter list (their failures show in `status` like the records').
_V3: tuple[str, ...] = (
    "ALTER TABLE sync_state ADD COLUMN future_record bigint, "
    "ADD COLUMN future_seen_at double precision, "
    "ADD COLUMN future_removed bigint NOT NULL DEFAULT 0 CHECK (future_removed >= 0)",
    f"""CREATE TABLE inventory_state (
    plant {_TEXT} PRIMARY KEY REFERENCES plants (plant),
    failures integer NOT NULL CHECK (failures >= 0),
    last_error text,
    last_error_at double precision,
    next_poll double precision,
    updated_at double precision NOT NULL
)""",
)

# Version 4: `leases.refused_by` goes. Only the last refuser, written and never read since
# version 2's `lease_refusals` (which `status` reads).
_V4: tuple[str, ...] = ("ALTER TABLE leases DROP COLUMN refused_by",)

#: Each migration's statements; migration i (from 0) takes the schema to version i + 1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3, _V4)
#: The schema version this library writes.
SCHEMA_VERSION = len(MIGRATIONS)
