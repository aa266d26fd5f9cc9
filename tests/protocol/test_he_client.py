"""The HE client against the simulated HE server: every kind of reply HE gives.

Endpoint updates (nic/update) and tunnel information (tunnelInfo.php).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import aiohttp
import pytest

from custom_components.tunnelbroker.protocol.he_client import (
    DEFAULT_API_URL,
    DEFAULT_INFO_API_URL,
    MAX_INFO_REPLY_BYTES,
    TunnelbrokerClient,
    TunnelCredentials,
    TunnelInfo,
    TunnelInfoStatus,
    UpdateResult,
    UpdateStatus,
    parse_tunnel_info,
    parse_update_reply,
    validate_api_url,
)
from simulators.he import DEFAULT_SERVER_V4, ICMP_ERROR, HeSimulator, InfoFault
from tests.support.values import TUNNEL_ID, UPDATE_KEY, USERNAME

CREDENTIALS = TunnelCredentials(USERNAME, UPDATE_KEY, TUNNEL_ID)


@pytest.fixture
async def client(he: HeSimulator) -> AsyncGenerator[TunnelbrokerClient]:
    async with aiohttp.ClientSession() as session:
        yield TunnelbrokerClient(session, he.url, timeout=1, info_api_url=he.url)


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


async def test_non_ascii_credentials_reach_he_as_utf8(
    client: TunnelbrokerClient, he: HeSimulator
) -> None:
    """HE's account names and keys are sent as UTF-8 (RFC 7617), not Latin-1."""
    he.add_tunnel("jürgen", "777", "schlüssel-ß")
    credentials = TunnelCredentials("jürgen", "schlüssel-ß", "777")
    result = await client.async_update_endpoint(credentials, "84.17.1.7")
    assert result.status is UpdateStatus.GOOD
    (request,) = he.requests
    assert request.username == "jürgen"


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
    # HE said no and changed nothing: settled, and only the user can fix it.
    assert result.refused
    assert not result.unsettled


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
        ("Too Many Requests", 429, UpdateStatus.UNAVAILABLE),
        ("", 408, UpdateStatus.UNAVAILABLE),
        ("Not Found", 404, UpdateStatus.UNKNOWN),
        ("", 302, UpdateStatus.UNKNOWN),
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
    # Whether HE took the address is open after an outage and after any answer nobody knows.
    assert result.unsettled is (
        expected in (UpdateStatus.UNAVAILABLE, UpdateStatus.ERROR, UpdateStatus.UNKNOWN)
    )
    assert result.refused is (expected is UpdateStatus.BADAUTH)


async def test_timeout(client: TunnelbrokerClient, he: HeSimulator) -> None:
    he.force_reply("good 84.17.1.7", delay=3)
    result = await client.async_update_endpoint(CREDENTIALS, "84.17.1.7")
    assert result.status is UpdateStatus.UNAVAILABLE
    assert result.message == "timeout"


async def test_connection_refused(client: TunnelbrokerClient, he: HeSimulator) -> None:
    await he.stop()
    result = await client.async_update_endpoint(CREDENTIALS, "84.17.1.7")
    assert result.status is UpdateStatus.UNAVAILABLE
    assert result.unsettled
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


# -- tunnelInfo.php ---------------------------------------------------------------------------

INFO_XML = """<?xml version="1.0" encoding="UTF-8"?>
<tunnels>
  <tunnel id="111"><serverv4>216.66.80.30</serverv4></tunnel>
  <tunnel id="{tid}">
    <description>{description}</description>
    <serverv4>{server_v4}</serverv4>
    <clientv4>{client_v4}</clientv4>
    <serverv6>{server_v6}</serverv6>
    <clientv6>{client_v6}</clientv6>
    <routed64>{routed_64}</routed64>
    {extra}
  </tunnel>
</tunnels>"""
GOOD_VALUES = {
    "tid": TUNNEL_ID,
    "description": "Home",
    "server_v4": "216.66.80.26",
    "client_v4": "84.17.0.10",
    "server_v6": "2001:470:1f0a:1e24::1/64",
    "client_v6": "2001:470:1f0a:1e24::2/64",
    "routed_64": "2001:470:1f0b:1e24::/64",
    "extra": "<routed48>2001:470:7d1b::/48</routed48><rdns1>ns1.example</rdns1>",
}


