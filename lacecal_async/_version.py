"""The installed package's version, read once: `__version__` and the User-Agent header."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["VERSION"]

try:
    VERSION = version("lacecal_async")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    VERSION = "0+unknown"
