"""The SQLite store's schema, as numbered migrations (``PRAGMA user_version`` is the count run).

Version N of the schema is the first N migrations. A store runs the missing ones in one
transaction when it opens a database (SQLite's DDL is transactional), and refuses a
database whose version is higher than `SCHEMA_VERSION`. Never edit a released migration:
append one.

Tables are STRICT (a value of the wrong type is an error, not silently stored) and the data
tables are WITHOUT ROWID (rows live in their primary key's b-tree: no second index).
"""

from __future__ import annotations

from lacecal_async.sync.rows import INVERTER_COLUMNS, METER_COLUMNS, Kind

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

_SQL_TYPES: dict[Kind, str] = {"str": "TEXT", "int": "INTEGER", "float": "REAL"}
_NOT_NULL = {"plant", "unix_time", "start", "interval_s", "inverter_id"}


def _data_columns(columns: tuple[tuple[str, Kind], ...]) -> str:
    return ",\n    ".join(
        f"{name} {_SQL_TYPES[kind]}{' NOT NULL' if name in _NOT_NULL else ''}"
        for name, kind in columns
    )


_V1: tuple[str, ...] = (
    """CREATE TABLE plants (
    plant TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    alias TEXT UNIQUE,
    added_at REAL NOT NULL,
    CHECK (plant = coalesce(alias, fingerprint))
) STRICT""",
    f"""CREATE TABLE meter (
    {_data_columns(METER_COLUMNS)},
    PRIMARY KEY (plant, unix_time),
    FOREIGN KEY (plant) REFERENCES plants (plant),
    CHECK (interval_s > 0)
) STRICT, WITHOUT ROWID""",
    f"""CREATE TABLE inverter (
    {_data_columns(INVERTER_COLUMNS)},
    PRIMARY KEY (plant, unix_time, inverter_id),
    FOREIGN KEY (plant) REFERENCES plants (plant),
    CHECK (interval_s > 0)
) STRICT, WITHOUT ROWID""",
    """CREATE TABLE inverters (
    plant TEXT NOT NULL REFERENCES plants (plant),
    inverter_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    manufacturer TEXT NOT NULL,
    model TEXT NOT NULL,
    serial_number TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (plant, inverter_id)
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

#: Each migration's statements; migration i (from 0) takes the schema to version i + 1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1,)
#: The schema version this library writes.
SCHEMA_VERSION = len(MIGRATIONS)
