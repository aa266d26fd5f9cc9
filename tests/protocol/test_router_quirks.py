"""Router quirks against the simulated router: each firmware's repair, read end to end."""

from __future__ import annotations

import pytest

from custom_components.tunnelbroker.protocol.igd_client import IgdClient
from custom_components.tunnelbroker.protocol.igd_transport import BoundedRequester
from simulators.igd import IgdSimulator
from tests.support.values import ROUTER_UDN, WAN_IP


async def test_root_without_the_upnp_namespace(
    requester: BoundedRequester, igd: IgdSimulator
) -> None:
    """Some D-Link firmwares: `<root>` with no xmlns at all (async-upnp-client refuses it)."""
    igd.serve_raw_description(
        igd.description().replace(' xmlns="urn:schemas-upnp-org:device-1-0"', "")
    )
    client = await IgdClient.async_create(requester, igd.location)
    assert client.info.udn == ROUTER_UDN
    assert (await client.async_get_wan_status()).external_ip == WAN_IP


@pytest.mark.parametrize("broken", [404, 200])
async def test_an_scpd_that_does_not_load_costs_nothing_needed(
    requester: BoundedRequester, igd: IgdSimulator, broken: int
) -> None:
    """An unused service's SCPD and the WAN service's own: the standard actions still work."""
    igd.state.broken_scpds = {"/L3F.xml": broken, "/WANIPCn.xml": broken}
    client = await IgdClient.async_create(requester, igd.location)
    status = await client.async_get_wan_status()
    assert (status.external_ip, status.connection_status) == (WAN_IP, "Connected")
