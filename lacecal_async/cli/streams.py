"""Several event streams as one: a resumed fetch asks each plant from a different start."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Sequence
from typing import TypeVar

__all__ = ["merge"]

T = TypeVar("T")


async def merge(streams: Sequence[AsyncGenerator[T]]) -> AsyncGenerator[T]:
    """Yield the events of all `streams` as they come; closing it closes them all."""
    queue: asyncio.Queue[tuple[T] | Exception | None] = asyncio.Queue(1)

    async def pump(stream: AsyncGenerator[T]) -> None:
        try:
            async with contextlib.aclosing(stream):
                async for event in stream:
                    await queue.put((event,))
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            await queue.put(exc)
        else:
            await queue.put(None)

    tasks = [asyncio.create_task(pump(stream)) for stream in streams]
    try:
        running = len(tasks)
        while running:
            item = await queue.get()
            if item is None:
                running -= 1
            elif isinstance(item, Exception):
                raise item
            else:
                yield item[0]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
