"""Event entities: one event per update attempt of a tunnel or a record — updated, unchanged, failed."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .address_updater import StatePublisher
from .entity import RecordEntity, TunnelEntity
from .protocol.dns_client import RecordType
from .protocol.he_client import UpdateAttempt, UpdateStatus
from .runtime_data import TunnelbrokerConfigEntry

PARALLEL_UPDATES = 0


class Outcome(StrEnum):
    """What an update attempt came to: the event types (translations/en.json names them)."""

    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


def outcome_of(attempt: UpdateAttempt) -> Outcome:
    """Return updated (HE's good), unchanged (nochg, or an address HE held), else failed."""
    if attempt.result.status is UpdateStatus.GOOD:
        return Outcome.UPDATED
    if attempt.result.status is UpdateStatus.NOCHG:
        return Outcome.UNCHANGED
    return Outcome.FAILED


ENDPOINT_UPDATE = EventEntityDescription(
    key="endpoint_update",
    translation_key="endpoint_update",
    event_types=[outcome.value for outcome in Outcome],
)


# A record's update attempts, per type it holds.
RECORD_UPDATE: dict[RecordType, EventEntityDescription] = {
    RecordType.A: EventEntityDescription(
        key="record_update",
        translation_key="record_update",
        event_types=[outcome.value for outcome in Outcome],
    ),
    RecordType.AAAA: EventEntityDescription(
        key="record_ipv6_update",
        translation_key="record_ipv6_update",
        event_types=[outcome.value for outcome in Outcome],
    ),
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: TunnelbrokerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each tunnel's and record's event entities under their subentries."""
    for subentry_id, tunnel in entry.runtime_data.tunnels.items():
        async_add_entities(
            [EndpointUpdateEvent(tunnel, ENDPOINT_UPDATE)],
            config_subentry_id=subentry_id,
        )
    for subentry_id, records in entry.runtime_data.records.items():
        async_add_entities(
            [
                RecordUpdateEvent(record, RECORD_UPDATE[record.record_type])
                for record in records
            ],
            config_subentry_id=subentry_id,
        )


class AttemptEvent(EventEntity):
    """Fires after every update attempt, with the address and HE's answer.

    Also "unchanged" when HE's tunnel information showed a tunnel's endpoint held already
    (then nothing was sent; records have no such information).
    """

    coordinator: StatePublisher[Any]
    _last_fired: UpdateAttempt | None = None

    async def async_added_to_hass(self) -> None:
        """Show the attempt the flow that added (or changed) it just made, if any."""
        await super().async_added_to_hass()
        if self.coordinator.data.last_attempt is not None:
            self._handle_coordinator_update()

    @callback
    def _handle_coordinator_update(self) -> None:
        """Turn an attempt just made into an event (other changes fire none)."""
        attempt = self.coordinator.data.last_attempt
        if attempt is None or attempt is self._last_fired:
            return
        self._last_fired = attempt
        self._trigger_event(
            outcome_of(attempt).value,
            {
                "ip": attempt.ip,
                "result": attempt.result.status.value,
                "message": attempt.result.message,
                "automatic": attempt.automatic,
            },
        )
        self.async_write_ha_state()


class EndpointUpdateEvent(AttemptEvent, TunnelEntity):
    """A tunnel's endpoint update attempts."""


class RecordUpdateEvent(AttemptEvent, RecordEntity):
    """A record's A (or AAAA) update attempts."""
