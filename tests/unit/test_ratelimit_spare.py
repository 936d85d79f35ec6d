"""Spare slots: background requests take only what the ITR's ordinary requests leave free."""

from __future__ import annotations

import asyncio

import pytest

from lacecal_async._ratelimit import ItrLimiter, SlotSchedule


def test_a_spare_start_leaves_the_reserve_free() -> None:
    schedule = SlotSchedule(4, 10.0, margin=0.0)
    assert schedule.spare_start(2) == schedule.next_start()  # 4 unused: 3 > 2 leaves 2
    schedule.start(0.0)
    assert schedule.can_start_spare(0.0, 2)  # 3 free: one may go, 2 stay
    schedule.start(0.0)
    assert not schedule.can_start_spare(0.0, 2)  # 2 free: both are the reserve's
    assert schedule.can_start(0.0)  # an ordinary request still starts
    assert schedule.spare_start(2) is None  # busy slots must end first
    schedule.finish(1.0)  # free again at 11
    assert schedule.spare_start(2) == 11.0
    schedule.finish(3.0)  # at 13
    assert schedule.spare_start(3) == 13.0  # capped: 3 of 4 left free is all but one
    assert schedule.spare_start(99) == schedule.spare_start(3)
    schedule.pause(20.0)
    assert schedule.spare_start(2) == 20.0


async def test_ordinary_requests_pass_the_waiting_spare_ones() -> None:
    limiter = ItrLimiter(SlotSchedule(2, 0.2))
    order: list[str] = []

    async def take(name: str, *, spare: bool) -> None:
        async with limiter.spare_slot(1) if spare else limiter.slot():
            order.append(name)

    await take("first", spare=True)  # 2 free: it leaves 1
    spare = asyncio.create_task(take("spare", spare=True))  # 1 free: it waits
    await asyncio.sleep(0)
    assert order == ["first"]
    assert limiter.waiting == 1
    await take("poll", spare=False)  # goes at once, ahead of the waiting spare one
    assert order == ["first", "poll"]
    await asyncio.wait_for(spare, timeout=30)  # once both slots came back
    assert order == ["first", "poll", "spare"]
    assert limiter.waiting == 0


async def test_a_cancelled_spare_waiter_leaves_nothing_behind() -> None:
    idle: list[ItrLimiter] = []
    limiter = ItrLimiter(SlotSchedule(1, 0.1), on_idle=idle.append)
    async with limiter.slot():
        waiter = asyncio.create_task(limiter._acquire_spare(0))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert limiter.waiting == 0
    assert idle == [limiter]  # nothing holds or waits: the registry may rest it
