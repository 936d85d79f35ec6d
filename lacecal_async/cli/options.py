"""What several subcommands share: the usage error, ``--rate``, client options, one spelling.

Every subcommand names its records ``--endpoint`` and its range ``--start WHEN``/``--end
WHEN``. The spellings of older releases (``fetch``'s positional endpoint, ``--since``,
``--until``) keep working, so scripts and systemd units written for them still run, but no
``--help`` lists them.
"""

from __future__ import annotations

import argparse

from lacecal_async import rate
from lacecal_async.cli.bounds import MAX_RATE_COUNT, MAX_RETRIES, finite_seconds, whole_number
from lacecal_async.cli.usage import UsageError
from lacecal_async.client import DEFAULT_BASE_URL, LacecalClient

__all__ = [
    "UsageError",
    "add_client_options",
    "add_endpoint_option",
    "add_when_option",
    "make_client",
    "parse_rate",
    "parse_rate_or_none",
]

#: The longest period of a ``--rate`` [s]: a day (the API's own is a minute).
MAX_RATE_PERIOD = 86_400.0


def _bounded(parsed: tuple[int, float], text: str) -> tuple[int, float]:
    if parsed[0] > MAX_RATE_COUNT or parsed[1] > MAX_RATE_PERIOD:
        raise argparse.ArgumentTypeError(
            f"expected at most {MAX_RATE_COUNT} requests per at most {MAX_RATE_PERIOD:.0f} "
            f"seconds, not {text!r}"
        )
    return parsed


def parse_rate(text: str) -> tuple[int, float]:
    """Parse ``N/SECONDS`` (e.g. ``6/60``, ``6/0.5``): N requests per ITR per SECONDS.

    N is at most a million, SECONDS at most a day.
    """
    try:
        return _bounded(rate.parse_rate(text), text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_rate_or_none(text: str) -> tuple[int, float] | None:
    """Parse ``N/SECONDS`` (as `parse_rate`) or ``none`` (no limit)."""
    try:
        parsed = rate.parse_rate_or_none(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return None if parsed is None else _bounded(parsed, text)


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    """Add the positional ``DB``: the store a reading subcommand opens (never creates)."""
    parser.add_argument(
        "db",
        metavar="DB",
        help="the store lacecal sync writes: a SQLite file or a PostgreSQL DSN postgresql://...",
    )


def add_endpoint_option(
    parser: argparse.ArgumentParser,
    *,
    choices: tuple[str, ...] = ("meter", "inverter"),
    default: str | None = "meter",
    help: str = "which records (default meter)",
) -> None:
    """Add ``--endpoint``: which records a subcommand reads or writes."""
    parser.add_argument("--endpoint", choices=choices, default=default, help=help)


def add_when_option(
    parser: argparse.ArgumentParser,
    name: str,
    *,
    help: str,
    required: bool = False,
    old: str | None = None,
) -> None:
    """Add ``--start`` or ``--end`` (`name`) WHEN; `old`, an older spelling, works unlisted.

    The two are one choice: giving both is a usage error, and a `required` one is met by
    either. The old spelling is in no ``--help``, usage line or generated page.
    """
    dest = name.removeprefix("--")
    if old is None:
        parser.add_argument(name, metavar="WHEN", required=required, default=None, help=help)
        return
    either = parser.add_mutually_exclusive_group(required=required)
    either.add_argument(name, metavar="WHEN", dest=dest, default=None, help=help)
    either.add_argument(old, metavar="WHEN", dest=dest, default=None, help=argparse.SUPPRESS)


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
        type=finite_seconds(),
        default=30.0,
        metavar="SECONDS",
        help="longest wait for one reply, body included (default 30)",
    )
    group.add_argument(
        "--retries",
        type=whole_number(0, MAX_RETRIES),
        default=3,
        metavar="N",
        help=f"extra attempts after a failed request (default 3, at most {MAX_RETRIES})",
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
