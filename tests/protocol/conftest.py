"""The router's HTTP requester, shared by the router client's test modules."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import aiohttp
import pytest

from custom_components.tunnelbroker.protocol.igd_transport import BoundedRequester


@pytest.fixture
async def requester() -> AsyncGenerator[BoundedRequester]:
    async with aiohttp.ClientSession() as session:
        yield BoundedRequester(session, timeout=2)
