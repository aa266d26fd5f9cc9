"""The router client against the simulated router: three description shapes and its faults."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import aiohttp
from async_upnp_client.aiohttp import AiohttpSessionRequester
import pytest

from custom_components.tunnelbroker.igd_client import (
    IgdClient,
    NotAnIgdError,
    NoWanServiceError,
    RouterConnectionError,
    RouterResponseError,
)
from simulators.igd import Fault, IgdSimulator, RouterShape

from .conftest import ROUTER_UDN, WAN_IP


@pytest.fixture
async def requester() -> AsyncGenerator[AiohttpSessionRequester]:
    async with aiohttp.ClientSession() as session:
        yield AiohttpSessionRequester(session, with_sleep=False, timeout=2)


@pytest.mark.parametrize(
    ("shape", "service_type", "model"),
    [
        (
            RouterShape.IGD1_WANIP,
            "urn:schemas-upnp-org:service:WANIPConnection:1",
            "R7000",
        ),
        (
            RouterShape.IGD1_WANPPP,
            "urn:schemas-upnp-org:service:WANPPPConnection:1",
            "FRITZ!Box 7590",
        ),
        (
            RouterShape.IGD2_MINIUPNPD,
            "urn:schemas-upnp-org:service:WANIPConnection:2",
            "MiniUPnPd",
        ),
    ],
)
async def test_reads_wan_address_of_each_shape(
    requester: AiohttpSessionRequester,
    shape: RouterShape,
    service_type: str,
    model: str,
) -> None:
    simulator = IgdSimulator(shape, udn=ROUTER_UDN, external_ip=WAN_IP)
    location = await simulator.start()
    try:
        client = await IgdClient.async_create(requester, location)
        assert client.info.udn == ROUTER_UDN
        assert client.info.model_name == model
        assert client.wan_service_types == [service_type]
        status = await client.async_get_wan_status()
        assert status.external_ip == WAN_IP
        assert status.connection_status == "Connected"
        assert status.service_type == service_type
        simulator.set_external_ip("84.17.1.50")
        assert (await client.async_get_wan_status()).external_ip == "84.17.1.50"
        assert simulator.soap_requests["GetExternalIPAddress"] == 2
    finally:
        await simulator.stop()


async def test_disconnected_link_is_reported(
    requester: AiohttpSessionRequester, igd: IgdSimulator
) -> None:
    igd.state.connection_status = "Disconnected"
    igd.set_external_ip("0.0.0.0")
    client = await IgdClient.async_create(requester, igd.location)
    status = await client.async_get_wan_status()
    assert not status.connected
    assert status.external_ip == "0.0.0.0"


async def test_unreachable_router(
    requester: AiohttpSessionRequester, igd: IgdSimulator
) -> None:
    location = igd.location
    await igd.stop()
    with pytest.raises(RouterConnectionError):
        await IgdClient.async_create(requester, location)


async def test_description_error_status(
    requester: AiohttpSessionRequester, igd: IgdSimulator
) -> None:
    igd.set_fault(Fault.HTTP_500)
    with pytest.raises(RouterResponseError):
        await IgdClient.async_create(requester, igd.location)


@pytest.mark.parametrize(
    "fault", [Fault.SOAP_FAULT, Fault.MALFORMED_SOAP, Fault.HTTP_500]
)
async def test_broken_action_replies(
    requester: AiohttpSessionRequester, igd: IgdSimulator, fault: Fault
) -> None:
    client = await IgdClient.async_create(requester, igd.location)
    igd.set_fault(fault)
    with pytest.raises(RouterResponseError):
        await client.async_get_wan_status()


async def test_router_going_away_mid_run(
    requester: AiohttpSessionRequester, igd: IgdSimulator
) -> None:
    client = await IgdClient.async_create(requester, igd.location)
    await igd.stop()
    with pytest.raises(RouterConnectionError):
        await client.async_get_wan_status()


async def test_slow_router_times_out(igd: IgdSimulator) -> None:
    async with aiohttp.ClientSession() as session:
        requester = AiohttpSessionRequester(session, with_sleep=False, timeout=1)
        client = await IgdClient.async_create(requester, igd.location)
        igd.state.slow_seconds = 5
        igd.set_fault(Fault.SLOW)
        with pytest.raises(RouterConnectionError):
            await client.async_get_wan_status()


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ("device:InternetGatewayDevice:2", "device:MediaRenderer:1", NotAnIgdError),
        ("WANIPConnection:2", "WANIPv6FirewallControl:1", NoWanServiceError),
        ("</root>", "", RouterResponseError),
    ],
)
async def test_unusable_descriptions(
    requester: AiohttpSessionRequester,
    igd: IgdSimulator,
    old: str,
    new: str,
    error: type[Exception],
) -> None:
    igd.edit_description(old, new)
    with pytest.raises(error):
        await IgdClient.async_create(requester, igd.location)


async def test_dsl_router_with_both_services_uses_the_connected_one(
    requester: AiohttpSessionRequester,
) -> None:
    """A DSL router lists WANIPConnection (unused) and WANPPPConnection (the real link)."""
    simulator = IgdSimulator(
        RouterShape.IGD1_DSL_DUAL, udn=ROUTER_UDN, external_ip=WAN_IP
    )
    simulator.state.idle_services.add("WANIPConnection")
    location = await simulator.start()
    try:
        client = await IgdClient.async_create(requester, location)
        assert client.wan_service_types == [
            "urn:schemas-upnp-org:service:WANIPConnection:1",
            "urn:schemas-upnp-org:service:WANPPPConnection:1",
        ]
        status = await client.async_get_wan_status()
        assert status.service_type == "urn:schemas-upnp-org:service:WANPPPConnection:1"
        assert status.external_ip == WAN_IP
        assert status.connected
        # Both idle: the first service's answer comes back, flagged as not connected.
        simulator.state.idle_services.add("WANPPPConnection")
        status = await client.async_get_wan_status()
        assert not status.connected
        assert status.external_ip is None
    finally:
        await simulator.stop()
