"""Base entities: the router device, the tunnel devices and the record devices."""

from __future__ import annotations

from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .address_updater import AddressState, StatePublisher
from .const import RECORD_IDENTIFIER_PREFIX, TUNNEL_IDENTIFIER_PREFIX
from .coordinator import RouterCoordinator
from .devices import record_device_info, router_device_info, tunnel_device_info
from .protocol.icmp_echo import EchoOutcome, EchoResult
from .record_updater import RecordUpdater
from .tunnel_health import TunnelHealth
from .tunnel_updater import TunnelStatePublisher, TunnelUpdater

# The outcomes that tell whether the tunnel carries IPv6.
VERDICTS = frozenset({EchoOutcome.ANSWERED, EchoOutcome.NO_ANSWER})


def tunnel_unique_id(tunnel: TunnelUpdater, description: EntityDescription) -> str:
    """Return the unique id of one of a tunnel's entities."""
    return f"{TUNNEL_IDENTIFIER_PREFIX}{tunnel.tunnel_id}_{description.key}"


class RouterEntity(CoordinatorEntity[RouterCoordinator]):
    """An entity of the router device, fed by the router's coordinator."""

    _attr_has_entity_name = True

    def __init__(
        self, router: RouterCoordinator, description: EntityDescription
    ) -> None:
        """Initialize for one router."""
        super().__init__(router)
        self.entity_description = description
        self._attr_unique_id = f"{router.udn}_{description.key}"
        self._attr_device_info = router_device_info(router.client.info)


class TunnelEntity(CoordinatorEntity[TunnelStatePublisher]):
    """An entity of a tunnel device, fed by the tunnel's one published state."""

    _attr_has_entity_name = True

    def __init__(self, tunnel: TunnelUpdater, description: EntityDescription) -> None:
        """Initialize for one tunnel."""
        super().__init__(tunnel.state_publisher)
        self.tunnel = tunnel
        self.entity_description = description
        self._attr_unique_id = tunnel_unique_id(tunnel, description)
        self._attr_device_info = tunnel_device_info(tunnel.subentry)


class TunnelStatusEntity(TunnelEntity):
    """A tunnel entity that compares HE's endpoint with the router's address.

    Unavailable while the router's address is unknown.
    """

    @property
    def available(self) -> bool:
        """Return whether the router's address is known."""
        return self.coordinator.data.address_known


class TunnelHealthEntity(CoordinatorEntity[TunnelHealth]):
    """An entity of a tunnel device, fed by the tunnel's health check."""

    _attr_has_entity_name = True

    def __init__(
        self,
        tunnel: TunnelUpdater,
        health: TunnelHealth,
        description: EntityDescription,
    ) -> None:
        """Initialize for one tunnel's check."""
        super().__init__(health)
        self.entity_description = description
        self._attr_unique_id = tunnel_unique_id(tunnel, description)
        self._attr_device_info = tunnel_device_info(tunnel.subentry)

    @property
    def echo(self) -> EchoResult | None:
        """Return the last check's result, if a check ran."""
        return self.coordinator.data if self.coordinator.last_update_success else None

    @property
    def available(self) -> bool:
        """Return whether the last check says anything about the tunnel.

        Without a target, without an IPv6 route from this host, or without ICMP sockets,
        the check says nothing: unavailable (diagnostics tell why), not a false problem.
        """
        echo = self.echo
        return echo is not None and echo.outcome in VERDICTS


class RecordEntity(CoordinatorEntity[StatePublisher[AddressState]]):
    """An entity of a record device, fed by one of its types' published state."""

    _attr_has_entity_name = True

    def __init__(self, record: RecordUpdater, description: EntityDescription) -> None:
        """Initialize for one type (A or AAAA) of a record."""
        super().__init__(record.state_publisher)
        self.record = record
        self.entity_description = description
        self._attr_unique_id = (
            f"{RECORD_IDENTIFIER_PREFIX}{record.hostname}_{description.key}"
        )
        self._attr_device_info = record_device_info(record.subentry)
