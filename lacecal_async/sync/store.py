"""What a store of synced records offers the sync engine, whatever database is behind it.

A store keeps each plant's records in the tables of `lacecal_async.tables` (``meter``;
``inverter`` per inverter and period beside ``inverter_periods`` with each period's total),
its inverter inventory (and the state of its refreshes), one sync state per plant and
endpoint, and the holes in its records with their repair schedule. `commit_page` upserts
a page's rows AND writes the plant's sync state in one transaction: resume is exact, a
replay is harmless, a crash loses at most that page. Records dated after the clock are
never stored; `drop_future` removes those a store took before that rule, and the sync
state notes what was ignored.

Plants are named by a key, never by their identifier (a bearer secret): the alias the user
gave, else `lacecal_async.fingerprint` of the identifier. Times are UNIX seconds; callers
pass ``now`` so that a scaled or fake clock drives the repair schedule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Protocol, Self

import attrs

from lacecal_async.endpoints import Endpoint
from lacecal_async.errors import LacecalError
from lacecal_async.itr import FINGERPRINT_PREFIX, ITR_LENGTH
from lacecal_async.record_source import RecordSource
from lacecal_async.records import Inverter, InverterRecord, MeterRecord
from lacecal_async.redaction import Hider
from lacecal_async.sync.holes import Hole

__all__ = [
    "ALIAS_HOLDS_IDENTIFIER",
    "ERROR_MAX_CHARS",
    "NoStoreError",
    "PlantEntry",
    "SchemaVersionError",
    "StatusRow",
    "Store",
    "StoreError",
    "StoreInUseError",
    "StoreUnavailableError",
    "SyncState",
    "check_alias",
    "check_fingerprint",
    "clean_error",
]

#: How much of an error message the sync state keeps.
ERROR_MAX_CHARS = 500
_FINGERPRINT_RE = re.compile(re.escape(FINGERPRINT_PREFIX) + r"[0-9a-f]{12}", re.ASCII)
_ITR_RUN = re.compile(rf"[A-Za-z0-9]{{{ITR_LENGTH},}}", re.ASCII)
_ALIAS_MAX_CHARS = 200
#: Why an alias holding a piece of an identifier is refused (it never quotes either).
ALIAS_HOLDS_IDENTIFIER = (
    "an alias must not hold 8 or more characters of an identifier in a row (whatever "
    "separators, case or width: it would be stored and shown); choose another"
)


class StoreError(LacecalError):
    """A store refused an operation: an unknown plant, a conflicting alias, a closed store."""


class StoreUnavailableError(StoreError):
    """The database failed for a while, not for good: the operation may be tried again.

    A dropped connection, a server restarting, a lock held too long (SQLite's "database is
    locked"), a full disk. The operation's transaction committed whole or not at all (a
    connection lost during COMMIT cannot tell which): it is safe to repeat, as every write
    is an upsert. The sync engine logs it, backs off and carries on; it never stops a
    daemon. Not a `LeaseLostError`: a fleet worker keeps its plants.
    """


class StoreInUseError(StoreError):
    """Another `follow` holds this store, which takes one plain follower at a time.

    Two followers would both poll every plant, twice the API's limit. On PostgreSQL a live
    fleet worker (`follow_fleet`) holds it too, and a fleet worker is refused beside a plain
    `follow`. A `SQLiteStore`'s message names the holder (process id and host).
    """


class SchemaVersionError(StoreError):
    """The database's schema is newer than this library knows, or not a lacecal store."""


class NoStoreError(StoreError):
    """A store opened with ``create=False`` found no lacecal store it may read as it is.

    The database holds no lacecal schema (nothing, or only other applications' tables), or
    one older than this library's, which only an open that creates (``lacecal sync``) may
    upgrade (`older`). The database is left as it was.
    """

    def __init__(self, *args: object, older: bool = False) -> None:
        super().__init__(*args)
        #: Whether the database holds a store of an older schema (not none at all).
        self.older = older


@attrs.frozen
class SyncState:
    """Where one plant's endpoint stands, written with every page `commit_page` commits.

    latest: start of the newest record committed [UNIX s]; a rerun resumes after it.
    interval: the integration period learned from the records [s].
    next_poll: when the engine means to ask again [UNIX s].
    failures: consecutive failed attempts since the last committed page.
    last_error / last_error_at: the latest failure's message (redacted) and time.
    since: where the plant's sync began [UNIX s]; the store keeps the first one it is given,
    and asks again for the periods between it and the first stored record like a hole (late
    uploads land), but `StatusRow` does not count them: the server may never have had them.
    """

    latest: int | None = None
    interval: int | None = None
    next_poll: float | None = None
    failures: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    since: int | None = None


