"""The SQLite store's schema, as numbered migrations (``PRAGMA user_version`` is the count run).

Version N of the schema is the first N migrations. A store runs the missing ones in one
transaction when it opens a database (SQLite's DDL is transactional), and refuses a
database whose version is higher than `SCHEMA_VERSION`. Never edit a released migration:
append one.

The data tables are the command's export tables (`lacecal_async.tables`): same columns,
names and units, ``start`` as ISO 8601 text with the plant's offset, and a column is NOT
NULL where the schema says it is never empty. Inverter data is ``inverter`` (one row per
inverter and period) and ``inverter_periods`` (one row per period, with the plant's total;
the export's ``periods`` file), so ``SUM`` counts each period once. Tables are STRICT (a
value of the wrong type is an error, not silently stored) and the data tables are WITHOUT
ROWID (rows live in their primary key's b-tree: no second index).
"""

from __future__ import annotations

from lacecal_async.tables import INVERTER_LIST, INVERTERS, METER, PERIODS, Kind, Table

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "TABLE_NAMES"]

#: The store's table of each export table (the export's ``periods`` names no endpoint).
TABLE_NAMES: dict[Table, str] = {
    METER: "meter",
    INVERTERS: "inverter",
    PERIODS: "inverter_periods",
    INVERTER_LIST: "inverters",
}
_SQL_TYPES: dict[Kind, str] = {
    "string": "TEXT",
    "int64": "INTEGER",
    "float64": "REAL",
    "timestamp": "TEXT",
}


def _columns(table: Table) -> str:
    return ",\n    ".join(
        f"{c.name} {_SQL_TYPES[c.kind]}{' NOT NULL' if c.null_when == 'never' else ''}"
        for c in table.columns
    )


def _data_table(table: Table, *constraints: str) -> str:
    return (
        f"CREATE TABLE {TABLE_NAMES[table]} (\n    {_columns(table)},\n"
        f"    PRIMARY KEY ({', '.join(table.key)}),\n"
        + "".join(f"    {constraint},\n" for constraint in constraints)
        + "    FOREIGN KEY (plant) REFERENCES plants (plant)\n) STRICT, WITHOUT ROWID"
    )


_V1: tuple[str, ...] = (
    """CREATE TABLE plants (
    plant TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    alias TEXT UNIQUE,
    added_at REAL NOT NULL,
    CHECK (plant = coalesce(alias, fingerprint))
) STRICT""",
    _data_table(METER, "CHECK (interval_s > 0)"),
    _data_table(PERIODS, "CHECK (interval_s > 0)", "CHECK (inverter_count >= 0)"),
    _data_table(
        INVERTERS,
        "CHECK (interval_s > 0)",
        "FOREIGN KEY (plant, unix_time) REFERENCES inverter_periods (plant, unix_time)",
    ),
    f"""CREATE TABLE inverters (
    {_columns(INVERTER_LIST)},
    updated_at REAL NOT NULL,
    PRIMARY KEY (plant, inverter_id),
    FOREIGN KEY (plant) REFERENCES plants (plant)
) STRICT""",
    """CREATE TABLE sync_state (
    plant TEXT NOT NULL REFERENCES plants (plant),
    endpoint TEXT NOT NULL CHECK (endpoint IN ('meter', 'inverter')),
    latest INTEGER,
    interval_s INTEGER CHECK (interval_s > 0),
    next_poll REAL,
    failures INTEGER NOT NULL CHECK (failures >= 0),
    last_error TEXT,
    last_error_at REAL,
    since INTEGER,
    updated_at REAL NOT NULL,
    PRIMARY KEY (plant, endpoint)
) STRICT""",
    """CREATE TABLE holes (
    plant TEXT NOT NULL REFERENCES plants (plant),
    endpoint TEXT NOT NULL CHECK (endpoint IN ('meter', 'inverter')),
    start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL,
    interval_s INTEGER NOT NULL CHECK (interval_s > 0),
    first_seen REAL NOT NULL,
    attempts INTEGER NOT NULL CHECK (attempts >= 0),
    next_attempt REAL,
    PRIMARY KEY (plant, endpoint, start_time),
    CHECK (end_time > start_time)
) STRICT""",
    "CREATE INDEX holes_due ON holes (next_attempt) WHERE next_attempt IS NOT NULL",
)

# Version 2: faults a daemon survives. Per plant and endpoint, what was ignored for being
# dated after the clock (the latest such record's start, when it was refused, and how many
# stored periods were removed for it); and per plant, the refreshes of its inverter list
# (their failures show in `status` like the records').
_V2: tuple[str, ...] = (
    "ALTER TABLE sync_state ADD COLUMN future_record INTEGER",
    "ALTER TABLE sync_state ADD COLUMN future_seen_at REAL",
    "ALTER TABLE sync_state ADD COLUMN future_removed INTEGER NOT NULL DEFAULT 0 "
    "CHECK (future_removed >= 0)",
    """CREATE TABLE inventory_state (
    plant TEXT PRIMARY KEY REFERENCES plants (plant),
    failures INTEGER NOT NULL CHECK (failures >= 0),
    last_error TEXT,
    last_error_at REAL,
    next_poll REAL,
    updated_at REAL NOT NULL
) STRICT""",
)

#: Each migration's statements; migration i (from 0) takes the schema to version i + 1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2)
#: The schema version this library writes.
SCHEMA_VERSION = len(MIGRATIONS)
