"""Sensors: the router's WAN address; each tunnel's endpoint, status, addresses; each record's.

A record's: its status and the address it points at (its A's, and its AAAA's if it has one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .address_updater import AddressState
from .coordinator import RouterCoordinator
from .entity import (
    RecordEntity,
    RouterEntity,
    TunnelEntity,
    TunnelHealthEntity,
    TunnelStatusEntity,
)
from .protocol.dns_client import RecordType
from .protocol.he_client import TunnelInfo
from .protocol.igd_client import WanStatus
from .protocol.update_policy import EndpointStatus
from .router_events import EventsState, RouterEvents
from .runtime_data import TunnelbrokerConfigEntry
from .tunnel_updater import TunnelState

# Entities only read what the coordinator/updater already hold.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class RouterSensorEntityDescription(SensorEntityDescription):
    """A router sensor and how its value is read from the WAN status."""

    value_fn: Callable[[WanStatus], str | None]


@dataclass(frozen=True, kw_only=True)
class TunnelSensorEntityDescription(SensorEntityDescription):
    """A tunnel sensor and how its value is read from the tunnel's state."""

    value_fn: Callable[[TunnelState], str | datetime | None]


@dataclass(frozen=True, kw_only=True)
class TunnelInfoSensorEntityDescription(SensorEntityDescription):
    """A tunnel sensor and how its value is read from HE's tunnel information."""

    value_fn: Callable[[TunnelInfo], str | None]


ROUTER_SENSORS: tuple[RouterSensorEntityDescription, ...] = (
    RouterSensorEntityDescription(
        key="external_ip",
        translation_key="external_ip",
        value_fn=lambda status: status.external_ip,
    ),
)

# Whether the router's events arrive, or it is polled instead (and why).
ROUTER_EVENTS_SENSOR = SensorEntityDescription(
    key="events",
    translation_key="events",
    device_class=SensorDeviceClass.ENUM,
    entity_category=EntityCategory.DIAGNOSTIC,
    options=[state.value for state in EventsState],
)

TUNNEL_SENSORS: tuple[TunnelSensorEntityDescription, ...] = (
    TunnelSensorEntityDescription(
        key="endpoint",
        translation_key="endpoint",
        value_fn=lambda state: state.record.endpoint if state.record else None,
    ),
    TunnelSensorEntityDescription(
        key="last_update",
        translation_key="last_update",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda state: state.record.updated_at if state.record else None,
    ),
)


# Where the endpoint stands against the router's address (unavailable while it is unknown).
TUNNEL_STATUS_SENSORS: tuple[TunnelSensorEntityDescription, ...] = (
    TunnelSensorEntityDescription(
        key="endpoint_status",
        translation_key="endpoint_status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in EndpointStatus],
        value_fn=lambda state: state.status.value if state.status else None,
    ),
    TunnelSensorEntityDescription(
        key="next_attempt",
        translation_key="next_attempt",
        device_class=SensorDeviceClass.TIMESTAMP,
        # Beside Status, which it completes ("Waiting for the rate limit" until when).
        value_fn=lambda state: state.next_attempt,
    ),
)


def _tunnel_link_address(value: str | None) -> str | None:
    """Return an address of the tunnel's own link without its /64 (the same for every tunnel).

    Shorter, so that its name is not cut off beside it on the device page.
    """
    return None if value is None else value.split("/", 1)[0]


@dataclass(frozen=True, kw_only=True)
class RecordSensorEntityDescription(SensorEntityDescription):
    """A record sensor and how its value is read from its type's state."""

    value_fn: Callable[[AddressState], str | None]
    # Unavailable while the address to send is unknown (the router does not answer).
    needs_address: bool = False


def _record_sensors(prefix: str) -> tuple[RecordSensorEntityDescription, ...]:
    return (
        RecordSensorEntityDescription(
            key=f"{prefix}status",
            translation_key=f"{prefix}status",
            device_class=SensorDeviceClass.ENUM,
            options=[status.value for status in EndpointStatus],
            value_fn=lambda state: state.status.value if state.status else None,
            needs_address=True,
        ),
        RecordSensorEntityDescription(
            key=f"{prefix}address",
            translation_key=f"{prefix}address",
            value_fn=lambda state: state.record.endpoint if state.record else None,
        ),
    )


# Per type a record holds: where it stands, and the address HE confirmed it points at.
RECORD_SENSORS: dict[RecordType, tuple[RecordSensorEntityDescription, ...]] = {
    RecordType.A: _record_sensors("record_"),
    RecordType.AAAA: _record_sensors("record_ipv6_"),
}


# The round trip of the last answered echo through the tunnel.
TUNNEL_ROUND_TRIP = SensorEntityDescription(
    key="tunnel_round_trip",
    translation_key="tunnel_round_trip",
    device_class=SensorDeviceClass.DURATION,
    native_unit_of_measurement=UnitOfTime.MILLISECONDS,
    state_class=SensorStateClass.MEASUREMENT,
    suggested_display_precision=1,
    entity_category=EntityCategory.DIAGNOSTIC,
)