@attrs.frozen
class PlantEntry:
    """A plant the store knows: its key in every table, its fingerprint and its alias."""

    plant: str
    fingerprint: str
    alias: str | None


@attrs.frozen
class StatusRow:
    """One line of ``lacecal status``: a plant's endpoint, from its stored records and state.

    endpoint is None for a plant added but never synced, and ``inverter_list`` for the
    refreshes of a plant's inverter list once one failed (failures, last error, next try;
    no records, no holes). first_record / latest_record are the starts of the oldest and
    newest stored records [UNIX s]; holes counts the holes between stored records and
    missing_periods the periods they span (not those before the first stored record).

    What was ignored for being dated after the clock (a logger's clock fault): future_record,
    the start of the latest such record [UNIX s]; future_seen_at, when it was last refused;
    future_removed, the stored periods `drop_future` removed (a store written before records
    were checked). None, None, 0 when nothing was.

    A store whose workers share plants by leases (`PostgresStore`) also says, per plant:
    holder, the worker holding its unexpired lease (None: free); refused_by, the live workers
    that released it for want of its identifier, sorted; orphaned, whether every live worker
    did (none can sync it until one given its identifier joins). Other stores leave the
    defaults.
    """

    plant: str
    endpoint: Endpoint | None
    first_record: int | None
    latest_record: int | None
    holes: int
    missing_periods: int
    failures: int
    last_error: str | None
    last_error_at: float | None
    next_poll: float | None
    holder: str | None = None
    refused_by: tuple[str, ...] = ()
    orphaned: bool = False
    future_record: int | None = None
    future_seen_at: float | None = None
    future_removed: int = 0


class Store(RecordSource, Protocol):
    """The operations the sync engine needs; `SQLiteStore` implements them.

    Every method but `open`, `close` and the context manager needs an open store. Writes are
    idempotent; a method that writes runs in one transaction and, once called, completes
    even if the awaiting task is cancelled (`close` waits for it).
    """

    async def open(self) -> None:
        """Create or upgrade the schema; raise `SchemaVersionError` for a newer one.

        A store made with ``create=False`` creates and upgrades nothing: `NoStoreError`
        where there is no schema or an older one.
        """

    async def close(self) -> None:
        """Finish the operation in flight and release the database (safe to call twice)."""

    async def __aenter__(self) -> Self:
        """Open the store."""

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""

    async def add_plant(self, fingerprint: str, alias: str | None = None) -> str:
        """Register a plant (idempotent) and return its key: `alias`, else `fingerprint`.

        `StoreError` if the fingerprint is stored under another key or the alias names
        another plant; `ValueError` for a malformed fingerprint or an alias that could be an
        identifier (16 ASCII letters and digits) or a fingerprint.
        """

    async def plants(self) -> list[PlantEntry]:
        """Return every registered plant, by key."""

    async def state(self, plant: str, endpoint: Endpoint) -> SyncState | None:
        """Return the plant's sync state for a timed endpoint, None before its first write.

        `Endpoint.INVERTER_LIST`: the state of its inventory's refreshes (`next_poll`,
        `failures`, the last error), None before the first.
        """

    async def commit_page(
        self,
        plant: str,
        endpoint: Endpoint,
        records: Sequence[MeterRecord] | Sequence[InverterRecord],
        state: SyncState,
        *,
        now: float,
    ) -> None:
        """Upsert a page of records, update the holes around them, write `state`: one transaction.

        A record replaces a stored one for the same period (an inverter period's rows are
        replaced as a whole). Gaps between the page and the stored records become holes,
        first seen `now`; records landing in a hole shrink or split it.
        """

    async def commit_inventory(
        self,
        plant: str,
        inverters: Sequence[Inverter],
        *,
        now: float,
        next_poll: float | None = None,
    ) -> None:
        """Replace the plant's inverter inventory with `inverters` in one transaction.

        Its refreshes' failures are cleared; `next_poll` is when the next refresh is due.
        """

    async def inventory(self, plant: str) -> list[Inverter]:
        """Return the plant's inverters, by id."""

    async def holes(
        self, plant: str, endpoint: Endpoint, *, due_by: float | None = None
    ) -> list[Hole]:
        """Return the plant's holes in time order; with `due_by`, only repairs due by then."""

    async def repair_attempted(
        self, plant: str, endpoint: Endpoint, start: int, end: int, *, now: float
    ) -> None:
        """Count a repair of ``[start, end)`` that ended at `now` (its pages committed first).

        Every hole still overlapping the range gets its next attempt from the schedule, or
        none once the schedule is over (it stays listed).
        """

    async def record_error(
        self,
        plant: str,
        endpoint: Endpoint,
        message: str,
        next_attempt: float | None,
        *,
        now: float,
    ) -> None:
        """Count a failure of the plant's endpoint and when to try again; rows stay as they are.

        The message is cleaned by `clean_error` before it is stored. `Endpoint.INVERTER_LIST`
        counts a failed refresh of the inventory (apart from the records' failures).
        """

    async def drop_future(
        self, plant: str, endpoint: Endpoint, *, after: int, seen: int | None, now: float
    ) -> int:
        """Remove the endpoint's stored periods starting after `after`; return how many.

        For periods dated after the clock (a logger's clock fault) that a store took before
        records were checked: the holes reaching past `after` go with them, the sync state's
        latest and interval become those of the newest period left (None: none left), and
        the state notes the latest ignored start (that of a removed period, or `seen`, a
        record just refused) at `now`. One transaction; nothing at or before `after` changes.
        """

    async def status(self) -> list[StatusRow]:
        """Return a row per plant and synced endpoint (one row for a plant never synced)."""

    def following(self) -> AbstractAsyncContextManager[None]:
        """Hold what keeps a second `follow` out for the block (`StoreInUseError`).

        `SQLiteStore`: a lock beside the file. `PostgresStore`: a session advisory lock per
        schema, refused beside a live fleet worker. A store without such a guard holds
        nothing: one `follow` at a time is then its user's to ensure.
        """


