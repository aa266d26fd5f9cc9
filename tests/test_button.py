"""The "Update endpoint" button: sends the router's address now, with translated failures."""

from __future__ import annotations

from datetime import timedelta
import re

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tunnelbroker.protocol.update_policy import MIN_UPDATE_INTERVAL
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from simulators.he import HeSimulator
from simulators.igd import Fault, IgdSimulator

from .conftest import TUNNEL_ID, WAN_IP, poll, wan_change
from .support.entity_ids import BUTTON


async def press(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: BUTTON}, blocking=True
    )


async def test_press_sends_the_router_address(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator, loaded: MockConfigEntry
) -> None:
    await press(hass)
    assert [(r.myip, r.reply) for r in he.requests] == [(WAN_IP, f"nochg {WAN_IP}")]


async def test_press_after_icmp_fix_clears_the_repair(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.state.unpingable.add("84.17.3.3")
    await wan_change(hass, igd, freezer, "84.17.3.3")
    issue_id = f"icmp_blocked_{TUNNEL_ID}"
    assert ir.async_get(hass).async_get_issue("tunnelbroker", issue_id) is not None
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    with pytest.raises(HomeAssistantError) as err:
        await press(hass)
    assert err.value.translation_key == "update_failed"
    assert "icmp_blocked" in str(err.value)
    he.state.unpingable.clear()
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    await press(hass)
    assert ir.async_get(hass).async_get_issue("tunnelbroker", issue_id) is None
    assert he.tunnel(TUNNEL_ID).endpoint == "84.17.3.3"


async def test_press_during_abuse_block_sends_nothing(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.force_reply("abuse")
    await wan_change(hass, igd, freezer, "84.17.3.4")
    assert len(he.requests) == 1
    with pytest.raises(HomeAssistantError) as err:
        await press(hass)
    assert err.value.translation_key == "abuse_block_running"
    assert "Nothing was sent" in str(err.value)
    assert len(he.requests) == 1


@pytest.mark.parametrize(
    ("address", "fault", "key"),
    [
        ("10.1.2.3", Fault.NONE, "router_address_behind_nat"),
        ("192.0.0.2", Fault.NONE, "router_address_ds_lite"),
        (WAN_IP, Fault.HTTP_500, "router_unavailable"),
    ],
)
async def test_press_without_usable_router_address(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    address: str,
    fault: Fault,
    key: str,
) -> None:
    await wan_change(hass, igd, freezer, address)
    igd.set_fault(fault)
    await poll(hass, freezer, loaded.runtime_data.router.update_interval)
    with pytest.raises(HomeAssistantError) as err:
        await press(hass)
    assert err.value.translation_key == key
    assert he.requests == []


async def test_presses_in_a_hurry_send_one_update(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Pressed four times in 16 s: one update; the others say when it can be sent."""
    await press(hass)
    for _ in range(3):
        freezer.tick(timedelta(seconds=5))
        with pytest.raises(HomeAssistantError) as err:
            await press(hass)
        assert err.value.translation_key == "update_too_soon"
        assert "Nothing was sent" in str(err.value)
        # How long, and when, in words: no raw timestamp.
        assert "less than 2 minutes ago" in str(err.value)
        assert re.search(
            r"sent again at \d{2}:\d{2}:\d{2} \(in \d+ (seconds|minutes?)\)$",
            str(err.value),
        ), str(err.value)
    assert len(he.requests) == 1
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    await press(hass)
    assert len(he.requests) == 2
