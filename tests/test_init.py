"""Setting up and unloading a router entry against the simulated router and HE."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tunnelbroker.clients import create_he_client
from custom_components.tunnelbroker.const import DOMAIN, ENV_API_URL
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from simulators.he import HeSimulator
from simulators.igd import Fault, IgdSimulator

from .conftest import ROUTER_UDN, TUNNEL_ID, setup_entry


async def test_setup_and_unload(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    await setup_entry(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    devices = dr.async_get(hass)
    router = devices.async_get_device(identifiers={(DOMAIN, ROUTER_UDN)})
    assert router is not None
    assert router.manufacturer == "MiniUPnP"
    assert router.model == "MiniUPnPd"
    assert router.serial_number == "00000000"
    tunnel = devices.async_get_device(identifiers={(DOMAIN, f"tunnel_{TUNNEL_ID}")})
    assert tunnel is not None
    assert tunnel.via_device_id == router.id
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.NOT_LOADED


async def test_router_unreachable_at_setup_retries(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    await igd.stop()
    await setup_entry(hass, config_entry)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert not he.requests


@pytest.mark.parametrize(
    ("fault", "state"),
    [
        (Fault.HTTP_500, ConfigEntryState.SETUP_RETRY),  # description unreadable
        (Fault.SOAP_FAULT, ConfigEntryState.SETUP_RETRY),  # first WAN read fails
        (Fault.MALFORMED_SOAP, ConfigEntryState.SETUP_RETRY),
    ],
)
async def test_router_faults_at_setup(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    fault: Fault,
    state: ConfigEntryState,
) -> None:
    igd.set_fault(fault)
    await setup_entry(hass, config_entry)
    assert config_entry.state is state
    assert he.requests == []


async def test_not_an_igd_is_an_error(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    igd.edit_description("InternetGatewayDevice:2", "MediaRenderer:1")
    await setup_entry(hass, config_entry)
    assert config_entry.state is ConfigEntryState.SETUP_ERROR


async def test_api_url_override_is_logged(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        await setup_entry(hass, config_entry)
    assert f"{ENV_API_URL} is set: tunnel updates go to {he.url}" in caplog.text


async def test_insecure_api_url_override_is_ignored(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plain-http override towards a real host is ignored: HE's own URLs are used.

    No entry is set up: it would read the tunnel's information from HE itself at once.
    """
    monkeypatch.setenv(ENV_API_URL, "http://tunnelbroker.example")
    client = create_he_client(hass)
    assert (
        "Ignoring TUNNELBROKER_API_URL (plain http is allowed only towards loopback)"
        in caplog.text
    )
    assert client.update_url == "https://ipv4.tunnelbroker.net/nic/update"
    assert client.info_url == "https://tunnelbroker.net/tunnelInfo.php"


async def test_removing_the_router_forgets_its_endpoints(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    await setup_entry(hass, config_entry)
    assert TUNNEL_ID in hass_storage["tunnelbroker.endpoints"]["data"]
    await hass.config_entries.async_remove(config_entry.entry_id)
    await hass.async_block_till_done()
    assert hass_storage["tunnelbroker.endpoints"]["data"] == {}


async def test_without_override_requests_go_to_he(
    hass: HomeAssistant,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Updates go to HE's update host, tunnel information to its main host.

    No entry is set up: it would read the tunnel's information from HE itself at once.
    """
    monkeypatch.delenv(ENV_API_URL)
    client = create_he_client(hass)
    assert client.update_url == "https://ipv4.tunnelbroker.net/nic/update"
    assert client.info_url == "https://tunnelbroker.net/tunnelInfo.php"
    assert ENV_API_URL not in caplog.text


async def test_override_serves_updates_and_tunnel_information(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    """The developer override redirects both HE hosts to the same (simulated) server."""
    await setup_entry(hass, config_entry)
    client = create_he_client(hass)
    assert client.update_url == f"{he.url}/nic/update"
    assert client.info_url == f"{he.url}/tunnelInfo.php"
    assert [r.tunnel_id for r in he.info_requests] == [TUNNEL_ID]
