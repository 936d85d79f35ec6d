"""The command line and the out-of-process server, through a real subprocess and in-process."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import signal
import threading
import time

import aiohttp
import pytest

from lacecal_async import LacecalClient, ScaledClock
from lacecal_async.testing import DEFAULT_START, FakeServerProcess
from lacecal_async.testing.__main__ import build, main, parse_args, serve
from lacecal_async.testing.wire import encode


async def test_process_serves_the_same_plants_and_reports_stats() -> None:
    async with FakeServerProcess(plants=3, seed=5, rate_limit=(2, 30.0), days=2) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        plant = server.plants[1]
        params = {"out": "xml", "id": plant.itr, "t": str(plant.first), "n": "4"}
        async with aiohttp.ClientSession() as session:
            statuses = []
            for _ in range(3):
                async with session.get(server.base_url + "meter.php", params=params) as reply:
                    body = await reply.read()
                    statuses.append(reply.status)
                    if reply.status == 200:
                        truth = plant.meter_records(plant.first, plant.first + 4 * plant.interval)
                        assert body == encode("meter", truth, "xml")
        assert statuses == [200, 200, 429]
        stats = await server.stats()
        assert set(stats) == {p.itr for p in server.plants}
        assert stats[plant.itr]["requests"] == 3
        assert stats[plant.itr]["rejections"] == 1
        assert [e["status"] for e in stats[plant.itr]["log"]] == [200, 200, 429]
        assert stats[plant.itr]["log"][0]["params"] == params
    assert plant.itr in server.output  # the table, printed in full
    assert server.output.splitlines()[0].startswith("ITR")


async def test_process_that_fails_to_start() -> None:
    with pytest.raises(RuntimeError, match="exited with status 2"):
        async with FakeServerProcess(plants=1, extra_args=["--bogus"]):
            pass  # pragma: no cover - never reached


async def test_process_that_dies_while_in_use() -> None:
    async with FakeServerProcess(plants=1) as server:
        assert server._process is not None
        server._process.terminate()
        await server._process.wait()
    assert server._process is None


async def test_process_exit_is_idempotent() -> None:
    server = FakeServerProcess(plants=1, rate_limit=None)
    await server.__aexit__(None, None, None)  # never started: nothing to do
    assert server.output == ""


class _Ready(io.StringIO):
    """Stdout that tells the test when the server has printed its URL and table."""

    def __init__(self) -> None:
        super().__init__()
        self.ready = asyncio.Event()

    def flush(self) -> None:
        super().flush()
        self.ready.set()


async def test_serve_in_process_until_stopped() -> None:
    out = _Ready()
    stop = asyncio.Event()
    options = parse_args(["--plants", "2", "--rate", "none", "--days", "1", "--follow"])
    task = asyncio.create_task(serve(options, out=out, stop=stop))
    await out.ready.wait()
    url, header, *rows = out.getvalue().splitlines()
    assert header.startswith("ITR")
    assert all("(follows clock)" in row for row in rows)
    async with aiohttp.ClientSession() as session:
        async with session.get(url.replace("/APIv1/", "/_fake/stats")) as reply:
            assert len(json.loads(await reply.read())) == 2
    stop.set()
    await task


def test_options() -> None:
    options = parse_args(["--rate", "6/0.5", "--follow", "--speed", "60", "--days", "2"])
    assert options.rate == (6, 0.5)
    plants, clock = build(options)
    assert all(p.latest is None for p in plants)
    assert plants[0].first < clock.now()
    assert clock.now() - plants[0].first == pytest.approx(2 * 86400, abs=700)
    fixed, _ = build(parse_args([]))
    assert len(fixed) == 20
    assert fixed[0].first == DEFAULT_START
    assert build(parse_args(["--start", "1000000200"]))[0][0].first == 1000000200
    with pytest.raises(SystemExit):
        parse_args(["--rate", "six"])


class _Signalling(io.StringIO):
    """Stdout that interrupts the server (SIGINT, as Ctrl-C would) once it has printed."""

    def flush(self) -> None:
        super().flush()
        threading.Timer(0.05, signal.raise_signal, (signal.SIGINT,)).start()


def test_main_exits_cleanly_on_ctrl_c() -> None:
    out = _Signalling()
    assert main(["--plants", "1", "--port", "0"], out=out) == 0
    assert out.getvalue().startswith("http://127.0.0.1:")
    assert isinstance(parse_args([]), argparse.Namespace)


async def test_a_scaled_clock_given_an_epoch_is_shared_with_another_process() -> None:
    speed, period = 50.0, 2
    epoch = time.time() - 3.0  # the server's clock has run 3 s (150 clock seconds) already
    async with FakeServerProcess(
        plants=1,
        rate_limit=None,
        interval=period,
        follow=True,
        start=int(epoch) - 3600,
        days=1,
        extra_args=("--speed", repr(speed), "--epoch", repr(epoch)),
    ) as server:
        ours = ScaledClock(epoch + (time.time() - epoch) * speed, speed)
        async with LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client:
            # The server reads its clock somewhere in between (at 50x, a busy machine's
            # tenth of a second on the reply's way back is 2.5 periods).
            before = ours.now()
            record = await client.latest_meter_record(server.plants[0].itr)
            after = ours.now()
    assert record is not None
    # The server's latest record is the last period closed by a clock that reads ours.
    assert before - 3 * period <= record.unix_time + period <= after + period
    assert before > time.time() + 100
