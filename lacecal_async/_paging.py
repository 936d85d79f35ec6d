"""The pages of one ITR's range: the pure `Pager` driven over the transport.

Every reply is yielded, empty ones too (a lookup of the latest record, a probe across a
gap), so that the fan-out can give back a credit no page took.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import attrs

from lacecal_async._pagination import Pager
from lacecal_async._transport import Admission, Transport
from lacecal_async.endpoints import Endpoint

__all__ = ["Reply", "replies"]


@attrs.frozen
class Reply:
    """The records of one reply that belong to the range (possibly none), and the tally.

    requests_so_far: requests made for the range up to this reply (retries not counted).
    expected_pages: pages the whole range takes, once the period is known and `end` is set.
    """

    records: tuple[Any, ...]
    requests_so_far: int
    expected_pages: int | None


async def replies(
    transport: Transport,
    endpoint: Endpoint,
    itr: str,
    start: int,
    end: int | None,
    *,
    admission: Admission | None = None,
) -> AsyncGenerator[Reply]:
    """Yield one `Reply` per request for the records of ``[start, end)`` of a valid ITR."""
    pager = Pager(start, end, endpoint.value)
    while (request := pager.next_request()) is not None:
        records = await transport.request(endpoint, itr, request.t, request.n, admission=admission)
        kept = tuple(pager.feed(request, records))
        del records  # held across the next request, a page would outlive many collections
        yield Reply(kept, pager.requests, pager.expected_pages())
        del kept