async def test_tunnel_info_from_simulator(
    client: TunnelbrokerClient, he: HeSimulator
) -> None:
    """The simulated HE describes the tunnel; an update changes what it reports as clientv4."""
    result = await client.async_get_tunnel_info(CREDENTIALS)
    assert result.status is TunnelInfoStatus.OK
    assert result.info == TunnelInfo(
        tunnel_id=TUNNEL_ID,
        description=None,
        server_v4=DEFAULT_SERVER_V4,
        client_v4="198.51.100.1",
        server_v6="2001:470:1f0a:e240::1/64",
        client_v6="2001:470:1f0a:e240::2/64",
        routed_64="2001:470:1f0b:e240::/64",
        routed_48=None,
    )
    await client.async_update_endpoint(CREDENTIALS, "84.17.1.7")
    again = await client.async_get_tunnel_info(CREDENTIALS)
    assert again.info is not None
    assert again.info.client_v4 == "84.17.1.7"


async def test_tunnel_info_request_shape(
    client: TunnelbrokerClient, he: HeSimulator
) -> None:
    """Basic auth in the header, the tunnel id as `tid` in the query, nothing else."""
    await client.async_get_tunnel_info(CREDENTIALS)
    (request,) = he.info_requests
    assert request.authorized
    assert request.username == USERNAME
    assert request.tunnel_id == TUNNEL_ID
    assert request.path_qs == f"/tunnelInfo.php?tid={TUNNEL_ID}"
    assert he.requests == []  # no update was sent


async def test_tunnel_info_routed_48_and_other_tunnels(
    client: TunnelbrokerClient, he: HeSimulator
) -> None:
    """A /48 is reported when HE allocated one; another tunnel of the account is not mixed in."""
    he.add_tunnel(USERNAME, "222", UPDATE_KEY, routed_48="2001:470:7d1b::/48")
    result = await client.async_get_tunnel_info(
        TunnelCredentials(USERNAME, UPDATE_KEY, "222")
    )
    assert result.info is not None
    assert result.info.routed_48 == "2001:470:7d1b::/48"
    assert result.info.routed_64 == "2001:470:1f0b:de::/64"


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (InfoFault.REFUSE, "HTTP 401"),
        (InfoFault.GARBAGE, "not XML: <html><body>Please log in</body></html"),
        (InfoFault.BOMB, "forbidden XML: DTDForbidden"),
        (InfoFault.HUGE, "reply too large"),
    ],
)
async def test_tunnel_info_refused(
    client: TunnelbrokerClient, he: HeSimulator, fault: InfoFault, message: str
) -> None:
    """HE answered, but not with the tunnel: refused, with a short reason, no exception."""
    he.set_info_fault(fault)
    result = await client.async_get_tunnel_info(CREDENTIALS)
    assert result.status is TunnelInfoStatus.REFUSED
    assert result.info is None
    assert result.message == message


@pytest.mark.parametrize(
    ("credentials", "message"),
    [
        (TunnelCredentials(USERNAME, "wrong-key", TUNNEL_ID), "HTTP 401"),
        (TunnelCredentials("mallory", UPDATE_KEY, TUNNEL_ID), "HTTP 401"),
        (TunnelCredentials(USERNAME, UPDATE_KEY, "999"), "no tunnel 999 in the reply"),
    ],
)
async def test_tunnel_info_wrong_credentials(
    client: TunnelbrokerClient, credentials: TunnelCredentials, message: str
) -> None:
    result = await client.async_get_tunnel_info(credentials)
    assert result.status is TunnelInfoStatus.REFUSED
    assert result.message == message


async def test_tunnel_info_unavailable(
    client: TunnelbrokerClient, he: HeSimulator
) -> None:
    """HTTP 5xx, a timeout and a closed port are "unreachable", not a refusal."""
    he.set_info_fault(InfoFault.HTTP_ERROR)
    result = await client.async_get_tunnel_info(CREDENTIALS)
    assert (result.status, result.message) == (TunnelInfoStatus.UNAVAILABLE, "HTTP 500")
    he.set_info_fault(InfoFault.SLOW)
    result = await client.async_get_tunnel_info(CREDENTIALS)
    assert (result.status, result.message) == (TunnelInfoStatus.UNAVAILABLE, "timeout")
    await he.stop()
    result = await client.async_get_tunnel_info(CREDENTIALS)
    assert result.status is TunnelInfoStatus.UNAVAILABLE
    assert result.message.startswith("connection failed")


