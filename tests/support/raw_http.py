"""A raw HTTP/1.1 server on 127.0.0.1, for replies no well-behaved server library will send.

aiohttp's server refuses control characters in a reason phrase and sets Content-Length
itself; a hostile server does neither. Each connection gets one reply, then is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence

#: Builds the whole reply (status line, headers, body) from the request target.
Reply = Callable[[str], bytes]


def http_reply(status: int, reason: str, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    """Return a reply as bytes, exactly as given: no header is added or checked."""
    head = f"HTTP/1.1 {status} {reason}\r\n".encode("latin-1", "replace")
    for name, value in headers:
        head += f"{name}: {value}\r\n".encode("latin-1", "replace")
    return head + b"\r\n" + body


@contextlib.asynccontextmanager
async def raw_server(reply: Reply) -> AsyncIterator[str]:
    """Serve `reply` on loopback in the running loop; yield the API's base URL."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ", 2)[1].decode("latin-1")
            writer.write(reply(target))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client gave up first
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/APIv1/"
    finally:
        server.close()
        await server.wait_closed()


@contextlib.contextmanager
def threaded_raw_server(reply: Reply) -> Iterator[str]:
    """`raw_server` in a background thread's loop (for code that runs its own loop)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    context = raw_server(reply)
    try:
        yield asyncio.run_coroutine_threadsafe(context.__aenter__(), loop).result(10)
    finally:
        asyncio.run_coroutine_threadsafe(context.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
