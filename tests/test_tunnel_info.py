"""HE's tunnel information (tunnelInfo.php) read per tunnel, against the simulated HE server."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tunnelbroker.const import TUNNEL_INFO_INTERVAL
from custom_components.tunnelbroker.protocol.he_client import TunnelInfo
from custom_components.tunnelbroker.tunnel_info import TunnelInfoCoordinator
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from simulators.he import DEFAULT_SERVER_V4, HeSimulator, InfoFault
from simulators.igd import IgdSimulator

from .conftest import TUNNEL_ID, WAN_IP, poll, seed_endpoint, setup_entry, wan_change

# What the simulated HE reports for the conftest tunnel.
HE_INFO = TunnelInfo(
    tunnel_id=TUNNEL_ID,
    description=None,
    server_v4=DEFAULT_SERVER_V4,
    client_v4="198.51.100.1",
    server_v6="2001:470:1f0a:e240::1/64",
    client_v6="2001:470:1f0a:e240::2/64",
    routed_64="2001:470:1f0b:e240::/64",
)
# After the `loaded` fixture HE holds the router's address.
HE_INFO_LOADED = replace(HE_INFO, client_v4=WAN_IP)
REFUSAL_LOG = "Hurricane Electric did not give the information of tunnel"
UNREACHABLE_LOG = (
    "Hurricane Electric could not be reached for the information of tunnel"
)


def info_coordinator(entry: MockConfigEntry) -> TunnelInfoCoordinator:
    """Return the entry's only tunnel information coordinator."""
    (coordinator,) = entry.runtime_data.tunnel_info.values()
    return coordinator


async def test_read_at_setup_and_every_six_hours(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Setup reads the tunnel once; HE is asked again only after 6 hours, and follows updates."""
    coordinator = info_coordinator(loaded)
    assert set(loaded.runtime_data.tunnel_info) == set(loaded.runtime_data.tunnels)
    assert coordinator.data == HE_INFO_LOADED
    assert [r.tunnel_id for r in he.info_requests] == [TUNNEL_ID]
    assert he.info_requests[0].authorized

    await poll(hass, freezer, TUNNEL_INFO_INTERVAL / 2)
    assert len(he.info_requests) == 1
    # A change: the setup's read settled what HE holds, so the update goes out at once, and
    # its answer moves client_v4 without asking HE again.
    await wan_change(hass, igd, freezer, "84.17.5.5")
    assert len(he.info_requests) == 1
    assert [r.myip for r in he.requests] == ["84.17.5.5"]
    assert coordinator.data is not None
    assert coordinator.data.client_v4 == "84.17.5.5"
    # The next scheduled read is 6 h after HE last told the endpoint (the update's answer).
    await poll(hass, freezer, TUNNEL_INFO_INTERVAL - timedelta(minutes=1))
    assert len(he.info_requests) == 1
    await poll(hass, freezer, timedelta(minutes=2))
    assert len(he.info_requests) == 2
    assert coordinator.data.client_v4 == "84.17.5.5"


async def test_refusal_stops_asking_until_reload(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refused key is not tried again: no request in a day, none on request; once after reload."""
    seed_endpoint(
        hass_storage, WAN_IP, he=he
    )  # HE holds the router's address: no update
    he.set_info_fault(InfoFault.REFUSE)
    await setup_entry(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    coordinator = info_coordinator(config_entry)
    assert coordinator.data is None
    assert coordinator.refused == "HTTP 401"
    refusals = [r for r in caplog.records if REFUSAL_LOG in r.getMessage()]
    assert [r.levelno for r in refusals] == [logging.INFO]

    for _ in range(4):
        await poll(hass, freezer, TUNNEL_INFO_INTERVAL)
    await coordinator.async_request_refresh()
    await hass.async_block_till_done()
    assert len(he.info_requests) == 1
    assert coordinator.data is None
    assert len([r for r in caplog.records if REFUSAL_LOG in r.getMessage()]) == 1

    he.set_info_fault(InfoFault.NONE)
    assert await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert len(he.info_requests) == 2
    assert info_coordinator(config_entry).data == HE_INFO_LOADED


async def test_unreachable_keeps_last_information(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """HE down: the last information stays, HE is asked at the normal interval, logged once."""
    coordinator = info_coordinator(loaded)
    he.set_info_fault(InfoFault.HTTP_ERROR)
    await poll(hass, freezer, TUNNEL_INFO_INTERVAL)
    await poll(hass, freezer, TUNNEL_INFO_INTERVAL)
    assert len(he.info_requests) == 3
    assert not coordinator.last_update_success
    assert coordinator.data == HE_INFO_LOADED
    assert coordinator.refused is None
    unreachable = [r for r in caplog.records if UNREACHABLE_LOG in r.getMessage()]
    assert len(unreachable) == 1
    assert f"tunnel {TUNNEL_ID}: HTTP 500" in unreachable[0].getMessage()

    he.set_info_fault(InfoFault.NONE)
    await poll(hass, freezer, TUNNEL_INFO_INTERVAL)
    assert len(he.info_requests) == 4
    assert coordinator.last_update_success
    assert coordinator.data == HE_INFO_LOADED


async def test_unreachable_at_setup_does_not_fail_it(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """No information at start is fine: the entry loads, and HE is asked again later."""
    seed_endpoint(
        hass_storage, WAN_IP, he=he
    )  # HE holds the router's address: no update
    he.set_info_fault(InfoFault.HTTP_ERROR)
    await setup_entry(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    coordinator = info_coordinator(config_entry)
    assert coordinator.data is None
    assert coordinator.refused is None
    he.set_info_fault(InfoFault.NONE)
    await poll(hass, freezer, TUNNEL_INFO_INTERVAL)
    assert coordinator.data == HE_INFO_LOADED


@pytest.mark.parametrize(
    ("fault", "refused"),
    [
        (InfoFault.BOMB, "forbidden XML: DTDForbidden"),
        (InfoFault.GARBAGE, "not XML: <html><body>Please log in</body></html"),
        (InfoFault.HUGE, "reply too large"),
    ],
)
async def test_hostile_reply_is_no_information(
    hass: HomeAssistant,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    fault: InfoFault,
    refused: str,
) -> None:
    """An entity bomb, garbage or a huge body: no information, no crash, setup unaffected."""
    he.set_info_fault(fault)
    await setup_entry(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    coordinator = info_coordinator(config_entry)
    assert coordinator.last_update_success
    assert coordinator.data is None
    assert coordinator.refused == refused
