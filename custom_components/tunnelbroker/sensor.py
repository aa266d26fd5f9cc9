"""Sensors: the router's external IP address; each tunnel's endpoint and last update."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import RouterEntity, TunnelEntity
from .igd_client import WanStatus
from .runtime_data import TunnelbrokerConfigEntry
from .tunnel_updater import TunnelUpdater

# Entities only read what the coordinator/updater already hold.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class RouterSensorEntityDescription(SensorEntityDescription):
    """A router sensor and how its value is read from the WAN status."""

    value_fn: Callable[[WanStatus], str | None]


@dataclass(frozen=True, kw_only=True)
class TunnelSensorEntityDescription(SensorEntityDescription):
    """A tunnel sensor and how its value is read from the updater."""

    value_fn: Callable[[TunnelUpdater], str | datetime | None]


ROUTER_SENSORS: tuple[RouterSensorEntityDescription, ...] = (
    RouterSensorEntityDescription(
        key="external_ip",
        translation_key="external_ip",
        value_fn=lambda status: status.external_ip,
    ),
)

TUNNEL_SENSORS: tuple[TunnelSensorEntityDescription, ...] = (
    TunnelSensorEntityDescription(
        key="endpoint",
        translation_key="endpoint",
        value_fn=lambda tunnel: tunnel.record.endpoint if tunnel.record else None,
    ),
    TunnelSensorEntityDescription(
        key="last_update",
        translation_key="last_update",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda tunnel: tunnel.record.updated_at if tunnel.record else None,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: TunnelbrokerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the router's sensors, then each tunnel's under its subentry."""
    data = entry.runtime_data
    async_add_entities(
        RouterSensor(data.router, description) for description in ROUTER_SENSORS
    )
    for subentry_id, tunnel in data.tunnels.items():
        async_add_entities(
            (TunnelSensor(tunnel, description) for description in TUNNEL_SENSORS),
            config_subentry_id=subentry_id,
        )


class RouterSensor(RouterEntity, SensorEntity):
    """A value the router reports."""

    entity_description: RouterSensorEntityDescription

    @property
    def native_value(self) -> str | None:
        """Return the value from the latest WAN status."""
        return self.entity_description.value_fn(self.coordinator.data)


class TunnelSensor(TunnelEntity, SensorEntity):
    """A value about a tunnel at HE."""

    entity_description: TunnelSensorEntityDescription

    @property
    def native_value(self) -> str | datetime | None:
        """Return the value from the tunnel's state."""
        return self.entity_description.value_fn(self.tunnel)
