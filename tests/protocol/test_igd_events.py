"""The event subscription against the simulated router's GENA, without Home Assistant."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta

import aiohttp
from async_upnp_client.aiohttp import AiohttpSessionRequester
import pytest

from custom_components.tunnelbroker.protocol.igd_client import (
    IgdClient,
    RouterConnectionError,
)
from custom_components.tunnelbroker.protocol.igd_events import (
    MAX_NOTIFY_BYTES,
    MIN_RENEWAL,
    GuardedNotifyServer,
    IgdEventSubscription,
    SubscriptionRefusedError,
)
from simulators.igd import IgdSimulator, RouterShape


@pytest.fixture
async def server() -> AsyncGenerator[GuardedNotifyServer]:
    async with aiohttp.ClientSession() as session:
        requester = AiohttpSessionRequester(session, with_sleep=False, timeout=2)
        notify_server = GuardedNotifyServer(requester, source=("127.0.0.1", 0))
        notify_server.allow("127.0.0.1")  # the simulated router's host
        await notify_server.async_start_server()
        yield notify_server
        await notify_server.async_stop_server()


async def _subscription(
    igd: IgdSimulator, server: GuardedNotifyServer, seen: list[str]
) -> IgdEventSubscription:
    async with aiohttp.ClientSession() as session:
        requester = AiohttpSessionRequester(session, with_sleep=False, timeout=2)
        client = await IgdClient.async_create(requester, igd.location)
    return IgdEventSubscription(client, server, lambda: seen.append("wan"))


async def test_subscribe_receive_renew_unsubscribe(
    igd: IgdSimulator, server: GuardedNotifyServer
) -> None:
    seen: list[str] = []
    subscription = await _subscription(igd, server, seen)
    renew_in = await subscription.async_subscribe()
    assert subscription.subscribed
    assert renew_in >= MIN_RENEWAL
    await igd.gena.drain()
    assert seen == ["wan"]  # the initial event
    assert subscription.fresh_subscriptions == 1
    igd.set_external_ip("84.17.8.8")
    await igd.gena.drain()
    assert seen == ["wan", "wan"]
    assert subscription.events_received == 2
    (sid,) = igd.gena.subscriptions
    assert await subscription.async_renew() >= MIN_RENEWAL
    assert list(igd.gena.subscriptions) == [sid]  # renewed, not replaced
    await subscription.async_unsubscribe()
    assert igd.gena.subscriptions == {}
    assert not subscription.subscribed


async def test_refused(igd: IgdSimulator, server: GuardedNotifyServer) -> None:
    subscription = await _subscription(igd, server, [])
    igd.gena.refuse = True
    with pytest.raises(SubscriptionRefusedError):
        await subscription.async_subscribe()
    assert not subscription.subscribed


async def test_router_gone(igd: IgdSimulator, server: GuardedNotifyServer) -> None:
    subscription = await _subscription(igd, server, [])
    await igd.stop()
    with pytest.raises(RouterConnectionError):
        await subscription.async_subscribe()


async def test_renewal_for_a_forgotten_subscription_subscribes_anew(
    igd: IgdSimulator, server: GuardedNotifyServer
) -> None:
    subscription = await _subscription(igd, server, [])
    await subscription.async_subscribe()
    (old_sid,) = igd.gena.subscriptions
    igd.gena.subscriptions.clear()  # the router restarted and forgot every SID
    assert await subscription.async_renew() >= timedelta(seconds=30)
    assert subscription.subscribed
    (new_sid,) = igd.gena.subscriptions
    assert new_sid != old_sid


async def test_a_wan_service_version_the_library_has_no_profile_for(
    igd: IgdSimulator, server: GuardedNotifyServer
) -> None:
    """WANIPConnection:3 (like the Livebox's WANPPPConnection:2): it is read, so followed."""
    igd.edit_description("WANIPConnection:2", "WANIPConnection:3")
    seen: list[str] = []
    subscription = await _subscription(igd, server, seen)
    await subscription.async_subscribe()
    await igd.gena.drain()
    assert seen == ["wan"]
    assert [sub.event_url for sub in igd.gena.subscriptions.values()] == ["/evt/IPConn"]


@pytest.mark.parametrize("igd", [RouterShape.DSL_TWO_CONNECTIONS], indirect=True)
async def test_events_of_the_connection_that_is_read(
    igd: IgdSimulator, server: GuardedNotifyServer
) -> None:
    """Two connection devices: the internet one (read) is followed, not the IPTV one."""
    async with aiohttp.ClientSession() as session:
        requester = AiohttpSessionRequester(session, with_sleep=False, timeout=2)
        client = await IgdClient.async_create(requester, igd.location)
        status = await client.async_get_wan_status()
    assert status.service_type == "urn:schemas-upnp-org:service:WANPPPConnection:1"
    subscription = IgdEventSubscription(client, server, lambda: None)
    await subscription.async_subscribe()
    assert [sub.event_url for sub in igd.gena.subscriptions.values()] == [
        "/upnp/event/WANPPPConn1"
    ]


async def test_broken_subscribe_answer(
    igd: IgdSimulator, server: GuardedNotifyServer
) -> None:
    """A router answering SUBSCRIBE with 200 but no SID."""
    subscription = await _subscription(igd, server, [])
    igd.gena.omit_sid = True
    with pytest.raises(SubscriptionRefusedError):
        await subscription.async_subscribe()


async def _notify(
    server: GuardedNotifyServer, sid: str, body: str, source: str = "127.0.0.1"
) -> int:
    """Send a NOTIFY to the server from `source` (another loopback address is another host)."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.request(
            "NOTIFY",
            server.callback_url,
            data=body,
            headers={"NT": "upnp:event", "NTS": "upnp:propchange", "SID": sid},
        ) as response,
    ):
        return response.status


EVENT_BODY = (
    '<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"><e:property>'
    "<ExternalIPAddress>6.6.6.6</ExternalIPAddress></e:property></e:propertyset>"
)


async def test_notify_is_taken_only_from_the_router_small_and_subscribed(
    igd: IgdSimulator, server: GuardedNotifyServer
) -> None:
    """Another host, an unknown SID, a huge body: refused unread, nothing kept."""
    seen: list[str] = []
    subscription = await _subscription(igd, server, seen)
    await subscription.async_subscribe()
    await igd.gena.drain()
    assert seen == ["wan"]
    (sid,) = igd.gena.subscriptions
    # A host that learned the SID (it is visible on the LAN) is not the router.
    assert await _notify(server, sid, EVENT_BODY, source="127.0.0.2") == 403
    # The router's own host, but no such subscription: not kept for later.
    assert await _notify(server, "uuid:spoofed", EVENT_BODY) == 412
    assert await _notify(server, sid, "x" * (MAX_NOTIFY_BYTES + 1)) == 413
    assert seen == ["wan"]
    assert server.refused == 3
    assert not server.event_handler._backlog
    # The router itself is heard as before.
    assert await _notify(server, sid, EVENT_BODY) == 200
    assert seen == ["wan", "wan"]


async def test_a_flood_of_spoofed_notifies_keeps_nothing(
    server: GuardedNotifyServer,
) -> None:
    """20 NOTIFYs of 1 MiB with unknown SIDs: async-upnp-client alone kept 21 million characters."""
    body = "x" * 1_000_000
    for n in range(20):
        assert await _notify(server, f"uuid:{n}", body, source="127.0.0.2") == 403
        assert await _notify(server, f"uuid:{n}", body) == 412
    assert not server.event_handler._backlog
