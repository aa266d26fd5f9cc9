"""Base entities: the router device and the tunnel devices."""

from __future__ import annotations

from homeassistant.core import callback
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import TUNNEL_IDENTIFIER_PREFIX
from .coordinator import RouterCoordinator
from .devices import router_device_info, tunnel_device_info
from .tunnel_updater import TunnelUpdater


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
        self._attr_device_info = router_device_info(router)


class TunnelEntity(Entity):
    """An entity of a tunnel device, refreshed after every update attempt."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, tunnel: TunnelUpdater, description: EntityDescription) -> None:
        """Initialize for one tunnel."""
        self.tunnel = tunnel
        self.entity_description = description
        self._attr_unique_id = tunnel_unique_id(tunnel, description)
        self._attr_device_info = tunnel_device_info(tunnel)

    async def async_added_to_hass(self) -> None:
        """Follow the tunnel's update attempts."""
        await super().async_added_to_hass()
        self.async_on_remove(self.tunnel.async_add_listener(self._handle_tunnel_update))

    @callback
    def _handle_tunnel_update(self) -> None:
        """Write the new state after an update attempt."""
        self.async_write_ha_state()


class TunnelStatusEntity(TunnelEntity):
    """A tunnel entity that compares HE's endpoint with the router's address.

    It follows the router's reads as well as the tunnel's attempts, and is unavailable while
    the router's address is unknown.
    """

    async def async_added_to_hass(self) -> None:
        """Follow the router's address as well as the tunnel's updates."""
        await super().async_added_to_hass()
        self.async_on_remove(
            self.tunnel.router.async_add_listener(self.async_write_ha_state)
        )

    @property
    def available(self) -> bool:
        """Return whether the router's address is known."""
        router = self.tunnel.router
        return router.last_update_success and router.data is not None
