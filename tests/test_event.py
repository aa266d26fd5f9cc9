"""The "Endpoint update" event entity: updated, unchanged or failed, with HE's answer."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tunnelbroker.protocol.update_policy import MIN_UPDATE_INTERVAL
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from simulators.he import HeSimulator
from simulators.igd import IgdSimulator

from .conftest import poll, wan_change
from .support.entity_ids import BUTTON, EVENT


async def test_one_event_per_attempt(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    state = hass.states.get(EVENT)
    assert state.state == STATE_UNKNOWN
    assert state.attributes["event_types"] == ["updated", "unchanged", "failed"]

    await wan_change(hass, igd, freezer, "84.17.4.4")
    state = hass.states.get(EVENT)
    assert state.attributes["event_type"] == "updated"
    assert state.attributes["ip"] == "84.17.4.4"
    assert state.attributes["automatic"] is True
    first = state.state

    he.force_reply("", status=500)
    await wan_change(hass, igd, freezer, "84.17.4.5")
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    state = hass.states.get(EVENT)
    assert state.attributes["event_type"] == "failed"
    assert state.attributes["result"] == "unavailable"
    assert state.state != first

    he.clear_forced_reply()
    await poll(hass, freezer, timedelta(hours=1))  # the retry: HE takes it
    assert hass.states.get(EVENT).attributes["event_type"] == "updated"
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    await hass.services.async_call(
        BUTTON_DOMAIN,
        SERVICE_PRESS,
        {ATTR_ENTITY_ID: BUTTON},
        blocking=True,
    )
    state = hass.states.get(EVENT)
    # HE already held it: the user's request came to nothing new.
    assert state.attributes["event_type"] == "unchanged"
    assert state.attributes["automatic"] is False
    assert [r.reply for r in he.requests][-1] == "nochg 84.17.4.5"