def check_fingerprint(fingerprint: str) -> str:
    """Return `fingerprint` if it has the form `lacecal_async.fingerprint` gives, else raise."""
    if not isinstance(fingerprint, str) or not _FINGERPRINT_RE.fullmatch(fingerprint):
        raise ValueError(
            "a plant's fingerprint is 'itr-' and 12 lowercase hex digits: "
            "use lacecal_async.fingerprint(itr), never the identifier itself"
        )
    return fingerprint


def check_alias(alias: str, itrs: Iterable[str] | Hider = ()) -> str:
    """Return `alias` if it is a usable plant key, else raise `ValueError`.

    Refused: empty or over 200 characters, a fingerprint's prefix (so keys never collide),
    any run of 16 or more ASCII letters and digits (it could hold an identifier, which must
    not be stored: ``site-<identifier>`` is refused), and 8 or more consecutive characters
    of any identifier in `itrs` (the run's), once separators are dropped and width and case
    folded (``2Yw4-aCQ9-gfZ6-y1T9`` for ``2Yw4aCQ9gfZ6y1T9``). The message never quotes it.
    """
    if not isinstance(alias, str) or not alias.strip() or len(alias) > _ALIAS_MAX_CHARS:
        raise ValueError(f"an alias is a non-blank str of at most {_ALIAS_MAX_CHARS} characters")
    if alias.startswith(FINGERPRINT_PREFIX):
        raise ValueError(f"an alias must not start with {FINGERPRINT_PREFIX!r} (fingerprints do)")
    if _ITR_RUN.search(alias):
        raise ValueError(
            "an alias must not hold 16 or more ASCII letters and digits in a row (it could "
            "hold an identifier, which is never stored); choose another"
        )
    if Hider.of(itrs).suspects(alias):
        raise ValueError(ALIAS_HOLDS_IDENTIFIER)
    return alias


def clean_error(message: str) -> str:
    """Return `message` fit to store: every run of 16+ letters and digits cut to its last 4.

    Library errors are already redacted; this guards against a caller's own message that
    quotes an identifier. The result is at most `ERROR_MAX_CHARS` long.
    """
    cleaned = _ITR_RUN.sub(lambda m: "..." + m.group()[-4:], message)
    if len(cleaned) > ERROR_MAX_CHARS:
        cleaned = cleaned[: ERROR_MAX_CHARS - 3] + "..."
    return cleaned
