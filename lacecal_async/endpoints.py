"""The three endpoints of the LACECAL ITR 2.0 Web API, their wire names and typed tokens.

A token (`Records`, e.g. ``lacecal_async.METER``) names an endpoint and the record type it
yields, so one signature types what a call returns: ``fetch_many(itrs, METER)`` is a
``dict[str, FetchResult[MeterRecord]]`` to a type checker, without an overload per endpoint.
"""

from __future__ import annotations

import enum
import math
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar

import attrs

if TYPE_CHECKING:
    # PEP 696 default (typing has it from 3.13): an endpoint given as a string types as Any.
    from typing_extensions import TypeVar as DefaultTypeVar

    RecordT = DefaultTypeVar("RecordT", default=Any)
else:
    RecordT = TypeVar("RecordT")

__all__ = [
    "DEFAULT_INTERVAL",
    "MAX_PAGE",
    "Endpoint",
    "EndpointLike",
    "RecordT",
    "Records",
    "WireFormat",
    "endpoint_of",
    "expected_pages",
    "timed",
]

#: Most records the API returns per request.
MAX_PAGE = 144
#: The integration period assumed for a plant until one of its records tells its own [s].
DEFAULT_INTERVAL = 600


def expected_pages(start: int, end: int, interval: int) -> int:
    """Return the requests a gapless range ``[start, end)`` takes at `interval` s a record."""
    return max(1, math.ceil(math.ceil(max(end - start, 0) / interval) / MAX_PAGE))


class Endpoint(enum.StrEnum):
    """One of the API's three GET endpoints; its value is its name on the command line.

    ``Endpoint(token)`` is the endpoint of a `Records` token, so at run time anything that
    takes an endpoint's name takes a token too (`endpoint_of` says so to a type checker).
    """

    INVERTER_LIST = "inverter_list"
    INVERTER = "inverter"
    METER = "meter"

    @property
    def path(self) -> str:
        """The endpoint's file name under the API's base URL, e.g. ``meter.php``."""
        return f"{self.value}.php"

    @property
    def is_timed(self) -> bool:
        """Whether the endpoint serves records per integration period (takes `t` and `n`)."""
        return self is not Endpoint.INVERTER_LIST

    @classmethod
    def _missing_(cls, value: object) -> Endpoint | None:
        return value.endpoint if isinstance(value, Records) else None


_R_co = TypeVar("_R_co", covariant=True)


@attrs.frozen(repr=False)
class Records(Generic[_R_co]):
    """An endpoint with the type of its records: what the many-ITR calls and `decode` take.

    Use the three constants, `lacecal_async.METER`, `INVERTER` and `INVERTER_LIST`; an
    `Endpoint` member or its name works too, typed as `Any` records.
    """

    endpoint: Endpoint
    record_type: type[_R_co]

    def __repr__(self) -> str:
        return f"<Records {self.endpoint.value}: {self.record_type.__name__}>"

    def __str__(self) -> str:
        return self.endpoint.value


#: What a call that names an endpoint takes: a token (typed), an `Endpoint` or its name.
EndpointLike: TypeAlias = Records[Any] | Endpoint | str


def endpoint_of(value: EndpointLike) -> Endpoint:
    """Return the endpoint a token, member or name stands for (ValueError if none)."""
    return value.endpoint if isinstance(value, Records) else Endpoint(value)


def timed(value: EndpointLike) -> Endpoint:
    """Return `value` as a timed endpoint (meter, inverter); ValueError for the inventory.

    The one check, and the one message, of every place that takes only records per period:
    following (`client.watch`, `sync.follow`) and the stores' pages and holes.
    """
    endpoint = endpoint_of(value)
    if not endpoint.is_timed:
        raise ValueError(
            f"{endpoint.value} has no records per period (it is the plant's inventory): "
            "give 'meter' or 'inverter'"
        )
    return endpoint


class WireFormat(enum.StrEnum):
    """The reply formats the API offers through its `out` parameter."""

    JSON = "json"
    XML = "xml"
