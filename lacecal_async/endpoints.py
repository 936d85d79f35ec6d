"""The three endpoints of the LACECAL ITR 2.0 Web API, and their wire names."""

from __future__ import annotations

import enum
import math

__all__ = ["DEFAULT_INTERVAL", "MAX_PAGE", "Endpoint", "WireFormat", "expected_pages", "timed"]

#: Most records the API returns per request.
MAX_PAGE = 144
#: The integration period assumed for a plant until one of its records tells its own [s].
DEFAULT_INTERVAL = 600


def expected_pages(start: int, end: int, interval: int) -> int:
    """Return the requests a gapless range ``[start, end)`` takes at `interval` s a record."""
    return max(1, math.ceil(math.ceil(max(end - start, 0) / interval) / MAX_PAGE))


class Endpoint(enum.StrEnum):
    """One of the API's three GET endpoints; the value is what `decode` and `fetch_many` take."""

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


def timed(value: Endpoint | str) -> Endpoint:
    """Return `value` as a timed endpoint (meter, inverter); ValueError for the inventory.

    The one check, and the one message, of every place that takes only records per period:
    following (`client.watch`, `sync.follow`) and the stores' pages and holes.
    """
    endpoint = Endpoint(value)
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
