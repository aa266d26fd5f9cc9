"""Diagnostics: useful for a bug report, with no credential and no public address in it."""

from __future__ import annotations

import json

from freezegun.api import FrozenDateTimeFactory
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from homeassistant.core import HomeAssistant
from simulators.he import HeSimulator
from simulators.igd import IgdSimulator

from .conftest import TUNNEL_ID, UPDATE_KEY, USERNAME, WAN_IP, wan_change


async def test_diagnostics_redact_secrets_and_addresses(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded: MockConfigEntry,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.force_reply("abuse")
    await wan_change(hass, igd, freezer, "84.17.9.9")
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, loaded)
    text = json.dumps(diagnostics)
    for secret in (UPDATE_KEY, USERNAME, TUNNEL_ID, WAN_IP, "84.17.9.9", "00000000"):
        assert secret not in text
    assert diagnostics["router"]["model_name"] == "MiniUPnPd"
    assert diagnostics["wan_services"] == [
        "urn:schemas-upnp-org:service:WANIPConnection:2"
    ]
    assert diagnostics["wan_status"]["connection_status"] == "Connected"
    assert diagnostics["events"]["subscribed"] is True
    (tunnel,) = diagnostics["tunnels"]
    assert tunnel["subentry"]["update_key"] == "**REDACTED**"
    assert tunnel["endpoint"] == "**REDACTED**"
    assert tunnel["last_attempt"]["status"] == "abuse"
    assert tunnel["automatic"] is True
