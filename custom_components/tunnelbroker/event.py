"""Event entity: one event per endpoint update attempt — updated, unchanged or failed."""

from __future__ import annotations

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import TunnelEntity
from .protocol.he_client import Outcome, UpdateAttempt
from .runtime_data import TunnelbrokerConfigEntry

PARALLEL_UPDATES = 0

ENDPOINT_UPDATE = EventEntityDescription(
    key="endpoint_update",
    translation_key="endpoint_update",
    event_types=[outcome.value for outcome in Outcome],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: TunnelbrokerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each tunnel's event entity under its subentry."""
    for subentry_id, tunnel in entry.runtime_data.tunnels.items():
        async_add_entities(
            [EndpointUpdateEvent(tunnel, ENDPOINT_UPDATE)],
            config_subentry_id=subentry_id,
        )


class EndpointUpdateEvent(TunnelEntity, EventEntity):
    """Fires after every update attempt, with the address and HE's answer.

    Also "unchanged" when HE's tunnel information showed it held the address already (then
    nothing was sent).
    """

    _last_fired: UpdateAttempt | None = None

    async def async_added_to_hass(self) -> None:
        """Show the attempt the setup (or a reauth, a reconfigure) just made, if any."""
        await super().async_added_to_hass()
        if self.coordinator.data.last_attempt is not None:
            self._handle_coordinator_update()

    @callback
    def _handle_coordinator_update(self) -> None:
        """Turn an attempt just made into an event (other changes of the tunnel fire none)."""
        attempt = self.coordinator.data.last_attempt
        if attempt is None or attempt is self._last_fired:
            return
        self._last_fired = attempt
        self._trigger_event(
            attempt.outcome.value,
            {
                "ip": attempt.ip,
                "result": attempt.result.status.value,
                "message": attempt.result.message,
                "automatic": attempt.automatic,
            },
        )
        self.async_write_ha_state()
