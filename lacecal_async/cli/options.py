"""What several subcommands share: the usage error, ``--rate`` parsing, client options."""

from __future__ import annotations

import argparse
import math

from lacecal_async import rate
from lacecal_async.client import DEFAULT_BASE_URL, LacecalClient

__all__ = ["UsageError", "add_client_options", "make_client", "parse_rate", "parse_rate_or_none"]


class UsageError(Exception):
    """A mistake on the command line: reported as one line, exit status 2."""


def parse_rate(text: str) -> tuple[int, float]:
    """Parse ``N/SECONDS`` (e.g. ``6/60``, ``6/0.5``): N requests per ITR per SECONDS."""
    try:
        return rate.parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_rate_or_none(text: str) -> tuple[int, float] | None:
    """Parse ``N/SECONDS`` or ``none`` (no limit)."""
    try:
        return rate.parse_rate(text, allow_none=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not {text!r}")
    return value


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}")
    return int(text)


def add_client_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that configure the `LacecalClient`."""
    group = parser.add_argument_group("service")
    group.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        metavar="URL",
        help=f"the API's address (default {DEFAULT_BASE_URL}; `lacecal serve` prints a fake's)",
    )
    group.add_argument(
        "--wire-format",
        choices=("json", "xml"),
        default="json",
        help="what the service is asked to send (default json); the output is the same",
    )
    group.add_argument(
        "--rate",
        type=parse_rate,
        default=(6, 60.0),
        metavar="N/SECONDS",
        help="the service's limit per ITR (default 6/60); a fake server may be faster",
    )
    group.add_argument(
        "--timeout",
        type=_positive,
        default=30.0,
        metavar="SECONDS",
        help="longest wait for one reply, body included (default 30)",
    )
    group.add_argument(
        "--retries",
        type=_count,
        default=3,
        metavar="N",
        help="extra attempts after a failed request (default 3)",
    )


def make_client(args: argparse.Namespace, *, user_agent: str | None = None) -> LacecalClient:
    """Build the client the parsed options describe (call inside the event loop)."""
    return LacecalClient(
        user_agent=user_agent,
        base_url=args.base_url,
        wire_format=args.wire_format,
        rate_limit=args.rate,
        timeout=args.timeout,
        retries=args.retries,
    )