# What HE reports about the tunnel (tunnelInfo.php): for the user's own network setup.
TUNNEL_INFO_SENSORS: tuple[TunnelInfoSensorEntityDescription, ...] = (
    TunnelInfoSensorEntityDescription(
        key="server_ipv4",
        translation_key="server_ipv4",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda info: info.server_v4,
    ),
    TunnelInfoSensorEntityDescription(
        key="server_ipv6",
        translation_key="server_ipv6",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda info: _tunnel_link_address(info.server_v6),
    ),
    TunnelInfoSensorEntityDescription(
        key="client_ipv6",
        translation_key="client_ipv6",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda info: _tunnel_link_address(info.client_v6),
    ),
    TunnelInfoSensorEntityDescription(
        key="routed_prefix_64",
        translation_key="routed_prefix_64",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda info: info.routed_64,
    ),
    # HE allocates a /48 only on request: most tunnels have none.
    TunnelInfoSensorEntityDescription(
        key="routed_prefix_48",
        translation_key="routed_prefix_48",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda info: info.routed_48,
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
        [
            *(RouterSensor(data.router, description) for description in ROUTER_SENSORS),
            RouterEventsSensor(data.router, data.events, ROUTER_EVENTS_SENSOR),
        ]
    )
    for subentry_id, tunnel in data.tunnels.items():
        async_add_entities(
            [
                *(TunnelSensor(tunnel, description) for description in TUNNEL_SENSORS),
                *(
                    TunnelStatusSensor(tunnel, description)
                    for description in TUNNEL_STATUS_SENSORS
                ),
                *(
                    TunnelInfoSensor(tunnel, description)
                    for description in TUNNEL_INFO_SENSORS
                ),
                TunnelRoundTripSensor(
                    tunnel, data.health[subentry_id], TUNNEL_ROUND_TRIP
                ),
            ],
            config_subentry_id=subentry_id,
        )
    for subentry_id, records in data.records.items():
        async_add_entities(
            [
                RecordSensor(record, description)
                for record in records
                for description in RECORD_SENSORS[record.record_type]
            ],
            config_subentry_id=subentry_id,
        )


class RouterSensor(RouterEntity, SensorEntity):
    """A value the router reports."""

    entity_description: RouterSensorEntityDescription

    @property
    def native_value(self) -> str | None:
        """Return the value from the latest WAN status."""
        return self.entity_description.value_fn(self.coordinator.data)


class RouterEventsSensor(RouterEntity, SensorEntity):
    """Whether the router's events reach Home Assistant; polling says why not."""

    def __init__(
        self,
        router: RouterCoordinator,
        events: RouterEvents,
        description: SensorEntityDescription,
    ) -> None:
        """Initialize for one router's subscription."""
        super().__init__(router, description)
        self._events = events

    async def async_added_to_hass(self) -> None:
        """Follow the subscription's state as well as the router's reads."""
        await super().async_added_to_hass()
        self.async_on_remove(self._events.async_add_listener(self.async_write_ha_state))

    @property
    def available(self) -> bool:
        """Return True: the state of the events is known whether or not reads work."""
        return True

    @property
    def native_value(self) -> str:
        """Return the subscription's state."""
        return self._events.state.value


class TunnelSensor(TunnelEntity, SensorEntity):
    """A value about a tunnel at HE."""

    entity_description: TunnelSensorEntityDescription

    @property
    def native_value(self) -> str | datetime | None:
        """Return the value from the tunnel's state."""
        return self.entity_description.value_fn(self.coordinator.data)


class TunnelStatusSensor(TunnelStatusEntity, TunnelSensor):
    """A tunnel's standing against the router's address: unavailable while it is unknown."""


class TunnelInfoSensor(TunnelEntity, SensorEntity):
    """An address of a tunnel as HE reports it; unavailable while HE gave no information."""

    entity_description: TunnelInfoSensorEntityDescription

    @property
    def available(self) -> bool:
        """Return whether HE's information is known.

        HE being unreachable for a while keeps the last information: the addresses rarely change.
        """
        return self.coordinator.data.info is not None

    @property
    def native_value(self) -> str | None:
        """Return the value from HE's information."""
        info = self.coordinator.data.info
        return self.entity_description.value_fn(info) if info is not None else None


class TunnelRoundTripSensor(TunnelHealthEntity, SensorEntity):
    """The round trip of the last answered echo through the tunnel (ms)."""

    @property
    def available(self) -> bool:
        """Return whether the last check was answered (a round trip to show)."""
        echo = self.echo
        return echo is not None and echo.rtt_ms is not None

    @property
    def native_value(self) -> float | None:
        """Return the mean round trip of the answered echoes."""
        echo = self.echo
        return echo.rtt_ms if echo is not None else None


class RecordSensor(RecordEntity, SensorEntity):
    """A value about a record's A or AAAA at dns.he.net."""

    entity_description: RecordSensorEntityDescription

    @property
    def available(self) -> bool:
        """Return whether the value can be known (Status needs the address to send)."""
        return super().available and (
            self.coordinator.data.address_known
            or not self.entity_description.needs_address
        )

    @property
    def native_value(self) -> str | None:
        """Return the value from the record's state."""
        return self.entity_description.value_fn(self.coordinator.data)
