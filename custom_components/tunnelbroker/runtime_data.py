"""What a loaded config entry (a router, its tunnels and records) holds at run time; its building."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryError, ConfigEntryNotReady

from .clients import async_create_igd_client, create_he_client
from .const import (
    AUTOMATIC_CONNECTION,
    CONF_LOCATION,
    CONF_WAN_CONNECTION,
    DOMAIN,
    LOGGER,
)
from .coordinator import RouterCoordinator, router_error_translation
from .developer_settings import min_update_interval
from .devices import async_register_devices
from .he_sender import async_record_sender, async_tunnel_sender
from .protocol.igd_client import IgdClient, NotAnIgdError, RouterError
from .record_subentries import record_credentials, record_subentries, record_types
from .record_updater import RecordIssues, RecordUpdater
from .repair_issues import async_clear_router_moved_issue
from .router_events import RouterEvents
from .tunnel_health import TunnelHealth, async_icmp_privilege_of
from .tunnel_info import TunnelInfoCoordinator
from .tunnel_subentries import tunnel_credentials, tunnel_subentries
from .tunnel_updater import TunnelUpdater


@dataclass
class TunnelbrokerRuntimeData:
    """The router's coordinator and its events; each tunnel's and record's parts, by subentry id.

    Per tunnel: its updater, HE's information and its health check. Per record: an updater
    per type it holds (its A first, then its AAAA).
    """

    router: RouterCoordinator
    events: RouterEvents
    tunnels: dict[str, TunnelUpdater]
    tunnel_info: dict[str, TunnelInfoCoordinator]
    health: dict[str, TunnelHealth]
    records: dict[str, tuple[RecordUpdater, ...]]

    @property
    def updaters(self) -> list[TunnelUpdater | RecordUpdater]:
        """Return every updater of the router: its tunnels, then its records."""
        return [
            *self.tunnels.values(),
            *(updater for types in self.records.values() for updater in types),
        ]

    async def async_config_entry_first_refresh(self) -> None:
        """Read the router (not ready if it does not answer) and subscribe to its events.

        Then each tunnel publishes its state as of that read.
        """
        await self.router.async_config_entry_first_refresh()
        await self.events.async_start()
        self.router.config_entry.async_on_unload(self.events.async_stop)
        for updater in self.updaters:
            await updater.async_config_entry_first_refresh()

    @callback
    def async_start(self) -> None:
        """Start each tunnel, record and health check, in the background; all stop on unload.

        A tunnel reads HE's information (setup neither waits for it nor fails without it),
        then sends the router's address if it is due; so does a record. The first echo may
        take seconds.
        """
        entry = self.router.config_entry
        for updater in self.updaters:
            entry.async_on_unload(
                self.router.async_add_listener(updater.async_on_router_update)
            )
            entry.async_on_unload(updater.async_stop)
            updater.async_start()
        for check in self.health.values():
            entry.async_on_unload(check.async_start())
            entry.async_create_task(
                check.hass,
                check.async_refresh(),
                f"{DOMAIN} check tunnel {check.tunnel_id}",
            )


type TunnelbrokerConfigEntry = ConfigEntry[TunnelbrokerRuntimeData]


async def async_build_runtime_data(
    hass: HomeAssistant, entry: TunnelbrokerConfigEntry
) -> TunnelbrokerRuntimeData:
    """Connect to the router and build the entry's parts, their devices registered first.

    Nothing is read from the router, or sent to HE, until the first refresh.
    """
    client = await _async_connect_router(hass, entry)
    subentries = tunnel_subentries(entry)
    records = record_subentries(entry)
    devices = async_register_devices(hass, entry, client.info, subentries, records)
    router = RouterCoordinator(hass, entry, client, device_id=devices.router)
    he_client = create_he_client(hass)
    privileged = await async_icmp_privilege_of(hass)
    tunnels: dict[str, TunnelUpdater] = {}
    tunnel_info: dict[str, TunnelInfoCoordinator] = {}
    health: dict[str, TunnelHealth] = {}
    for subentry_id, subentry in subentries.items():
        credentials = tunnel_credentials(subentry)
        device_id = devices.tunnels[subentry_id]
        info = tunnel_info[subentry_id] = TunnelInfoCoordinator(
            hass, entry, he_client, credentials
        )
        tunnel = tunnels[subentry_id] = TunnelUpdater(
            hass,
            entry,
            subentry,
            router=router,
            sender=await async_tunnel_sender(hass, credentials.tunnel_id),
            info=info,
            device_id=device_id,
            min_interval=min_update_interval(hass),
        )
        health[subentry_id] = TunnelHealth(
            hass,
            entry,
            tunnel.state_publisher,
            tunnel_id=credentials.tunnel_id,
            tunnel_name=subentry.title,
            device_id=device_id,
            privileged=privileged,
        )
    return TunnelbrokerRuntimeData(
        router=router,
        events=RouterEvents(hass, router),
        tunnels=tunnels,
        tunnel_info=tunnel_info,
        health=health,
        records={
            subentry_id: await _async_record_updaters(
                hass, entry, subentry, router, devices.records[subentry_id]
            )
            for subentry_id, subentry in records.items()
        },
    )


async def _async_record_updaters(
    hass: HomeAssistant,
    entry: TunnelbrokerConfigEntry,
    subentry: ConfigSubentry,
    router: RouterCoordinator,
    device_id: str,
) -> tuple[RecordUpdater, ...]:
    """Return a record's updaters: one per type it holds, each with its own sender.

    They share the record's repair issues.
    """
    hostname = record_credentials(subentry).hostname
    issues = RecordIssues(hass, hostname)
    return tuple(
        [
            RecordUpdater(
                hass,
                entry,
                subentry,
                record_type,
                router=router,
                sender=await async_record_sender(hass, hostname, record_type),
                device_id=device_id,
                issues=issues,
                min_interval=min_update_interval(hass),
            )
            for record_type in record_types(subentry)
        ]
    )


async def _async_connect_router(
    hass: HomeAssistant, entry: TunnelbrokerConfigEntry
) -> IgdClient:
    """Return the client of the entry's router: not another device at its URL."""
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
    return client
