"""Asyncio client for the LACECAL ITR 2.0 Web API.

Rate-limited per ITR, exactly paginated, typed: replies in JSON or XML become immutable
attrs records.
"""

from __future__ import annotations

import logging

from lacecal_async._version import VERSION
from lacecal_async.client import LacecalClient
from lacecal_async.clock import Clock, ScaledClock, SystemClock
from lacecal_async.decoding import decode
from lacecal_async.endpoints import Endpoint, WireFormat
from lacecal_async.errors import (
    InvalidITRError,
    LacecalClockError,
    LacecalClosedError,
    LacecalConnectionError,
    LacecalError,
    LacecalParseError,
    LacecalRateLimitError,
    LacecalResponseError,
)
from lacecal_async.events import (
    FetchResult,
    ItrDone,
    ItrFailed,
    LatestResult,
    PageEvent,
    Progress,
    StreamEvent,
)
from lacecal_async.itr import fingerprint, redact, validate_itr
from lacecal_async.limits import LimitState
from lacecal_async.records import (
    EnergyMeter,
    GridMeter,
    GridPhase,
    GridTotals,
    Inverter,
    InverterEnergy,
    InverterRecord,
    MeterRecord,
)
from lacecal_async.serialize import to_dict
from lacecal_async.telemetry import ClientEvent, Listener, RateLimited, RequestDone, RetryScheduled
from lacecal_async.watch import Cursor, WatchBatch

# A library logs, an application decides where logs go (no "No handlers" fallback to stderr).
logging.getLogger("lacecal_async").addHandler(logging.NullHandler())

__version__ = VERSION

__all__ = [
    "ClientEvent",
    "Clock",
    "Cursor",
    "Endpoint",
    "EnergyMeter",
    "FetchResult",
    "GridMeter",
    "GridPhase",
    "GridTotals",
    "InvalidITRError",
    "Inverter",
    "InverterEnergy",
    "InverterRecord",
    "ItrDone",
    "ItrFailed",
    "LacecalClient",
    "LacecalClockError",
    "LacecalClosedError",
    "LacecalConnectionError",
    "LacecalError",
    "LacecalParseError",
    "LacecalRateLimitError",
    "LacecalResponseError",
    "LatestResult",
    "LimitState",
    "Listener",
    "MeterRecord",
    "PageEvent",
    "Progress",
    "RateLimited",
    "RequestDone",
    "RetryScheduled",
    "ScaledClock",
    "StreamEvent",
    "SystemClock",
    "WatchBatch",
    "WireFormat",
    "__version__",
    "decode",
    "fingerprint",
    "redact",
    "to_dict",
    "validate_itr",
]
