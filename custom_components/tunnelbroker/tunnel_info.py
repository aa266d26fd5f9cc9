"""Reads a tunnel's state from HE's tunnelInfo.php: its endpoint, server and routed addresses.

Whether HE accepts the update key there (rather than the account password) is not documented.
A refusal is therefore normal and harmless: it is logged once, the tunnel's information stays
empty, and HE is not asked again until the entry is reloaded. HE being unreachable is not a
refusal: the last information read is kept and HE is asked again at the next interval.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import DOMAIN, LOGGER, TUNNEL_INFO_INTERVAL
from .protocol.he_client import (
    TunnelbrokerClient,
    TunnelCredentials,
    TunnelInfo,
    TunnelInfoStatus,
)

# A read this recent is as good as a new one (start-up and an update due at start-up share one).
FRESH_FOR: Final = timedelta(minutes=1)


class TunnelInfoCoordinator(DataUpdateCoordinator[TunnelInfo | None]):
    """One tunnel's information at HE; None while unknown or refused."""

    config_entry: ConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        client: TunnelbrokerClient,
        credentials: TunnelCredentials,
    ) -> None:
        """Initialize for one tunnel."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} tunnel {credentials.tunnel_id} information",
            update_interval=TUNNEL_INFO_INTERVAL,
            always_update=False,
        )
        self._client = client
        self._credentials = credentials
        self.refused: str | None = None
        self._read_lock = asyncio.Lock()
        self._read_at: datetime | None = None
        # When the read that gave the data began (HE's answer to an update sent after it is
        # newer than the data).
        self.read_started_at: datetime | None = None

    @property
    def tunnel_id(self) -> str:
        """Return HE's tunnel id."""
        return self._credentials.tunnel_id

    async def async_fresh_data(
        self, *, newer_than: datetime | None = None
    ) -> TunnelInfo | None:
        """Return HE's information as of now (None if HE does not give it).

        Read unless a read finished within FRESH_FOR and began after `newer_than` (an update
        sent then: HE's information from before it may be older than HE's answer); a read
        under way is waited for, not doubled.
        """
        async with self._read_lock:
            started = self.read_started_at
            if (
                self._read_at is None
                or dt_util.utcnow() - self._read_at > FRESH_FOR
                or started is None
                or (newer_than is not None and started <= newer_than)
            ):
                await self.async_refresh()
        return self.data if self.last_update_success else None

    async def _async_update_data(self) -> TunnelInfo | None:
        if self.refused is not None:
            return None  # not again with the same credentials: HE said no
        started = dt_util.utcnow()
        result = await self._client.async_get_tunnel_info(self._credentials)
        self._read_at = dt_util.utcnow()
        if result.status is TunnelInfoStatus.UNAVAILABLE:
            # The coordinator keeps the last data and logs the failure once.
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="tunnel_info_unavailable",
                translation_placeholders={
                    "tunnel_id": self.tunnel_id,
                    "error": result.message,
                },
            )
        if result.status is TunnelInfoStatus.REFUSED:
            self.refused = result.message
            self.update_interval = None
            LOGGER.info(
                "Hurricane Electric did not give the information of tunnel %s (%s); "
                "its server and routed addresses stay unknown until the entry is reloaded",
                self.tunnel_id,
                result.message,
            )
            return None
        self.read_started_at = started
        return result.info
