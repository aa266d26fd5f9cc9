"""Button: send a tunnel's endpoint to HE now."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .entity import TunnelEntity
from .runtime_data import TunnelbrokerConfigEntry

# One request to HE at a time: pressing many buttons must not burst.
PARALLEL_UPDATES = 1

UPDATE_ENDPOINT = ButtonEntityDescription(
    key="update_endpoint", translation_key="update_endpoint"
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: TunnelbrokerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each tunnel's button under its subentry."""
    for subentry_id, tunnel in entry.runtime_data.tunnels.items():
        async_add_entities(
            [UpdateEndpointButton(tunnel, UPDATE_ENDPOINT)],
            config_subentry_id=subentry_id,
        )


class UpdateEndpointButton(TunnelEntity, ButtonEntity):
    """Sends the router's current address to HE, even if HE holds it already.

    For after a fix (firewall opened for HE's ping, tunnel recreated at HE). Not while HE's abuse
    block runs: that would prolong it (the `update_endpoint` action with `force` can); not
    within the minimum interval of the last update HE took in.
    """

    async def async_press(self) -> None:
        """Send the router's address; raise a translated error if HE did not take it."""
        ip = self.tunnel.router.usable_external_ip()
        self.tunnel.check_user_send()
        attempt = await self.tunnel.async_update(ip)
        if not attempt.result.success:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="update_failed",
                translation_placeholders={
                    "details": f"{self.tunnel.tunnel_id}: {attempt.describe()}"
                },
            )
