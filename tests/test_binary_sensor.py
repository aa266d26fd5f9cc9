"""Binary sensors: the router's WAN link, and whether HE holds the router's address."""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_get_device_automations,
)

from custom_components.tunnelbroker.const import DOMAIN, SAFETY_POLL_INTERVAL
from custom_components.tunnelbroker.protocol.update_policy import MIN_UPDATE_INTERVAL
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.const import (
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    EntityCategory,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from simulators.he import HeSimulator
from simulators.igd import Fault, IgdSimulator

from .conftest import ROUTER_UDN, TUNNEL_ID, WAN_IP, find_device, poll, wan_change

WAN_CONNECTED = "binary_sensor.simulated_router_wan_link"
ENDPOINT_SYNC = "binary_sensor.tunnel_123456_endpoint_sync"


@pytest.fixture
def endpoint_sync_on(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    config_entry: MockConfigEntry,
) -> None:
    """Turn Endpoint sync on before setup, as a user does in its settings (off by default)."""
    config_entry.add_to_hass(hass)
    entity_registry.async_get_or_create(
        "binary_sensor",
        DOMAIN,
        f"tunnel_{TUNNEL_ID}_endpoint_sync",
        suggested_object_id="tunnel_123456_endpoint_sync",
        config_entry=config_entry,
        disabled_by=None,
    )


async def test_endpoint_sync_is_off_by_default_status_says_it(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, loaded: MockConfigEntry
) -> None:
    """One fact, one place: Status (in the Sensors card) says whether HE holds the address."""
    entry = entity_registry.async_get(ENDPOINT_SYNC)
    assert entry is not None
    assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert entry.entity_category is EntityCategory.DIAGNOSTIC
    assert hass.states.get(ENDPOINT_SYNC) is None
    assert hass.states.get("sensor.tunnel_123456_status").state == "in_sync"


def entry_id(hass: HomeAssistant) -> str:
    """Return the entity registry id of the WAN link sensor (device triggers use it)."""
    entry = er.async_get(hass).async_get(WAN_CONNECTED)
    assert entry is not None
    return entry.id


@pytest.mark.usefixtures("endpoint_sync_on")
async def test_wan_connected_follows_connection_status(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    state = hass.states.get(WAN_CONNECTED)
    assert state.state == STATE_ON
    assert state.attributes["device_class"] == "connectivity"
    # The frontend names its device triggers "<entity name> connected/disconnected": the
    # name must not say "connected" itself ("WAN connected connected").
    assert state.attributes["friendly_name"] == "Simulated router WAN link"
    router = find_device(hass, ROUTER_UDN)
    assert router is not None
    triggers = await async_get_device_automations(
        hass, DeviceAutomationType.TRIGGER, router.id
    )
    assert {"connected", "not_connected"} <= {
        t["type"] for t in triggers if t.get("entity_id") == entry_id(hass)
    }
    entry = er.async_get(hass).async_get(WAN_CONNECTED)
    assert entry.entity_category is EntityCategory.DIAGNOSTIC
    igd.state.connection_status = "Disconnected"
    await wan_change(hass, igd, freezer, "0.0.0.0")
    assert hass.states.get(WAN_CONNECTED).state == STATE_OFF
    igd.set_fault(Fault.HTTP_500)
    await poll(hass, freezer, SAFETY_POLL_INTERVAL)
    assert hass.states.get(WAN_CONNECTED).state == STATE_UNAVAILABLE
    assert hass.states.get(ENDPOINT_SYNC).state == STATE_UNAVAILABLE


@pytest.mark.usefixtures("endpoint_sync_on")
async def test_endpoint_sync_is_a_problem_until_he_holds_the_address(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    state = hass.states.get(ENDPOINT_SYNC)
    assert state.state == STATE_OFF
    assert state.attributes["device_class"] == "problem"
    # HE is down: the router moved, HE still holds the old address.
    he.force_reply("", status=502)
    await wan_change(hass, igd, freezer, "84.17.9.9")
    assert hass.states.get(ENDPOINT_SYNC).state == STATE_ON
    he.clear_forced_reply()
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert hass.states.get(ENDPOINT_SYNC).state == STATE_OFF
    # Behind another NAT nothing can be sent: a problem too.
    await wan_change(hass, igd, freezer, "100.64.0.1")
    assert hass.states.get(ENDPOINT_SYNC).state == STATE_ON
    await wan_change(hass, igd, freezer, "84.17.9.9")
    assert hass.states.get(ENDPOINT_SYNC).state == STATE_OFF
    assert [r.myip for r in he.requests] == ["84.17.9.9", "84.17.9.9"]
    assert WAN_IP not in [r.myip for r in he.requests]


async def test_wan_connected_unknown_when_not_reported(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    igd.state.connection_status = ""
    await poll(hass, freezer)
    await poll(hass, freezer, SAFETY_POLL_INTERVAL)
    assert hass.states.get(WAN_CONNECTED).state == STATE_UNKNOWN
