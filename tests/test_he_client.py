"""The HE client against the simulated HE server: every kind of reply HE gives."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import aiohttp
import pytest

from custom_components.tunnelbroker.he_client import (
    TunnelbrokerClient,
    TunnelCredentials,
    UpdateResult,
    UpdateStatus,
    parse_update_reply,
    validate_api_url,
)
from simulators.he import ICMP_ERROR, HeSimulator

from .conftest import TUNNEL_ID, UPDATE_KEY, USERNAME

CREDENTIALS = TunnelCredentials(USERNAME, UPDATE_KEY, TUNNEL_ID)


@pytest.fixture
async def client(he: HeSimulator) -> AsyncGenerator[TunnelbrokerClient]:
    async with aiohttp.ClientSession() as session:
        yield TunnelbrokerClient(session, he.url, timeout=1)


async def test_good_then_nochg(client: TunnelbrokerClient, he: HeSimulator) -> None:
    result = await client.async_update_endpoint(CREDENTIALS, "84.17.1.7")
    assert result == UpdateResult(UpdateStatus.GOOD, "84.17.1.7", "good 84.17.1.7")
    assert result.success
    assert he.tunnel(TUNNEL_ID).endpoint == "84.17.1.7"
    again = await client.async_update_endpoint(CREDENTIALS, "84.17.1.7")
    assert again.status is UpdateStatus.NOCHG
    assert again.success


async def test_request_shape_keeps_key_out_of_url(
    client: TunnelbrokerClient, he: HeSimulator
) -> None:
    await client.async_update_endpoint(CREDENTIALS, "84.17.1.7")
    (request,) = he.requests
    assert request.authorized
    assert request.username == USERNAME
    assert request.tunnel_id == TUNNEL_ID
    assert request.myip == "84.17.1.7"
    assert UPDATE_KEY not in request.path_qs
    assert "password" not in request.path_qs
    assert UPDATE_KEY not in repr(CREDENTIALS)


@pytest.mark.parametrize(
    ("credentials", "status"),
    [
        (TunnelCredentials(USERNAME, "wrong-key", TUNNEL_ID), UpdateStatus.BADAUTH),
        (TunnelCredentials("mallory", UPDATE_KEY, TUNNEL_ID), UpdateStatus.BADAUTH),
        (TunnelCredentials(USERNAME, UPDATE_KEY, "999"), UpdateStatus.NOHOST),
    ],
)
async def test_refusals(
    client: TunnelbrokerClient, credentials: TunnelCredentials, status: UpdateStatus
) -> None:
    result = await client.async_update_endpoint(credentials, "84.17.1.7")
    assert result.status is status
    assert not result.success
    assert not result.retryable


async def test_private_address_is_badip(client: TunnelbrokerClient) -> None:
    result = await client.async_update_endpoint(CREDENTIALS, "192.168.1.2")
    assert result.status is UpdateStatus.BADIP


async def test_icmp_refusal(client: TunnelbrokerClient, he: HeSimulator) -> None:
    he.state.unpingable.add("84.17.1.9")
    result = await client.async_update_endpoint(CREDENTIALS, "84.17.1.9")
    assert result.status is UpdateStatus.ICMP_BLOCKED
    assert "66.220.2.74" in result.message


@pytest.mark.parametrize(
    ("body", "http_status", "expected"),
    [
        ("abuse", 200, UpdateStatus.ABUSE),
        ("911", 200, UpdateStatus.UNAVAILABLE),
        ("dnserr", 200, UpdateStatus.UNAVAILABLE),
        ("", 502, UpdateStatus.UNAVAILABLE),
        ("-ERROR: Missing parameter(s).", 200, UpdateStatus.ERROR),
        ("<html>captive portal</html>", 200, UpdateStatus.UNKNOWN),
        ("", 401, UpdateStatus.BADAUTH),
        ("good not-an-ip", 200, UpdateStatus.UNKNOWN),
    ],
)
async def test_forced_replies(
    client: TunnelbrokerClient,
    he: HeSimulator,
    body: str,
    http_status: int,
    expected: UpdateStatus,
) -> None:
    he.force_reply(body, http_status)
    result = await client.async_update_endpoint(CREDENTIALS, "84.17.1.7")
    assert result.status is expected
    assert result.retryable is (expected is UpdateStatus.UNAVAILABLE)


async def test_timeout(client: TunnelbrokerClient, he: HeSimulator) -> None:
    he.force_reply("good 84.17.1.7", delay=3)
    result = await client.async_update_endpoint(CREDENTIALS, "84.17.1.7")
    assert result.status is UpdateStatus.UNAVAILABLE
    assert result.message == "timeout"


async def test_connection_refused(client: TunnelbrokerClient, he: HeSimulator) -> None:
    await he.stop()
    result = await client.async_update_endpoint(CREDENTIALS, "84.17.1.7")
    assert result.status is UpdateStatus.UNAVAILABLE
    assert result.retryable
    assert result.message.startswith("connection failed")


async def test_huge_reply_is_bounded(
    client: TunnelbrokerClient, he: HeSimulator
) -> None:
    he.force_reply("x" * 1_000_000)
    result = await client.async_update_endpoint(CREDENTIALS, "84.17.1.7")
    assert result.status is UpdateStatus.UNKNOWN
    assert len(result.message) <= 300


def test_parse_icmp_text() -> None:
    assert parse_update_reply(200, ICMP_ERROR).status is UpdateStatus.ICMP_BLOCKED
    assert parse_update_reply(200, "nochg").ip is None


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "ftp://127.0.0.1",
        "https://user:pw@ipv4.tunnelbroker.net",
        "https://ipv4.tunnelbroker.net/?x=1",
        "not a url",
    ],
)
def test_api_url_refused(url: str) -> None:
    with pytest.raises(ValueError):
        validate_api_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://ipv4.tunnelbroker.net/",
        "http://127.0.0.1:8080",
        "http://localhost:1",
        "http://[::1]:2",
    ],
)
def test_api_url_accepted(url: str) -> None:
    assert validate_api_url(url) == url.rstrip("/")
