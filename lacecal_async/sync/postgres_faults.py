"""Which asyncpg errors mean the database failed for a while, and what a store raises for them.

A fleet's database drops connections: an administrator's ``pg_terminate_backend``, a
restart, a failover, a network blip. asyncpg then raises one of many errors, depending on
where in its protocol the connection went: `ConnectionResetError` and any other `OSError`,
its `InterfaceError` ("connection is closed"), `InternalClientError`,
``ConnectionDoesNotExistError`` and the other connection errors (SQLSTATE class 08), and the
server's own ``AdminShutdownError``, ``CannotConnectNowError`` (class 57, operator
intervention). A statement's timeout, a serialization failure or a deadlock (class 40), or a
server out of connections or disk (class 53) pass too. None of them says anything about the
statement: each becomes a `StoreUnavailableError`, which the engine retries. An error of the
statement itself (a constraint it broke) is the caller's to see as it is.
"""

from __future__ import annotations

from lacecal_async.sync.store import StoreError, StoreUnavailableError

__all__ = ["store_error", "transient"]


def transient(exc: BaseException) -> bool:
    """Whether `exc`, raised by asyncpg or a socket, means the database failed for a while."""
    import asyncpg  # noqa: PLC0415 - optional: only a PostgreSQL store gets here

    errors = asyncpg.exceptions
    return isinstance(
        exc,
        OSError
        | TimeoutError
        | errors.InterfaceError
        | errors.InternalClientError
        | errors.PostgresConnectionError
        | errors.OperatorInterventionError
        | errors.TransactionRollbackError
        | errors.IdleInTransactionSessionTimeoutError
        | errors.InsufficientResourcesError,
    )


def store_error(exc: Exception, where: str) -> StoreError | None:
    """Return the `StoreUnavailableError` a store raises for `exc` (None: `exc` is not transient).

    `where` names the database (`dsn_shown`): the message never holds a password.
    """
    if not transient(exc):
        return None
    text = f"{where}: {type(exc).__name__}: {exc}".rstrip(": ")
    return StoreUnavailableError(f"{text} (a transient fault: retried)")
