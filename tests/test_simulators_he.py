"""The simulated HE's dynamic DNS (dns.he.net), where the client does not go.

What DnsClient meets is in tests/protocol/test_dns_client.py; here: a POST with a form body,
the key in the query, several addresses in one request, the order of HE's checks, held
updates and what /sim/state shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any
import urllib.request

import aiohttp
import pytest

from custom_components.tunnelbroker.protocol.he_client import (
    TunnelCredentials,
    basic_authorization,
)
from simulators.__main__ import DEMO_RECORD_KEY, demo_record_names
from simulators.he import DNS_INTERVAL_LIMIT, DNS_PATH_PREFIX, DnsRecord, HeSimulator
from tests.support.simulator_process import DNS_BANNER, HE_BANNER, SimulatorProcess
from tests.support.values import TUNNEL_ID, UPDATE_KEY, USERNAME

HOSTNAME = "home.example.org"
RECORD_KEY = "dyn-R3cord-K3y"
V4 = "84.17.1.7"
V6 = "2001:470:1f0b:e240::10"
AUTH = basic_authorization(HOSTNAME, RECORD_KEY)


@pytest.fixture
def record(he: HeSimulator) -> DnsRecord:
    return he.add_record(HOSTNAME, RECORD_KEY)


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def dns_update(
    session: aiohttp.ClientSession,
    he: HeSimulator,
    params: dict[str, str] | None = None,
    *,
    authorization: str | None = AUTH,
    method: str = "GET",
    data: dict[str, str] | None = None,
    **request: Any,
) -> str:
    """Send one dynamic DNS update as a client of HE's might; return HE's answer."""
    headers = {} if authorization is None else {"Authorization": authorization}
    async with session.request(
        method,
        f"{he.url}{DNS_PATH_PREFIX}/nic/update",
        params=params,
        data=data,
        headers=headers,
        **request,
    ) as response:
        assert response.status == 200
        return await response.text()


async def test_post_with_a_form_body(
    session: aiohttp.ClientSession, he: HeSimulator, record: DnsRecord
) -> None:
    answer = await dns_update(
        session, he, method="POST", data={"hostname": HOSTNAME, "myip": V4}
    )
    assert answer == f"good {V4}"
    assert record.a == V4
    (request,) = he.dns_requests
    assert (request.hostname, request.myip) == (HOSTNAME, V4)
    assert request.path_qs == f"{DNS_PATH_PREFIX}/nic/update"  # nothing in the URL
    # A POST with the query string works as a GET.
    answer = await dns_update(
        session, he, {"hostname": HOSTNAME, "myip": V6}, method="POST"
    )
    assert answer == f"good {V6}"


async def test_key_in_the_query_is_accepted(
    session: aiohttp.ClientSession, he: HeSimulator, record: DnsRecord
) -> None:
    """As at HE, though the integration never sends it so (it would be in the URL)."""
    params = {"hostname": HOSTNAME, "myip": V4, "password": RECORD_KEY}
    assert await dns_update(session, he, params, authorization=None) == f"good {V4}"
    assert RECORD_KEY in he.dns_requests[0].path_qs  # what the client tests rule out
    params["password"] = "wrong"
    assert await dns_update(session, he, params, authorization=None) == "badauth"


async def test_basic_auth_user_must_be_the_name(
    session: aiohttp.ClientSession, he: HeSimulator, record: DnsRecord
) -> None:
    params = {"hostname": HOSTNAME, "myip": V4}
    other_user = basic_authorization("vpn.example.org", RECORD_KEY)
    assert await dns_update(session, he, params, authorization=other_user) == "badauth"
    assert await dns_update(session, he, params, authorization=None) == "badauth"
    assert record.a is None


@pytest.mark.parametrize(
    "myip",
    [
        f"{V4},{V6}",  # both at once: HE wants one request each
        "not-an-ip",
        "192.168.1.2",  # private
        "127.0.0.1",  # loopback
        "2001:db8::1",  # documentation
        "fe80::1",  # link-local
        "224.0.0.1",  # multicast
    ],
)
async def test_not_one_global_address_is_badip(
    session: aiohttp.ClientSession, he: HeSimulator, record: DnsRecord, myip: str
) -> None:
    assert await dns_update(session, he, {"hostname": HOSTNAME, "myip": myip}) == (
        "badip"
    )
    assert (record.a, record.aaaa) == (None, None)


async def test_without_myip_the_senders_address_is_used(
    session: aiohttp.ClientSession, he: HeSimulator, record: DnsRecord
) -> None:
    """The request comes from 127.0.0.1 here, which HE refuses."""
    assert await dns_update(session, he, {"hostname": HOSTNAME}) == "badip"
    assert he.dns_requests[0].myip is None


@pytest.mark.parametrize(
    ("params", "authorization", "blocked", "answer"),
    [
        ({"myip": V4}, AUTH, set(), "notfqdn"),  # no name at all
        ({"hostname": "home", "myip": V4}, AUTH, {"aiohttp"}, "notfqdn"),
        ({"hostname": "x.example.org"}, AUTH, {"aiohttp"}, "badagent"),
        ({"hostname": "x.example.org", "myip": V4}, None, set(), "nohost"),
        ({"hostname": HOSTNAME, "myip": "garbage"}, None, set(), "badauth"),
    ],
    ids=[
        "no-name",
        "notfqdn-before-badagent",
        "badagent-before-nohost",
        "nohost-before-badauth",
        "badauth-before-badip",
    ],
)
async def test_answers_come_in_hes_order(
    session: aiohttp.ClientSession,
    he: HeSimulator,
    record: DnsRecord,
    params: dict[str, str],
    authorization: str | None,
    blocked: set[str],
    answer: str,
) -> None:
    """notfqdn, badagent, nohost, badauth, then what the update itself gets."""
    he.state.blocked_agents |= blocked
    assert await dns_update(session, he, params, authorization=authorization) == answer


async def test_no_user_agent_is_badagent(
    session: aiohttp.ClientSession, he: HeSimulator, record: DnsRecord
) -> None:
    answer = await dns_update(
        session,
        he,
        {"hostname": HOSTNAME, "myip": V4},
        skip_auto_headers=["User-Agent"],
    )
    assert answer == "badagent"


async def test_names_are_matched_as_dns_names(
    session: aiohttp.ClientSession, he: HeSimulator, record: DnsRecord
) -> None:
    """Upper case and a trailing dot name the same record."""
    answer = await dns_update(
        session,
        he,
        {"hostname": "Home.Example.ORG.", "myip": V4},
        authorization=basic_authorization("HOME.example.org", RECORD_KEY),
    )
    assert answer == f"good {V4}"
    assert he.record("home.EXAMPLE.org.") is record
    assert record.a == V4
    with pytest.raises(KeyError):
        he.record("nas.example.org")


async def test_interval_is_counted_per_name(
    session: aiohttp.ClientSession, he: HeSimulator, record: DnsRecord
) -> None:
    """Eleven quick updates of one name: the eleventh is refused; another name is not."""
    he.add_record("vpn.example.org", RECORD_KEY)
    answers = [
        await dns_update(session, he, {"hostname": HOSTNAME, "myip": f"84.17.1.{n}"})
        for n in range(1, DNS_INTERVAL_LIMIT + 2)
    ]
    assert answers[:-1] == [
        f"good 84.17.1.{n}" for n in range(1, DNS_INTERVAL_LIMIT + 1)
    ]
    assert answers[-1] == "interval"
    assert record.a == f"84.17.1.{DNS_INTERVAL_LIMIT}"
    other = basic_authorization("vpn.example.org", RECORD_KEY)
    params = {"hostname": "vpn.example.org", "myip": V4}
    assert await dns_update(session, he, params, authorization=other) == f"good {V4}"


async def test_held_updates_include_dns(
    session: aiohttp.ClientSession, he: HeSimulator, record: DnsRecord
) -> None:
    """hold_updates() keeps a DNS update in flight; only DNS updates count as DNS arrivals."""
    he.hold_updates()
    task = asyncio.create_task(
        dns_update(session, he, {"hostname": HOSTNAME, "myip": V4})
    )
    await he.wait_dns_arrived(1)
    assert he.dns_requests == []  # arrived, not handled
    assert record.a is None
    assert he.state.arrived == 0  # tunnel updates only
    he.release_updates()
    assert await task == f"good {V4}"
    assert he.state.dns_arrived == 1


async def test_forced_replies_are_kept_apart(
    session: aiohttp.ClientSession, he: HeSimulator, record: DnsRecord
) -> None:
    """A forced DNS reply leaves tunnel updates alone, and a forced tunnel reply DNS."""
    he.force_dns_reply("911")
    tunnel = TunnelCredentials(USERNAME, UPDATE_KEY, TUNNEL_ID)
    async with session.get(
        f"{he.url}/nic/update",
        params={"hostname": TUNNEL_ID, "myip": V4},
        headers={"Authorization": tunnel.authorization()},
    ) as response:
        assert await response.text() == f"good {V4}"
    assert await dns_update(session, he, {"hostname": HOSTNAME, "myip": V4}) == "911"
    he.clear_forced_dns_reply()
    he.force_reply("911")
    assert await dns_update(session, he, {"hostname": HOSTNAME, "myip": V4}) == (
        f"good {V4}"
    )


async def test_state_shows_records_and_dns_requests(
    session: aiohttp.ClientSession, he: HeSimulator, record: DnsRecord
) -> None:
    he.add_record("vpn.example.org", RECORD_KEY, aaaa=V6)
    await dns_update(session, he, {"hostname": HOSTNAME, "myip": V4})
    async with session.get(f"{he.url}/sim/state") as response:
        state = await response.json()
    assert state["records"] == {
        HOSTNAME: {"A": V4, "AAAA": None},
        "vpn.example.org": {"A": None, "AAAA": V6},
    }
    (request,) = state["dns_requests"]
    assert request | {"at": 0, "client_port": 0} == {
        "hostname": HOSTNAME,
        "myip": V4,
        "reply": f"good {V4}",
        "at": 0,
        "client_port": 0,
    }
    assert isinstance(request["client_port"], int)
    assert RECORD_KEY not in str(state)
    # What was there before is still there.
    assert state["tunnels"] == {TUNNEL_ID: "198.51.100.1"}
    assert state["requests"] == []
    assert state["info_requests"] == []


def test_demo_record_names() -> None:
    assert demo_record_names(0) == []
    assert demo_record_names(5) == [
        "home.example.org",
        "vpn.example.org",
        "mail.example.org",
        "host3.example.org",
        "host4.example.org",
    ]


def test_demo_serves_its_records_where_the_integration_looks() -> None:
    """`python -m simulators --records 2`: its line after HE's, the names under /dyn.dns.he.net."""
    process = SimulatorProcess(
        ["--no-router", "--he-port", "0", "--records", "2"], (*HE_BANNER, *DNS_BANNER)
    )
    try:
        assert process.lines[1] == (
            f"dns.he.net records: home.example.org, vpn.example.org (key {DEMO_RECORD_KEY})\n"
        )
        # The integration's DNS base URL, for a simulated HE: <HE URL>/dyn.dns.he.net.
        base = process.printed(HE_BANNER[0]) + "/dyn.dns.he.net"
        name = "vpn.example.org"
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{base}/nic/update?hostname={name}&myip={V6}",
            headers={"Authorization": basic_authorization(name, DEMO_RECORD_KEY)},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            assert answer.read().decode() == f"good {V6}"
    finally:
        process.stop()
