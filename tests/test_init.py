"""Setting up and unloading a router entry against the simulated router and HE."""

from __future__ import annotations

import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tunnelbroker.const import DOMAIN, ENV_API_URL
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from simulators.he import HeSimulator
from simulators.igd import Fault, IgdSimulator

from .conftest import (
    ROUTER_UDN,
    TUNNEL_ID,
    UPDATE_KEY,
    USERNAME,
    WAN_IP,
    seed_endpoint,
    setup_entry,
    tunnel_subentry,
)


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
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_API_URL, "http://tunnelbroker.example")
    # HE holds the router's address already: nothing is sent, so HE itself is never contacted.
    seed_endpoint(hass_storage, WAN_IP)
    await setup_entry(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    assert (
        "Ignoring TUNNELBROKER_API_URL (plain http is allowed only towards loopback)"
        in caplog.text
    )
    assert config_entry.runtime_data.tunnels
    tunnel = next(iter(config_entry.runtime_data.tunnels.values()))
    assert tunnel._client.update_url == "https://ipv4.tunnelbroker.net/nic/update"
    assert tunnel.last_attempt is None


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


async def test_removing_a_tunnel_removes_its_device_and_issues(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    config_entry = MockConfigEntry(
        domain=DOMAIN,
        title=config_entry.title,
        unique_id=config_entry.unique_id,
        data=config_entry.data,
        subentries_data=[tunnel_subentry(), tunnel_subentry("777")],
    )
    he.add_tunnel(USERNAME, "777", UPDATE_KEY)
    he.force_reply("nohost")
    await setup_entry(hass, config_entry)
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, "tunnel_not_found_777") is not None
    assert issues.async_get_issue(DOMAIN, f"tunnel_not_found_{TUNNEL_ID}") is not None
    devices = dr.async_get(hass)
    assert devices.async_get_device(identifiers={(DOMAIN, "tunnel_777")}) is not None
    subentry_id = next(
        sid for sid, sub in config_entry.subentries.items() if sub.unique_id == "777"
    )
    assert hass.config_entries.async_remove_subentry(config_entry, subentry_id)
    await hass.async_block_till_done()
    assert devices.async_get_device(identifiers={(DOMAIN, "tunnel_777")}) is None
    assert issues.async_get_issue(DOMAIN, "tunnel_not_found_777") is None
    assert issues.async_get_issue(DOMAIN, f"tunnel_not_found_{TUNNEL_ID}") is not None
    # Removing the router drops the rest.
    await hass.config_entries.async_remove(config_entry.entry_id)
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, f"tunnel_not_found_{TUNNEL_ID}") is None


async def test_without_override_updates_go_to_he(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    config_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv(ENV_API_URL)
    seed_endpoint(hass_storage, WAN_IP)  # nothing to send: HE itself is never contacted
    await setup_entry(hass, config_entry)
    tunnel = next(iter(config_entry.runtime_data.tunnels.values()))
    assert tunnel._client.update_url == "https://ipv4.tunnelbroker.net/nic/update"
    assert ENV_API_URL not in caplog.text
    assert tunnel.last_attempt is None
