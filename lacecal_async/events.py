"""What the fan-out reports: an event per page and per ITR, and `fetch_many`'s results.

Values beside the records they carry; identifiers show redacted in every repr. Generic in
the record type, so ``fetch_many(itrs, METER)`` is a ``dict[str, FetchResult[MeterRecord]]``
to a type checker.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import attrs

from lacecal_async.errors import LacecalError
from lacecal_async.itr import redact

__all__ = [
    "FetchResult",
    "ItrDone",
    "ItrFailed",
    "LatestResult",
    "PageEvent",
    "Progress",
    "StreamEvent",
]

#: The record type an endpoint yields: `Inverter`, `InverterRecord` or `MeterRecord`.
R_co = TypeVar("R_co", covariant=True)


def _redacted(value: object) -> str:
    return repr(redact(value))


@attrs.frozen
class Progress:
    """How far one ITR has got: what a progress bar needs.

    pages / records: pages and records delivered so far; requests: the running total of
    requests made for the ITR so far, lookups of the latest record included and retries
    not; expected_pages: the total number of pages once the integration period is known and
    the range is bounded (an estimate when the data has gaps), else None.
    """

    pages: int = 0
    records: int = 0
    requests: int = 0
    expected_pages: int | None = None


@attrs.frozen
class PageEvent(Generic[R_co]):
    """A page of records from one ITR, in time order within that ITR."""

    itr_id: str = attrs.field(repr=_redacted)
    records: tuple[R_co, ...] = attrs.field(repr=lambda r: f"<{len(r)} records>")
    progress: Progress


@attrs.frozen
class ItrDone:
    """An ITR finished: every record of its range has been delivered."""

    itr_id: str = attrs.field(repr=_redacted)
    progress: Progress


@attrs.frozen
class ItrFailed:
    """An ITR failed after its retries; pages delivered before the failure stand."""

    itr_id: str = attrs.field(repr=_redacted)
    error: LacecalError
    progress: Progress


#: What `stream_many` yields: ``StreamEvent[MeterRecord]`` for the meter endpoint.
StreamEvent = PageEvent[R_co] | ItrDone | ItrFailed


@attrs.frozen
class FetchResult(Generic[R_co]):
    """Everything `fetch_many` got for one ITR.

    On success `error` is None and `records` holds the whole range. After a failure `error`
    holds it and `records` the records fetched before it (possibly none): a partial range.
    """

    itr_id: str = attrs.field(repr=_redacted)
    records: tuple[R_co, ...] = attrs.field(repr=lambda r: f"<{len(r)} records>")
    error: LacecalError | None = None

    @property
    def ok(self) -> bool:
        """Whether the ITR's fetch completed without error."""
        return self.error is None


@attrs.frozen
class LatestResult(Generic[R_co]):
    """What `latest_many` got for one ITR: its latest record, none yet, or an error.

    `record` is None both when the plant has no data yet (`error` None) and after a
    failure (`error` set); `ok` tells them apart.
    """

    itr_id: str = attrs.field(repr=_redacted)
    record: R_co | None
    error: LacecalError | None = None

    @property
    def ok(self) -> bool:
        """Whether the ITR answered (with a record or with none yet)."""
        return self.error is None
