"""The event subscription against the simulated router's GENA, without Home Assistant."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta

import aiohttp
from async_upnp_client.aiohttp import AiohttpNotifyServer, AiohttpSessionRequester
import pytest

from custom_components.tunnelbroker.protocol.igd_client import (
    IgdClient,
    RouterConnectionError,
)
from custom_components.tunnelbroker.protocol.igd_events import (
    MIN_RENEWAL,
    IgdEventSubscription,
    SubscriptionRefusedError,
)
from simulators.igd import IgdSimulator, RouterShape


@pytest.fixture
async def server() -> AsyncGenerator[AiohttpNotifyServer]:
    async with aiohttp.ClientSession() as session:
        requester = AiohttpSessionRequester(session, with_sleep=False, timeout=2)
        notify_server = AiohttpNotifyServer(requester, source=("127.0.0.1", 0))
        await notify_server.async_start_server()
        yield notify_server
        await notify_server.async_stop_server()


async def _subscription(
    igd: IgdSimulator, server: AiohttpNotifyServer, seen: list[str]
) -> IgdEventSubscription:
    async with aiohttp.ClientSession() as session:
        requester = AiohttpSessionRequester(session, with_sleep=False, timeout=2)
        client = await IgdClient.async_create(requester, igd.location)
    return IgdEventSubscription(
        client, server.event_handler, lambda: seen.append("wan")
    )


async def test_subscribe_receive_renew_unsubscribe(
    igd: IgdSimulator, server: AiohttpNotifyServer
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


async def test_refused(igd: IgdSimulator, server: AiohttpNotifyServer) -> None:
    subscription = await _subscription(igd, server, [])
    igd.gena.refuse = True
    with pytest.raises(SubscriptionRefusedError):
        await subscription.async_subscribe()
    assert not subscription.subscribed


async def test_router_gone(igd: IgdSimulator, server: AiohttpNotifyServer) -> None:
    subscription = await _subscription(igd, server, [])
    await igd.stop()
    with pytest.raises(RouterConnectionError):
        await subscription.async_subscribe()


async def test_renewal_for_a_forgotten_subscription_subscribes_anew(
    igd: IgdSimulator, server: AiohttpNotifyServer
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
    igd: IgdSimulator, server: AiohttpNotifyServer
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
    igd: IgdSimulator, server: AiohttpNotifyServer
) -> None:
    """Two connection devices: the internet one (read) is followed, not the IPTV one."""
    async with aiohttp.ClientSession() as session:
        requester = AiohttpSessionRequester(session, with_sleep=False, timeout=2)
        client = await IgdClient.async_create(requester, igd.location)
        status = await client.async_get_wan_status()
    assert status.service_type == "urn:schemas-upnp-org:service:WANPPPConnection:1"
    subscription = IgdEventSubscription(client, server.event_handler, lambda: None)
    await subscription.async_subscribe()
    assert [sub.event_url for sub in igd.gena.subscriptions.values()] == [
        "/upnp/event/WANPPPConn1"
    ]


async def test_broken_subscribe_answer(
    igd: IgdSimulator, server: AiohttpNotifyServer
) -> None:
    """A router answering SUBSCRIBE with 200 but no SID."""
    subscription = await _subscription(igd, server, [])
    igd.gena.omit_sid = True
    with pytest.raises(SubscriptionRefusedError):
        await subscription.async_subscribe()
