"""The tunnel health check in Home Assistant: when it runs, what it shows, what it refuses.

The echoes are real ICMPv6 to ::1 (the developer setting every test here sets: nothing else is
ever echoed). No answer, no route and the repair issue need a path that can be cut: they are
in tests/router/test_tunnel_health_router.py and tests/protocol/test_icmp_echo.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tunnelbroker.const import (
    CONF_AUTOMATIC_UPDATE,
    CONF_HEALTH_INTERVAL,
    CONF_HEALTH_TARGET,
    DEFAULT_HEALTH_INTERVAL,
    DOMAIN,
    ENV_HEALTH_TARGET,
    HEALTH_RECHECK_AFTER,
)
from homeassistant.const import STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.translation import async_get_translations
from simulators.he import HeSimulator, InfoFault
from simulators.igd import IgdSimulator

from .conftest import WAN_IP, poll, seed_endpoint, setup_entry, wan_change

REACHABLE = "binary_sensor.tunnel_123456_tunnel_reachable"
ROUND_TRIP = "sensor.tunnel_123456_round_trip"
CHECK = "button.tunnel_123456_check_tunnel"


def checked_at(hass: HomeAssistant) -> datetime:
    """When the last check reported (each check writes the state, changed or not)."""
    state = hass.states.get(REACHABLE)
    assert state is not None
    return state.last_reported


async def press_check(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        "button", "press", {"entity_id": CHECK}, blocking=True
    )


async def test_reachable_with_a_round_trip_after_setup(
    hass: HomeAssistant, loaded: MockConfigEntry
) -> None:
    state = hass.states.get(REACHABLE)
    assert state.state == STATE_ON
    assert state.attributes["device_class"] == "connectivity"
    round_trip = hass.states.get(ROUND_TRIP)
    assert round_trip.attributes["unit_of_measurement"] == "ms"
    assert float(round_trip.state) >= 0


async def test_checks_periodically_after_an_update_and_on_demand(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    first = checked_at(hass)
    # Every 5 minutes by default.
    await poll(hass, freezer, timedelta(minutes=DEFAULT_HEALTH_INTERVAL, seconds=1))
    periodic = checked_at(hass)
    assert periodic > first

    # At once after an update of the endpoint, and once more a minute later.
    freezer.tick(timedelta(seconds=5))
    await wan_change(hass, igd, freezer, "84.17.7.7")
    assert he.requests[-1].myip == "84.17.7.7"
    after_update = checked_at(hass)
    assert after_update > periodic
    await poll(hass, freezer, HEALTH_RECHECK_AFTER + timedelta(seconds=1))
    assert checked_at(hass) > after_update

    # On demand: the button.
    before = checked_at(hass)
    freezer.tick(timedelta(seconds=5))
    await press_check(hass)
    assert checked_at(hass) > before
    assert hass.states.get(REACHABLE).state == STATE_ON


async def test_the_check_interval_option(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    seed_endpoint(hass_storage, WAN_IP, he=he)
    await setup_entry(
        hass,
        config_entry,
        options={CONF_AUTOMATIC_UPDATE: True, CONF_HEALTH_INTERVAL: 30},
    )
    first = checked_at(hass)
    await poll(hass, freezer, timedelta(minutes=10))
    assert checked_at(hass) == first  # not due yet
    await poll(hass, freezer, timedelta(minutes=21))
    assert checked_at(hass) > first


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("84.17.0.1", "health_target_not_ipv6"),
        ("not an address", "health_target_not_ipv6"),
        ("2001:470::1/64", "health_target_not_ipv6"),
    ],
)
async def test_options_refuse_a_check_address_that_is_not_ipv6(
    hass: HomeAssistant, loaded: MockConfigEntry, typed: str, error: str
) -> None:
    result = await hass.config_entries.options.async_init(loaded.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_AUTOMATIC_UPDATE: True, CONF_HEALTH_TARGET: typed},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_HEALTH_TARGET: error}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_AUTOMATIC_UPDATE: True,
            CONF_HEALTH_TARGET: " ::1 ",
            CONF_HEALTH_INTERVAL: 10.0,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert loaded.options[CONF_HEALTH_TARGET] == "::1"
    assert loaded.options[CONF_HEALTH_INTERVAL] == 10


async def test_nothing_to_check_is_unavailable_and_the_button_says_why(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No developer target, no option, and HE refuses the tunnel information: no target."""
    monkeypatch.delenv(ENV_HEALTH_TARGET)
    he.set_info_fault(InfoFault.REFUSE)
    seed_endpoint(hass_storage, WAN_IP, he=he)
    await setup_entry(hass, config_entry)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(REACHABLE).state == STATE_UNAVAILABLE
    assert hass.states.get(ROUND_TRIP).state == STATE_UNAVAILABLE
    await async_get_translations(hass, "en", "exceptions", [DOMAIN])
    with pytest.raises(HomeAssistantError) as err:
        await press_check(hass)
    assert err.value.translation_key == "health_no_target"
    assert "Set a tunnel check address" in str(err.value)
