"""The tunnel subentries of router entries: which they are, what they hold."""

from __future__ import annotations

from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tunnelbroker.const import DOMAIN
from custom_components.tunnelbroker.tunnel_subentries import (
    configured_tunnel_ids,
    tunnel_credentials,
    tunnel_subentries,
)
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant

from .conftest import TUNNEL_ID, UPDATE_KEY, USERNAME, tunnel_subentry


async def test_tunnels_of_every_router_and_their_credentials(
    hass: HomeAssistant,
) -> None:
    first = MockConfigEntry(
        domain=DOMAIN,
        unique_id="router-1",
        subentries_data=[
            tunnel_subentry(),
            # Not a tunnel (a kind a future version might add): left alone.
            ConfigSubentryData(
                data={}, subentry_type="other", title="Other", unique_id="x"
            ),
        ],
    )
    second = MockConfigEntry(
        domain=DOMAIN, unique_id="router-2", subentries_data=[tunnel_subentry("777")]
    )
    MockConfigEntry(domain="other_integration").add_to_hass(hass)
    first.add_to_hass(hass)
    second.add_to_hass(hass)

    (only,) = tunnel_subentries(first).values()
    assert only.unique_id == TUNNEL_ID
    credentials = tunnel_credentials(only)
    assert (credentials.username, credentials.update_key, credentials.tunnel_id) == (
        USERNAME,
        UPDATE_KEY,
        TUNNEL_ID,
    )
    assert configured_tunnel_ids(hass) == {TUNNEL_ID, "777"}
