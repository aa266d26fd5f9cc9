"""The router's transport: replies read up to a bound, one deadline, nothing off the router."""

from __future__ import annotations

import asyncio
import tracemalloc

import aiohttp
import aiohttp.web
import pytest

from custom_components.tunnelbroker.protocol import igd_transport
from custom_components.tunnelbroker.protocol.igd_client import IgdClient
from custom_components.tunnelbroker.protocol.igd_transport import (
    DESCRIPTION_LIMIT,
    MAX_SERVICES,
    REPLY_LIMIT,
    BoundedRequester,
    RouterConnectionError,
    RouterReplyTooLargeError,
)
from simulators.igd import Fault, IgdSimulator
from tests.support.values import ROUTER_UDN

WAN_SERVICE = "urn:schemas-upnp-org:service:WANIPConnection:2"


async def test_slow_router_times_out(igd: IgdSimulator) -> None:
    async with aiohttp.ClientSession() as session:
        requester = BoundedRequester(session, timeout=1)
        client = await IgdClient.async_create(requester, igd.location)
        igd.state.slow_seconds = 5
        igd.set_fault(Fault.SLOW)
        with pytest.raises(RouterConnectionError):
            await client.async_get_wan_status()


@pytest.mark.parametrize(
    ("fault", "limit"),
    [
        (Fault.HUGE_BODY, DESCRIPTION_LIMIT),
        (Fault.HUGE_BODY_ANNOUNCED, DESCRIPTION_LIMIT),
    ],
)
async def test_huge_description_is_not_read_into_memory(
    requester: BoundedRequester, igd: IgdSimulator, fault: Fault, limit: int
) -> None:
    """A 50 MB description: the client stops at the bound, memory stays far below 50 MB.

    async-upnp-client's own requester peaks above 100 MB on this reply and reads all of it.
    """
    igd.set_fault(fault)
    tracemalloc.start()
    try:
        with pytest.raises(RouterReplyTooLargeError, match=str(limit)):
            await IgdClient.async_create(requester, igd.location)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024
    # Backpressure stopped the simulator: what sits in socket buffers was written, no more.
    assert igd.state.huge_bytes_sent < igd.state.huge_bytes / 2


async def test_huge_soap_reply_is_not_read_into_memory(
    requester: BoundedRequester, igd: IgdSimulator
) -> None:
    client = await IgdClient.async_create(requester, igd.location)
    igd.set_fault(Fault.HUGE_BODY)
    tracemalloc.start()
    try:
        with pytest.raises(RouterReplyTooLargeError, match=str(REPLY_LIMIT)):
            await client.async_get_wan_status()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024
    assert igd.state.huge_bytes_sent < igd.state.huge_bytes / 2


async def test_reply_just_under_the_bound_is_read(
    requester: BoundedRequester, igd: IgdSimulator
) -> None:
    """The bound refuses only what no router sends: a big but plausible description passes."""
    padding = " " * (DESCRIPTION_LIMIT - len(igd.description().encode()) - 1)
    igd.serve_raw_description(igd.description().replace("</root>", f"{padding}</root>"))
    client = await IgdClient.async_create(requester, igd.location)
    assert client.info.udn == ROUTER_UDN


def _hostile_description(services: list[str]) -> str:
    """An IGD whose WAN device lists these SCPD URLs, each for a WANIPConnection service."""
    listed = "".join(
        f"<service><serviceType>{WAN_SERVICE}</serviceType>"
        f"<serviceId>urn:upnp-org:serviceId:WANIPConn{n}</serviceId>"
        f"<SCPDURL>{url}</SCPDURL><controlURL>/ctl/{n}</controlURL>"
        f"<eventSubURL>/evt/{n}</eventSubURL></service>"
        for n, url in enumerate(services)
    )
    return (
        '<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0">'
        "<specVersion><major>1</major><minor>0</minor></specVersion><device>"
        "<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType>"
        f"<friendlyName>Hostile</friendlyName><UDN>{ROUTER_UDN}</UDN><deviceList><device>"
        "<deviceType>urn:schemas-upnp-org:device:WANDevice:2</deviceType>"
        "<UDN>uuid:wan</UDN><deviceList><device>"
        "<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:2</deviceType>"
        f"<UDN>uuid:wanconn</UDN><serviceList>{listed}</serviceList>"
        "</device></deviceList></device></deviceList></device></root>"
    )


async def _serve(app: aiohttp.web.Application, host: str) -> aiohttp.web.AppRunner:
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    await aiohttp.web.TCPSite(runner, host, 0).start()
    return runner


def _port(runner: aiohttp.web.AppRunner) -> int:
    (site,) = runner.sites
    return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]


async def test_a_hostile_description_reads_bounded_and_on_the_routers_host_only(
    requester: BoundedRequester,
) -> None:
    """100 services, some SCPDs on another host, one redirecting there: none of that is fetched."""
    elsewhere_hits: list[str] = []
    router_hits: list[str] = []

    async def elsewhere(request: aiohttp.web.Request) -> aiohttp.web.Response:
        elsewhere_hits.append(request.path)
        return aiohttp.web.Response(status=404)

    other = aiohttp.web.Application()
    other.router.add_get("/{name}", elsewhere)
    other_runner = await _serve(other, "127.0.0.2")
    other_url = f"http://127.0.0.2:{_port(other_runner)}"
    scpds = [f"{other_url}/off-host-{n}.xml" for n in range(5)]
    scpds += ["/redirect.xml"] + [f"/scpd/{n}.xml" for n in range(100)]

    async def description(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(text=_hostile_description(scpds))

    async def redirect(request: aiohttp.web.Request) -> aiohttp.web.Response:
        router_hits.append(request.path)
        raise aiohttp.web.HTTPFound(f"{other_url}/redirected.xml")

    async def scpd(request: aiohttp.web.Request) -> aiohttp.web.Response:
        router_hits.append(request.path)
        return aiohttp.web.Response(status=404)

    router = aiohttp.web.Application()
    router.router.add_get("/desc.xml", description)
    router.router.add_get("/redirect.xml", redirect)
    router.router.add_get("/scpd/{name}", scpd)
    router_runner = await _serve(router, "127.0.0.1")
    try:
        location = f"http://127.0.0.1:{_port(router_runner)}/desc.xml"
        client = await IgdClient.async_create(requester, location)
        assert client.info.udn == ROUTER_UDN
        assert elsewhere_hits == []  # nothing off the router's host, redirects included
        assert len(router_hits) <= MAX_SERVICES
    finally:
        await router_runner.cleanup()
        await other_runner.cleanup()


async def test_reading_a_router_has_one_deadline(
    requester: BoundedRequester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each SCPD answers just inside its own timeout: the whole read still ends in time."""
    monkeypatch.setattr(igd_transport, "READ_DEADLINE", 1.0)

    async def description(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(
            text=_hostile_description([f"/scpd/{n}.xml" for n in range(20)])
        )

    async def slow_scpd(request: aiohttp.web.Request) -> aiohttp.web.Response:
        await asyncio.sleep(0.3)  # the router being slow (its own timeout is 2 s)
        return aiohttp.web.Response(status=404)

    router = aiohttp.web.Application()
    router.router.add_get("/desc.xml", description)
    router.router.add_get("/scpd/{name}", slow_scpd)
    runner = await _serve(router, "127.0.0.1")
    try:
        location = f"http://127.0.0.1:{_port(runner)}/desc.xml"
        with pytest.raises(RouterConnectionError):
            await IgdClient.async_create(requester, location)
    finally:
        await runner.cleanup()
