"""Smoke test of a plain install (no extras): import, decode each endpoint, fetch once.

Run by ``scripts/test`` in an environment holding only the package and its runtime
dependencies, so an accidental import of an optional package (orjson, pyarrow, msgspec, asyncpg) on
the library's path fails here, where the full test environment would hide it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import lacecal_async
from lacecal_async import Endpoint, LacecalClient, WireFormat, decode
from lacecal_async.testing import FakeLacecalServer, make_plants

SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "samples"
OPTIONAL = ("orjson", "pyarrow", "msgspec", "pydantic", "asyncpg")


async def fetch_once() -> int:
    """One `meter_records` call against the fake server; the number of records it returned."""
    plants = make_plants(1, seed=0)
    async with FakeLacecalServer(plants) as server, LacecalClient(base_url=server.base_url) as c:
        return len(await c.meter_records(plants[0].itr))


def main() -> None:
    """Exit non-zero, with a reason, on the first thing a plain install gets wrong."""
    for endpoint in Endpoint:
        for wire_format in WireFormat:
            body = (SAMPLES / f"{endpoint.value}.{wire_format.value}").read_bytes()
            records = decode(endpoint, body, wire_format)
            assert records, f"{endpoint} {wire_format}: no records"
    fetched = asyncio.run(fetch_once())
    assert fetched == 1, f"meter_records(itr) returned {fetched} records, expected the latest"
    loaded = [name for name in OPTIONAL if name in sys.modules]
    assert not loaded, f"the library imported optional packages: {loaded}"
    print(f"smoke: lacecal_async {lacecal_async.__version__} imports, decodes and fetches")


if __name__ == "__main__":
    main()