@pytest.mark.parametrize(
    ("http_status", "expected"),
    [
        (429, TunnelInfoStatus.UNAVAILABLE),
        (503, TunnelInfoStatus.UNAVAILABLE),
        (302, TunnelInfoStatus.REFUSED),  # e.g. to a login page: not followed
        (403, TunnelInfoStatus.REFUSED),
    ],
)
async def test_tunnel_info_http_status(
    client: TunnelbrokerClient,
    he: HeSimulator,
    http_status: int,
    expected: TunnelInfoStatus,
) -> None:
    """Other statuses: rate limiting is "unreachable", a redirect is not followed."""
    he.state.info_error_status = http_status
    he.set_info_fault(InfoFault.HTTP_ERROR)
    result = await client.async_get_tunnel_info(CREDENTIALS)
    assert result.status is expected
    assert result.message == f"HTTP {http_status}"


def test_parse_tunnel_info_all_fields() -> None:
    """Every documented element is read; rdns entries are ignored."""
    result = parse_tunnel_info(INFO_XML.format(**GOOD_VALUES), TUNNEL_ID)
    assert result.status is TunnelInfoStatus.OK
    assert result.info == TunnelInfo(
        tunnel_id=TUNNEL_ID,
        description="Home",
        server_v4="216.66.80.26",
        client_v4="84.17.0.10",
        server_v6="2001:470:1f0a:1e24::1/64",
        client_v6="2001:470:1f0a:1e24::2/64",
        routed_64="2001:470:1f0b:1e24::/64",
        routed_48="2001:470:7d1b::/48",
    )


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("server_v4", "216.66.80.300", None),
        ("server_v4", "2001:470::1", None),  # IPv6 where IPv4 belongs
        ("client_v4", "", None),
        ("client_v4", "  84.17.0.10 ", "84.17.0.10"),
        ("server_v6", "216.66.80.26", None),
        ("server_v6", "2001:0470:1f0a::0001", "2001:470:1f0a::1"),  # no prefix: address
        ("client_v6", "not-an-address/64", None),
        ("routed_64", "2001:470:1f0b:1e24::/56", None),  # wrong length
        ("routed_64", "2001:470:1f0b:1e24::1/64", None),  # host bits set
        ("routed_64", "10.0.0.0/8", None),
        ("routed_64", "2001:470:1f0b:1e24:0::/64", "2001:470:1f0b:1e24::/64"),
    ],
)
def test_parse_tunnel_info_malformed_values(
    field: str, value: str, expected: str | None
) -> None:
    """A malformed or mistyped value becomes None; the rest of the tunnel is still read."""
    result = parse_tunnel_info(
        INFO_XML.format(**GOOD_VALUES | {field: value}), TUNNEL_ID
    )
    assert result.info is not None
    assert getattr(result.info, field) == expected
    assert result.info.description == "Home"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"badauth", "not XML: badauth"),
        (b"", "not XML: "),
        (b"<tunnel id='123456'/>", "unexpected XML root <tunnel>"),
        (b"<tunnels/>", "no tunnel 123456 in the reply"),
        (
            b'<!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]><tunnels>&x;</tunnels>',
            "forbidden XML: DTDForbidden",
        ),
        (b"<tunnels>" + b" " * MAX_INFO_REPLY_BYTES + b"</tunnels>", "reply too large"),
    ],
)
def test_parse_tunnel_info_refusals(body: bytes, message: str) -> None:
    result = parse_tunnel_info(body, TUNNEL_ID)
    assert result.status is TunnelInfoStatus.REFUSED
    assert result.message == message


def test_default_info_url_is_he_main_host() -> None:
    """tunnelInfo.php is on tunnelbroker.net, not on the ipv4. update host."""
    assert DEFAULT_INFO_API_URL == "https://tunnelbroker.net"
    assert DEFAULT_API_URL == "https://ipv4.tunnelbroker.net"
