"""The Hurricane Electric Tunnelbroker integration.

One config entry per router (found by SSDP, or by its description URL); one config subentry per
HE tunnel it serves. The router is polled once, whatever the number of tunnels.
"""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .clients import async_create_igd_client, create_he_client
from .const import (
    AUTOMATIC_CONNECTION,
    CONF_LOCATION,
    CONF_TUNNEL_ID,
    CONF_WAN_CONNECTION,
    DOMAIN,
    LOGGER,
)
from .coordinator import RouterCoordinator, router_error_translation
from .developer_settings import api_url, min_update_interval
from .devices import async_register_devices
from .protocol.igd_client import NotAnIgdError, RouterError
from .repair_issues import (
    async_clear_entry_issues,
    async_clear_router_moved_issue,
    async_clear_stale_tunnel_issues,
)
from .router_events import RouterEvents
from .runtime_data import TunnelbrokerConfigEntry, TunnelbrokerRuntimeData
from .services import async_setup_services
from .tunnel_health import TunnelHealth, async_icmp_privilege_of
from .tunnel_info import TunnelInfoCoordinator
from .tunnel_sender import async_tunnel_sender
from .tunnel_subentries import (
    configured_tunnel_ids,
    tunnel_credentials,
    tunnel_subentries,
)
from .tunnel_updater import TunnelUpdater

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
    location = entry.data[CONF_LOCATION]
    try:
        client = await async_create_igd_client(hass, location)
    except NotAnIgdError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="not_an_igd",
            translation_placeholders={"location": location},
        ) from err
    except RouterError as err:
        raise ConfigEntryNotReady(**router_error_translation(err)) from err
    if entry.unique_id is not None and client.info.udn != entry.unique_id:
        # Another device answers at this URL (a spoofed announcement, a reused address):
        # nothing of it is read or sent to HE.
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="wrong_router",
            translation_placeholders={"location": location, "name": entry.title},
        )
    async_clear_router_moved_issue(hass, entry.entry_id)

    connection = entry.options.get(CONF_WAN_CONNECTION, AUTOMATIC_CONNECTION)
    if connection != AUTOMATIC_CONNECTION and not client.pin_connection(connection):
        LOGGER.warning(
            "%s no longer has the WAN connection chosen in the options; choosing"
            " automatically until another is chosen",
            entry.title,
        )
    router = RouterCoordinator(hass, entry, client)
    await router.async_config_entry_first_refresh()

    events = RouterEvents(hass, router)
    await events.async_start()
    entry.async_on_unload(events.async_stop)

    he_client = create_he_client(hass)
    tunnels_of_entry = tunnel_subentries(entry)
    tunnel_info = {
        subentry_id: TunnelInfoCoordinator(
            hass, entry, he_client, tunnel_credentials(subentry)
        )
        for subentry_id, subentry in tunnels_of_entry.items()
    }
    tunnels = {
        subentry_id: TunnelUpdater(
            hass,
            entry,
            subentry,
            router=router,
            sender=await async_tunnel_sender(
                hass, tunnel_credentials(subentry).tunnel_id
            ),
            info=tunnel_info[subentry_id],
            min_interval=min_update_interval(hass),
        )
        for subentry_id, subentry in tunnels_of_entry.items()
    }
    privileged = await async_icmp_privilege_of(hass)
    health = {
        subentry_id: TunnelHealth(
            hass,
            entry,
            tunnel.state_publisher,
            tunnel_id=tunnel.tunnel_id,
            tunnel_name=tunnel.subentry.title,
            privileged=privileged,
        )
        for subentry_id, tunnel in tunnels.items()
    }
    async_register_devices(hass, entry, router, list(tunnels.values()))
    for subentry_id, tunnel in tunnels.items():
        health[subentry_id].device_id = tunnel.device_id
    entry.runtime_data = TunnelbrokerRuntimeData(
        router=router,
        events=events,
        tunnels=tunnels,
        tunnel_info=tunnel_info,
        health=health,
    )

    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)

    # Each tunnel reads HE's information in the background (setup neither waits for it nor
    # fails without it), then sends the router's address if it is due.
    for tunnel in tunnels.values():
        entry.async_on_unload(router.async_add_listener(tunnel.async_on_router_update))
        entry.async_on_unload(tunnel.async_stop)
        tunnel.async_start()

    # The first echo through each tunnel, in the background (it may take seconds).
    for check in health.values():
        entry.async_on_unload(check.async_start())
        entry.async_create_task(
            hass, check.async_refresh(), f"{DOMAIN} check tunnel {check.tunnel_id}"
        )

    entry.async_on_unload(entry.add_update_listener(_async_reload_on_change))
    async_clear_stale_tunnel_issues(hass, configured_tunnel_ids(hass))
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
    """Forget what is remembered for the entry's tunnels; drop the entry's repair issues."""
    tunnel_ids = {
        subentry.data[CONF_TUNNEL_ID] for subentry in tunnel_subentries(entry).values()
    }
    for tunnel_id in tunnel_ids:
        await (await async_tunnel_sender(hass, tunnel_id)).async_forget()
    async_clear_entry_issues(hass, entry.entry_id, tunnel_ids)
