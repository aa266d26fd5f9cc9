"""Binary sensors: the router's WAN link; whether HE holds its address; whether IPv6 passes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import RouterEntity, TunnelHealthEntity, TunnelStatusEntity
from .protocol.icmp_echo import EchoOutcome
from .protocol.igd_client import WanStatus
from .runtime_data import TunnelbrokerConfigEntry

# Entities only read what the coordinator/updater already hold.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class RouterBinarySensorEntityDescription(BinarySensorEntityDescription):
    """A router binary sensor and how it is read from the WAN status."""

    is_on_fn: Callable[[WanStatus], bool | None]


ROUTER_BINARY_SENSORS: tuple[RouterBinarySensorEntityDescription, ...] = (
    RouterBinarySensorEntityDescription(
        key="wan_connected",
        translation_key="wan_connected",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        # Routers that do not report ConnectionStatus leave it unknown.
        is_on_fn=lambda status: (
            status.connected if status.connection_status is not None else None
        ),
    ),
)

TUNNEL_REACHABLE = BinarySensorEntityDescription(
    key="tunnel_reachable",
    translation_key="tunnel_reachable",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
)

# Status says the same in words: for automations that want a problem sensor, off by default.
ENDPOINT_SYNC = BinarySensorEntityDescription(
    key="endpoint_sync",
    translation_key="endpoint_sync",
    device_class=BinarySensorDeviceClass.PROBLEM,
    entity_category=EntityCategory.DIAGNOSTIC,
    entity_registry_enabled_default=False,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: TunnelbrokerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the router's binary sensors, then each tunnel's under its subentry."""
    data = entry.runtime_data
    async_add_entities(
        RouterBinarySensor(data.router, description)
        for description in ROUTER_BINARY_SENSORS
    )
    for subentry_id, tunnel in data.tunnels.items():
        async_add_entities(
            [
                EndpointSyncBinarySensor(tunnel, ENDPOINT_SYNC),
                TunnelReachableBinarySensor(
                    tunnel, data.health[subentry_id], TUNNEL_REACHABLE
                ),
            ],
            config_subentry_id=subentry_id,
        )


class RouterBinarySensor(RouterEntity, BinarySensorEntity):
    """A yes/no the router reports."""

    entity_description: RouterBinarySensorEntityDescription

    @property
    def is_on(self) -> bool | None:
        """Return the value from the latest WAN status."""
        return self.entity_description.is_on_fn(self.coordinator.data)


class EndpointSyncBinarySensor(TunnelStatusEntity, BinarySensorEntity):
    """On (a problem) while HE's endpoint differs from the router's WAN address.

    A router address that cannot be an endpoint (behind another NAT, none) is a problem too:
    the tunnel cannot work.
    """

    @property
    def is_on(self) -> bool:
        """Return whether HE's endpoint is not the router's address."""
        return not self.coordinator.data.holds_address


class TunnelReachableBinarySensor(TunnelHealthEntity, BinarySensorEntity):
    """On while HE's tunnel server answers ICMPv6 echo through the tunnel."""

    @property
    def is_on(self) -> bool:
        """Return whether the last check was answered."""
        echo = self.echo
        return echo is not None and echo.outcome is EchoOutcome.ANSWERED
