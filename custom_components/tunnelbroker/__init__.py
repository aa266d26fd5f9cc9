"""The Hurricane Electric Tunnelbroker integration.

One config entry per router (found by SSDP, or by its description URL); one config subentry per
HE tunnel it serves, and one per dns.he.net record that follows it. The router is polled once,
whatever the number of tunnels and records.
"""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .const import CONF_HOSTNAME, CONF_TUNNEL_ID, DOMAIN
from .developer_settings import api_url, min_update_interval
from .he_sender import async_record_sender, async_tunnel_sender
from .protocol.dns_client import RecordType
from .record_subentries import configured_record_names, record_subentries
from .repair_issues import async_clear_entry_issues, async_clear_stale_issues
from .runtime_data import TunnelbrokerConfigEntry, async_build_runtime_data
from .services import async_setup_services
from .tunnel_subentries import configured_tunnel_ids, tunnel_subentries

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.EVENT,
    Platform.SENSOR,
]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions."""
    api_url(hass)
    min_update_interval(hass)
    async_setup_services(hass)
    return True


async def async_setup_entry(
    hass: HomeAssistant, entry: TunnelbrokerConfigEntry
) -> bool:
    """Connect to the router, read its WAN state and start the tunnels' updaters."""
    data = await async_build_runtime_data(hass, entry)
    await data.async_config_entry_first_refresh()
    entry.runtime_data = data
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    data.async_start()
    entry.async_on_unload(entry.add_update_listener(_async_reload_on_change))
    async_clear_stale_issues(
        hass, configured_tunnel_ids(hass), configured_record_names(hass)
    )
    return True


async def _async_reload_on_change(
    hass: HomeAssistant, entry: TunnelbrokerConfigEntry
) -> None:
    """Options changed, or a tunnel was added, changed or removed."""
    hass.config_entries.async_schedule_reload(entry.entry_id)


async def async_unload_entry(
    hass: HomeAssistant, entry: TunnelbrokerConfigEntry
) -> bool:
    """Unload the entry; background updates are cancelled with it."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(
    hass: HomeAssistant, entry: TunnelbrokerConfigEntry
) -> None:
    """Forget what is remembered for the entry's tunnels and records; drop its repair issues."""
    tunnel_ids = {
        subentry.data[CONF_TUNNEL_ID] for subentry in tunnel_subentries(entry).values()
    }
    hostnames = {
        subentry.data[CONF_HOSTNAME] for subentry in record_subentries(entry).values()
    }
    for tunnel_id in tunnel_ids:
        await (await async_tunnel_sender(hass, tunnel_id)).async_forget()
    for hostname in hostnames:
        for record_type in RecordType:
            await (
                await async_record_sender(hass, hostname, record_type)
            ).async_forget()
    async_clear_entry_issues(hass, entry.entry_id, tunnel_ids, hostnames)
