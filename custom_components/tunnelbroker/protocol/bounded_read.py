"""Reading an HTTP body only up to a bound: a router, HE or a LAN host cannot fill memory."""

from __future__ import annotations

import aiohttp


async def read_at_most(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """Return the body, or its first `limit` bytes when it is longer.

    One read may return only part of a body, so it reads until the bound or the end. A caller
    that must tell a body that just fits from a longer one asks for one byte more.
    """
    chunks: list[bytes] = []
    size = 0
    while size < limit and (chunk := await stream.read(limit - size)):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
