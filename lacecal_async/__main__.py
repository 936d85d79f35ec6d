"""``python -m lacecal_async``: the ``lacecal`` command."""

from __future__ import annotations

import sys

from lacecal_async.cli import main

if __name__ == "__main__":  # pragma: no branch - imported only to run
    sys.exit(main())
