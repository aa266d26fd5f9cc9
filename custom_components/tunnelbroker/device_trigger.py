"""Device triggers: a router's WAN address changed; a tunnel or record was updated, or not.

A tunnel's update succeeded or failed at HE; it stopped or started answering its echo check.
A record's update (its A or AAAA) succeeded or failed at dns.he.net.
Each trigger listens for the bus event its device fires (devices.device_event_data).
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from homeassistant.components.device_automation import DEVICE_TRIGGER_BASE_SCHEMA
from homeassistant.components.homeassistant.triggers import event as event_trigger
from homeassistant.const import (
    CONF_DEVICE_ID,
    CONF_DOMAIN,
    CONF_EVENT_DATA,
    CONF_PLATFORM,
    CONF_TYPE,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
from homeassistant.helpers.typing import ConfigType

from .const import (
    DOMAIN,
    EVENT_TUNNELBROKER,
    RECORD_TRIGGER_TYPES,
    ROUTER_TRIGGER_TYPES,
    TUNNEL_TRIGGER_TYPES,
)
from .devices import device_event_data, is_record_device, is_tunnel_device

TRIGGER_SCHEMA = DEVICE_TRIGGER_BASE_SCHEMA.extend(
    {
        vol.Required(CONF_TYPE): vol.In(
            ROUTER_TRIGGER_TYPES + TUNNEL_TRIGGER_TYPES + RECORD_TRIGGER_TYPES
        )
    }
)


def _trigger_types(device: dr.DeviceEntry | None) -> tuple[str, ...]:
    if device is None:
        return ()
    if not any(domain == DOMAIN for domain, _ in device.identifiers):
        return ()
    if is_tunnel_device(device):
        return TUNNEL_TRIGGER_TYPES
    if is_record_device(device):
        return RECORD_TRIGGER_TYPES
    return ROUTER_TRIGGER_TYPES


async def async_get_triggers(
    hass: HomeAssistant, device_id: str
) -> list[dict[str, Any]]:
    """List the triggers of a router, tunnel or record device."""
    device = dr.async_get(hass).async_get(device_id)
    return [
        {
            CONF_PLATFORM: "device",
            CONF_DOMAIN: DOMAIN,
            CONF_DEVICE_ID: device_id,
            CONF_TYPE: trigger_type,
        }
        for trigger_type in _trigger_types(device)
    ]


async def async_attach_trigger(
    hass: HomeAssistant,
    config: ConfigType,
    action: TriggerActionType,
    trigger_info: TriggerInfo,
) -> CALLBACK_TYPE:
    """Listen for the integration's event of this device and type."""
    event_config = event_trigger.TRIGGER_SCHEMA(
        {
            CONF_PLATFORM: "event",
            event_trigger.CONF_EVENT_TYPE: EVENT_TUNNELBROKER,
            CONF_EVENT_DATA: device_event_data(
                config[CONF_DEVICE_ID], config[CONF_TYPE]
            ),
        }
    )
    return await event_trigger.async_attach_trigger(
        hass, event_config, action, trigger_info, platform_type="device"
    )
