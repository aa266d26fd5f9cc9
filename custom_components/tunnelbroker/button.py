"""Buttons: send a tunnel's endpoint (or a record's address) to HE now; check a tunnel now."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .address_updater import async_request_together, update_failed_error
from .const import DOMAIN
from .entity import RecordEntity, TunnelEntity, TunnelHealthEntity
from .protocol.icmp_echo import EchoOutcome
from .protocol.update_policy import Caller
from .record_updater import RecordUpdater
from .runtime_data import TunnelbrokerConfigEntry

# One press at a time, whichever button: presses do not burst HE.
PARALLEL_UPDATES = 1

UPDATE_ENDPOINT = ButtonEntityDescription(
    key="update_endpoint", translation_key="update_endpoint"
)
CHECK_TUNNEL = ButtonEntityDescription(
    key="check_tunnel", translation_key="check_tunnel"
)
UPDATE_RECORD = ButtonEntityDescription(
    key="update_record", translation_key="update_record"
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: TunnelbrokerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each tunnel's and record's buttons under their subentries."""
    data = entry.runtime_data
    for subentry_id, tunnel in data.tunnels.items():
        async_add_entities(
            [
                UpdateEndpointButton(tunnel, UPDATE_ENDPOINT),
                CheckTunnelButton(tunnel, data.health[subentry_id], CHECK_TUNNEL),
            ],
            config_subentry_id=subentry_id,
        )
    for subentry_id, records in data.records.items():
        async_add_entities(
            [UpdateRecordButton(records, UPDATE_RECORD)],
            config_subentry_id=subentry_id,
        )


class UpdateEndpointButton(TunnelEntity, ButtonEntity):
    """Sends the router's address to HE now, even if HE holds it (for after a fix at HE).

    Refused, with the reason, when the router's address cannot be sent, while HE's abuse block
    runs, within the minimum interval, or with an update key HE refused.
    """

    async def async_press(self) -> None:
        """Send the router's address; raise a translated error if refused or not taken."""
        answers = await async_request_together([self.tunnel], Caller.BUTTON)
        if (error := update_failed_error(answers)) is not None:
            raise error


class UpdateRecordButton(RecordEntity, ButtonEntity):
    """Sends the record's addresses now: its A (the router's), its AAAA; each its own request.

    Refused as the tunnel's button is, for the same reasons; all of it or nothing.
    """

    def __init__(
        self,
        records: tuple[RecordUpdater, ...],
        description: ButtonEntityDescription,
    ) -> None:
        """Initialize for every type of one record (the A's state makes it available)."""
        super().__init__(records[0], description)
        self._records = records

    async def async_press(self) -> None:
        """Send each address; raise a translated error if refused or not taken."""
        answers = await async_request_together(self._records, Caller.BUTTON)
        if (error := update_failed_error(answers)) is not None:
            raise error


class CheckTunnelButton(TunnelHealthEntity, ButtonEntity):
    """Runs the tunnel's echo check now; its health entities show the answer."""

    @property
    def available(self) -> bool:
        """Return True: a check can always be asked for (it says why it cannot run)."""
        return True

    async def async_press(self) -> None:
        """Run the check; raise a translated error when it could say nothing."""
        await self.coordinator.async_refresh()
        echo = self.coordinator.data
        if echo is None:
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="health_no_target"
            )
        if echo.outcome in (EchoOutcome.NO_ROUTE, EchoOutcome.NOT_PERMITTED):
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="health_no_route"
                if echo.outcome is EchoOutcome.NO_ROUTE
                else "health_not_permitted",
                translation_placeholders={
                    "target": echo.target,
                    "detail": echo.detail or "-",
                },
            )
