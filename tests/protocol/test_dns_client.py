"""The dynamic DNS client against the simulated dns.he.net: every kind of answer HE gives.

One name, one key; an A record for IPv4, an AAAA record for IPv6, each its own request.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from datetime import timedelta
import logging

import aiohttp
from freezegun.api import FrozenDateTimeFactory
import pytest

from custom_components.tunnelbroker.protocol.dns_client import (
    DnsClient,
    RecordCredentials,
    RecordType,
    is_fqdn,
    normalized_name,
    record_type_of,
)
from custom_components.tunnelbroker.protocol.he_client import UpdateResult, UpdateStatus
from simulators.he import (
    DNS_INTERVAL_LIMIT,
    DNS_PATH_PREFIX,
    AbuseRule,
    DnsRecord,
    HeSimulator,
)

HOSTNAME = "home.example.org"
RECORD_KEY = "dyn-R3cord-K3y"
CREDENTIALS = RecordCredentials(HOSTNAME, RECORD_KEY)
# Global addresses (HE refuses private, loopback and documentation ones).
V4 = "84.17.1.7"
V4_OTHER = "84.17.1.8"
V6 = "2001:470:1f0b:e240::10"
V6_OTHER = "2001:470:1f0b:e240::11"


@pytest.fixture(autouse=True)
def record_key_never_logged(caplog: pytest.LogCaptureFixture) -> Generator[None]:
    """Fail any test in which the record's key shows up in a log record, at any level."""
    caplog.set_level(logging.DEBUG)
    yield
    formatter = logging.Formatter()
    leaked = [
        r.getMessage() for r in caplog.records if RECORD_KEY in formatter.format(r)
    ]
    assert not leaked, f"record key in log records: {leaked}"


@pytest.fixture
def record(he: HeSimulator) -> DnsRecord:
    """The test name at dns.he.net, dynamic, its A and AAAA records empty."""
    return he.add_record(HOSTNAME, RECORD_KEY)


@pytest.fixture
async def client(he: HeSimulator, record: DnsRecord) -> AsyncGenerator[DnsClient]:
    async with aiohttp.ClientSession() as session:
        yield DnsClient(session, he.url + DNS_PATH_PREFIX, timeout=1)
    # The key travels only in the Authorization header, never in a URL.
    assert not [r.path_qs for r in he.dns_requests if RECORD_KEY in r.path_qs]


async def test_a_record_then_nochg(
    client: DnsClient, he: HeSimulator, record: DnsRecord
) -> None:
    result = await client.async_update_record(CREDENTIALS, V4)
    assert result == UpdateResult(UpdateStatus.GOOD, V4, f"good {V4}")
    assert result.success
    assert (record.a, record.aaaa) == (V4, None)
    again = await client.async_update_record(CREDENTIALS, V4)
    assert again == UpdateResult(UpdateStatus.NOCHG, V4, f"nochg {V4}")
    assert again.success
    assert he.requests == []  # dns.he.net only, no tunnel update


async def test_aaaa_record_is_its_own_request(
    client: DnsClient, he: HeSimulator, record: DnsRecord
) -> None:
    """IPv6 goes to the AAAA record in a request of its own; the A record stays as it was."""
    await client.async_update_record(CREDENTIALS, V4)
    result = await client.async_update_record(CREDENTIALS, V6)
    assert result == UpdateResult(UpdateStatus.GOOD, V6, f"good {V6}")
    assert (record.a, record.aaaa) == (V4, V6)
    assert [r.myip for r in he.dns_requests] == [V4, V6]
    again = await client.async_update_record(CREDENTIALS, V6)
    assert again.status is UpdateStatus.NOCHG
    assert record.a == V4


async def test_request_shape_keeps_key_out_of_url(
    client: DnsClient, he: HeSimulator
) -> None:
    await client.async_update_record(CREDENTIALS, V4)
    (request,) = he.dns_requests
    assert request.authorized
    assert request.username == HOSTNAME  # basic auth, the name as the user
    assert request.hostname == HOSTNAME
    assert request.myip == V4
    assert RECORD_KEY not in request.path_qs
    assert "password" not in request.path_qs
    assert request.path_qs.startswith(f"{DNS_PATH_PREFIX}/nic/update?")
    assert RECORD_KEY not in repr(CREDENTIALS)
    assert HOSTNAME in repr(CREDENTIALS)


