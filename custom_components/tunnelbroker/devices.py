"""The router's, tunnels' and records' devices: in the registry, and the event of their triggers.

Since Home Assistant 2026.8 a device belongs to one config entry, and identifiers are unique
only within an entry: devices are created here at setup and then known by their device id, the
tunnel's link to its router is set by id (`via_device_id`, not the deprecated `via_device`), and
a device no longer used is removed outright. Every call here exists on the floor (2026.2) and on
the newest line alike, so no version test is needed.

A device's triggers listen for one bus event, keyed by the device and the trigger type; its data
is built here, for whoever fires it and for the trigger that matches it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import CONF_DEVICE_ID, CONF_TYPE
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo

from .const import (
    DNS_PAGE_URL,
    DOMAIN,
    EVENT_TUNNELBROKER,
    RECORD_IDENTIFIER_PREFIX,
    TUNNEL_IDENTIFIER_PREFIX,
    TUNNEL_PAGE_URL,
)
from .protocol.igd_client import RouterInfo
from .record_subentries import record_credentials
from .tunnel_subentries import tunnel_credentials


def tunnel_device_identifier(tunnel_id: str) -> tuple[str, str]:
    """Return the device registry identifier of a tunnel."""
    return (DOMAIN, f"{TUNNEL_IDENTIFIER_PREFIX}{tunnel_id}")


def record_device_identifier(hostname: str) -> tuple[str, str]:
    """Return the device registry identifier of a dns.he.net record."""
    return (DOMAIN, f"{RECORD_IDENTIFIER_PREFIX}{hostname}")


def _has_identifier_prefix(device: dr.DeviceEntry, prefix: str) -> bool:
    return any(
        domain == DOMAIN and identifier.startswith(prefix)
        for domain, identifier in device.identifiers
    )


def is_tunnel_device(device: dr.DeviceEntry) -> bool:
    """Return whether the device is one of this integration's tunnels."""
    return _has_identifier_prefix(device, TUNNEL_IDENTIFIER_PREFIX)


def is_record_device(device: dr.DeviceEntry) -> bool:
    """Return whether the device is one of this integration's dns.he.net records."""
    return _has_identifier_prefix(device, RECORD_IDENTIFIER_PREFIX)


def router_device_info(info: RouterInfo) -> DeviceInfo:
    """Return the router's device, as its description names it."""
    return DeviceInfo(
        identifiers={(DOMAIN, info.udn)},
        name=info.friendly_name,
        manufacturer=info.manufacturer,
        model=info.model_name,
        model_id=info.model_id,
        sw_version=info.firmware_version,
        serial_number=info.serial_number,
        configuration_url=info.admin_url,
    )


def tunnel_device_info(subentry: ConfigSubentry) -> DeviceInfo:
    """Return a tunnel's device, a service of HE reached through the router."""
    tunnel_id = tunnel_credentials(subentry).tunnel_id
    return DeviceInfo(
        identifiers={tunnel_device_identifier(tunnel_id)},
        name=subentry.title,
        manufacturer="Hurricane Electric",
        model="6in4 tunnel",
        entry_type=DeviceEntryType.SERVICE,
        configuration_url=TUNNEL_PAGE_URL.format(tunnel_id=tunnel_id),
    )


def record_device_info(subentry: ConfigSubentry) -> DeviceInfo:
    """Return a record's device, a service of HE's DNS that follows the router."""
    return DeviceInfo(
        identifiers={record_device_identifier(record_credentials(subentry).hostname)},
        name=subentry.title,
        manufacturer="Hurricane Electric",
        model="Dynamic DNS record",
        entry_type=DeviceEntryType.SERVICE,
        configuration_url=DNS_PAGE_URL,
    )


@dataclass(frozen=True, slots=True)
class EntryDevices:
    """The device ids of a router entry: the router's, each tunnel's and record's by subentry."""

    router: str
    tunnels: dict[str, str]
    records: dict[str, str]


@callback
def async_register_devices(
    hass: HomeAssistant,
    entry: ConfigEntry,
    router: RouterInfo,
    tunnels: Mapping[str, ConfigSubentry],
    records: Mapping[str, ConfigSubentry],
) -> EntryDevices:
    """Create (or refresh) the router's device, its tunnels' and records', linked to it."""
    registry = dr.async_get(hass)
    router_id = registry.async_get_or_create(
        config_entry_id=entry.entry_id, **router_device_info(router)
    ).id

    def linked(subentry_id: str, info: DeviceInfo) -> str:
        device = registry.async_get_or_create(
            config_entry_id=entry.entry_id, config_subentry_id=subentry_id, **info
        )
        if device.via_device_id != router_id:
            registry.async_update_device(device.id, via_device_id=router_id)
        return device.id

    return EntryDevices(
        router=router_id,
        tunnels={
            subentry_id: linked(subentry_id, tunnel_device_info(subentry))
            for subentry_id, subentry in tunnels.items()
        },
        records={
            subentry_id: linked(subentry_id, record_device_info(subentry))
            for subentry_id, subentry in records.items()
        },
    )


def device_event_data(
    device_id: str, trigger_type: str, **details: Any
) -> dict[str, Any]:
    """Return the data of a device's trigger event: the device, the trigger type, details."""
    return {CONF_DEVICE_ID: device_id, CONF_TYPE: trigger_type, **details}


@callback
def async_fire_device_event(
    hass: HomeAssistant, device_id: str, trigger_type: str, **details: Any
) -> None:
    """Fire the bus event behind the device's trigger of this type."""
    hass.bus.async_fire(
        EVENT_TUNNELBROKER, device_event_data(device_id, trigger_type, **details)
    )


@callback
def async_remove_device(
    hass: HomeAssistant, entry: ConfigEntry, identifier: tuple[str, str]
) -> None:
    """Remove a device the entry no longer uses (a tunnel id, a record name; entities too)."""
    registry = dr.async_get(hass)
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        if identifier in device.identifiers:
            registry.async_remove_device(device.id)


@callback
def async_entry_of_device(hass: HomeAssistant, device_id: str) -> str | None:
    """Return the id of this integration's config entry that owns the device, if any."""
    registry = dr.async_get(hass)
    for entry in hass.config_entries.async_entries(DOMAIN):
        if any(
            device.id == device_id
            for device in dr.async_entries_for_config_entry(registry, entry.entry_id)
        ):
            return entry.entry_id
    return None
