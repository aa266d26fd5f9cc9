"""Sensors: the router's external address, the tunnel's endpoint and last update."""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tunnelbroker.const import (
    ROUTER_POLL_INTERVAL,
    SAFETY_POLL_INTERVAL,
)
from custom_components.tunnelbroker.update_policy import MIN_UPDATE_INTERVAL
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from simulators.he import HeSimulator
from simulators.igd import Fault, IgdSimulator

from .conftest import ROUTER_UDN, TUNNEL_ID, WAN_IP, poll, setup_entry, wan_change

EXTERNAL_IP = "sensor.simulated_router_external_ip_address"
ENDPOINT = "sensor.tunnel_123456_tunnel_endpoint"
LAST_UPDATE = "sensor.tunnel_123456_last_update"


async def test_sensors_follow_router_and_tunnel(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await setup_entry(hass, config_entry)
    assert hass.states.get(EXTERNAL_IP).state == WAN_IP
    assert hass.states.get(EXTERNAL_IP).attributes["friendly_name"] == (
        "Simulated router External IP address"
    )
    assert hass.states.get(ENDPOINT).state == WAN_IP
    first_update = hass.states.get(LAST_UPDATE).state
    assert first_update not in (STATE_UNKNOWN, STATE_UNAVAILABLE)

    await wan_change(hass, igd, freezer, "84.17.7.7")
    assert hass.states.get(EXTERNAL_IP).state == "84.17.7.7"
    # Set-up sent an update just now: the next waits for the minimum interval.
    assert hass.states.get(ENDPOINT).state == WAN_IP
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert hass.states.get(ENDPOINT).state == "84.17.7.7"
    assert hass.states.get(LAST_UPDATE).state != first_update

    # Router stops answering (seen at the next safety poll): its sensor is unavailable,
    # the tunnel keeps what HE holds.
    igd.set_fault(Fault.HTTP_500)
    await poll(hass, freezer, SAFETY_POLL_INTERVAL)
    assert hass.states.get(EXTERNAL_IP).state == STATE_UNAVAILABLE
    assert hass.states.get(ENDPOINT).state == "84.17.7.7"
    # Its renewal failed too, so it is polled every 30 s until events work again.
    igd.set_fault(Fault.NONE)
    await poll(hass, freezer, ROUTER_POLL_INTERVAL)
    await poll(hass, freezer, ROUTER_POLL_INTERVAL)
    assert hass.states.get(EXTERNAL_IP).state == "84.17.7.7"


async def test_unknown_until_he_confirms(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    he.force_reply("", status=500)
    await setup_entry(hass, config_entry)
    assert hass.states.get(ENDPOINT).state == STATE_UNKNOWN
    assert hass.states.get(LAST_UPDATE).state == STATE_UNKNOWN


async def test_registry_entries(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    await setup_entry(hass, config_entry)
    external = entity_registry.async_get(EXTERNAL_IP)
    assert external is not None
    assert external.unique_id == f"{ROUTER_UDN}_external_ip"
    assert external.translation_key == "external_ip"
    assert external.config_subentry_id is None
    last = entity_registry.async_get(LAST_UPDATE)
    assert last is not None
    assert last.unique_id == f"tunnel_{TUNNEL_ID}_last_update"
    assert last.entity_category is EntityCategory.DIAGNOSTIC
    assert last.config_subentry_id in config_entry.subentries