@pytest.mark.parametrize(
    ("credentials", "status"),
    [
        (RecordCredentials(HOSTNAME, "wrong-key"), UpdateStatus.BADAUTH),
        (RecordCredentials("other.example.org", RECORD_KEY), UpdateStatus.NOHOST),
        # The client's own check would stop a single label; this is what HE says to one.
        (RecordCredentials("localhost", RECORD_KEY), UpdateStatus.NOTFQDN),
    ],
)
async def test_refusals(
    client: DnsClient,
    record: DnsRecord,
    credentials: RecordCredentials,
    status: UpdateStatus,
) -> None:
    result = await client.async_update_record(credentials, V4)
    assert result.status is status
    assert not result.success
    # HE said no and changed nothing: settled, and only the user can fix it.
    assert result.refused
    assert not result.unsettled
    assert record.a is None


async def test_record_not_dynamic_is_nohost(client: DnsClient, he: HeSimulator) -> None:
    """A record that exists but is not marked dynamic in dns.he.net is not found."""
    he.add_record("static.example.org", RECORD_KEY, a=V4_OTHER, dynamic=False)
    result = await client.async_update_record(
        RecordCredentials("static.example.org", RECORD_KEY), V4
    )
    assert result.status is UpdateStatus.NOHOST
    assert he.record("static.example.org").a == V4_OTHER


async def test_blocked_agent_is_badagent(
    client: DnsClient, he: HeSimulator, record: DnsRecord
) -> None:
    he.state.blocked_agents.add("aiohttp")  # the client's User-Agent names aiohttp
    result = await client.async_update_record(CREDENTIALS, V4)
    assert result.status is UpdateStatus.BADAGENT
    assert result.refused
    assert record.a is None


async def test_abuse(client: DnsClient, he: HeSimulator, record: DnsRecord) -> None:
    he.state.dns_abuse = AbuseRule(limit=1)
    assert (await client.async_update_record(CREDENTIALS, V4)).success
    result = await client.async_update_record(CREDENTIALS, V4_OTHER)
    assert result.status is UpdateStatus.ABUSE
    assert not result.success
    assert record.a == V4


