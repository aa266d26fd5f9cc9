"""The router entries' tunnel subentries: which they are, and the HE credentials they hold."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import CONF_USERNAME
from homeassistant.core import HomeAssistant

from .const import CONF_TUNNEL_ID, CONF_UPDATE_KEY, DOMAIN, SUBENTRY_TUNNEL
from .protocol.he_client import TunnelCredentials


def tunnel_subentries(entry: ConfigEntry) -> dict[str, ConfigSubentry]:
    """Return the entry's tunnel subentries, by subentry id."""
    return {
        subentry_id: subentry
        for subentry_id, subentry in entry.subentries.items()
        if subentry.subentry_type == SUBENTRY_TUNNEL
    }


def tunnel_credentials(subentry: ConfigSubentry) -> TunnelCredentials:
    """Return the HE credentials a tunnel subentry holds."""
    return TunnelCredentials(
        username=subentry.data[CONF_USERNAME],
        update_key=subentry.data[CONF_UPDATE_KEY],
        tunnel_id=subentry.data[CONF_TUNNEL_ID],
    )


def configured_tunnel_ids(hass: HomeAssistant) -> set[str]:
    """Return the HE tunnel ids of every router entry."""
    return {
        subentry.data[CONF_TUNNEL_ID]
        for entry in hass.config_entries.async_entries(DOMAIN, include_ignore=False)
        for subentry in tunnel_subentries(entry).values()
    }