async def test_interval_after_ten_updates_in_two_minutes(
    client: DnsClient,
    he: HeSimulator,
    record: DnsRecord,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A and AAAA updates of one name count together; two minutes later HE takes one again."""
    addresses = [V4, V6, V4_OTHER, V6_OTHER] * 3
    for ip in addresses[:DNS_INTERVAL_LIMIT]:
        assert (await client.async_update_record(CREDENTIALS, ip)).success
        freezer.tick(timedelta(seconds=5))
    assert (record.a, record.aaaa) == (V4, V6)

    result = await client.async_update_record(CREDENTIALS, V4_OTHER)

    assert result.status is UpdateStatus.INTERVAL
    assert not result.success
    assert not result.refused  # HE takes it again later, without the user
    assert (record.a, record.aaaa) == (V4, V6)
    freezer.tick(timedelta(minutes=2))
    assert (await client.async_update_record(CREDENTIALS, V4_OTHER)).status is (
        UpdateStatus.GOOD
    )
    assert record.a == V4_OTHER


@pytest.mark.parametrize(
    ("body", "http_status"),
    [("911", 200), ("dnserr", 200), ("", 500), ("Too Many Requests", 429)],
)
async def test_outage_is_unavailable(
    client: DnsClient, he: HeSimulator, body: str, http_status: int
) -> None:
    he.force_dns_reply(body, http_status)
    result = await client.async_update_record(CREDENTIALS, V4)
    assert result.status is UpdateStatus.UNAVAILABLE
    assert result.unsettled


async def test_timeout_is_unavailable(he: HeSimulator, record: DnsRecord) -> None:
    he.force_dns_reply(f"good {V4}", delay=0.5)
    async with aiohttp.ClientSession() as session:
        client = DnsClient(session, he.url + DNS_PATH_PREFIX, timeout=0.1)
        result = await client.async_update_record(CREDENTIALS, V4)
    assert (result.status, result.message) == (UpdateStatus.UNAVAILABLE, "timeout")
    assert result.unsettled


async def test_connection_refused_is_unavailable(
    client: DnsClient, he: HeSimulator
) -> None:
    await he.stop()
    result = await client.async_update_record(CREDENTIALS, V4)
    assert result.status is UpdateStatus.UNAVAILABLE
    assert result.message.startswith("connection failed")


@pytest.mark.parametrize(
    ("body", "http_status", "message"),
    [
        ("<html><body>Please log in</body></html>", 200, None),
        ("", 302, "HTTP 302"),  # to a login page: not followed
        ("Not Found", 404, "Not Found"),
        (f"good {V6}", 200, f"good {V6}"),  # the other IP version echoed
    ],
)
async def test_unknown_answers(
    client: DnsClient,
    he: HeSimulator,
    body: str,
    http_status: int,
    message: str | None,
) -> None:
    """An answer nobody knows: HE may or may not have taken the address."""
    he.force_dns_reply(body, http_status)
    result = await client.async_update_record(CREDENTIALS, V4)
    assert result.status is UpdateStatus.UNKNOWN
    assert result.unsettled
    assert not result.success
    if message is not None:
        assert result.message == message
    assert len(he.dns_requests) == 1


async def test_lost_reply(
    client: DnsClient, he: HeSimulator, record: DnsRecord
) -> None:
    """HE took the address and its answer was lost: unavailable, and HE holds the address."""
    he.force_dns_reply("", 500, taken=True)
    result = await client.async_update_record(CREDENTIALS, V4)
    assert result.status is UpdateStatus.UNAVAILABLE
    assert result.unsettled
    assert record.a == V4
    he.clear_forced_dns_reply()
    assert (await client.async_update_record(CREDENTIALS, V4)).status is (
        UpdateStatus.NOCHG
    )


@pytest.mark.parametrize(
    ("name", "normalized", "fqdn"),
    [
        ("home.example.org", "home.example.org", True),
        ("home.example.org.", "home.example.org", True),  # trailing dot
        (" Home.EXAMPLE.org ", "home.example.org", True),  # upper case, spaces
        ("my-host.example.org", "my-host.example.org", True),
        ("localhost", "localhost", False),  # a single label
        ("", "", False),
        (".", "", False),
        (f"{'a' * 63}.example.org", f"{'a' * 63}.example.org", True),
        (f"{'a' * 64}.example.org", f"{'a' * 64}.example.org", False),  # label too long
        ("-home.example.org", "-home.example.org", False),  # leading hyphen
        ("home-.example.org", "home-.example.org", False),  # trailing hyphen
        ("home..example.org", "home..example.org", False),  # empty label
        ("home_1.example.org", "home_1.example.org", False),
        (".".join(["a" * 63] * 4), ".".join(["a" * 63] * 4), False),  # 255 chars
    ],
)
def test_names(name: str, normalized: str, fqdn: bool) -> None:
    assert normalized_name(name) == normalized
    assert is_fqdn(normalized_name(name)) is fqdn


@pytest.mark.parametrize(
    ("address", "record_type"),
    [
        (V4, RecordType.A),
        ("10.0.0.1", RecordType.A),  # which record, not whether HE takes it
        (V6, RecordType.AAAA),
        ("::ffff:84.17.1.7", RecordType.AAAA),
        ("2001:470::1", RecordType.AAAA),
    ],
)
def test_record_type_of(address: str, record_type: RecordType) -> None:
    assert record_type_of(address) is record_type


@pytest.mark.parametrize(
    "garbage", ["", "home.example.org", "84.17.1.300", f"{V4},{V6}", f"{V6}/64"]
)
def test_record_type_of_garbage_raises(garbage: str) -> None:
    with pytest.raises(ValueError):
        record_type_of(garbage)
