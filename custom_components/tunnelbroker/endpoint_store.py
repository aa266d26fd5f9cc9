"""What HE holds for each tunnel, remembered across Home Assistant restarts.

A restart must not send an update: the endpoint last confirmed by HE (good/nochg) is stored and
compared with the router's address before anything is sent. It is advanced only on success.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN

STORAGE_KEY = f"{DOMAIN}.endpoints"
STORAGE_VERSION = 1
DATA_ENDPOINT_STORE: HassKey[EndpointStore] = HassKey(f"{DOMAIN}_endpoint_store")


class _StoredEndpoint(TypedDict):
    endpoint: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """The endpoint HE confirmed for one tunnel, and when."""

    endpoint: str
    updated_at: datetime


class EndpointStore:
    """Tunnel id -> the endpoint HE holds, saved at once on every change."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Create the store; async_load() reads it."""
        self._store: Store[dict[str, _StoredEndpoint]] = Store(
            hass, STORAGE_VERSION, STORAGE_KEY, private=True
        )
        self._records: dict[str, EndpointRecord] = {}
        self._loaded = False
        self._load_lock = asyncio.Lock()

    async def async_load(self) -> None:
        """Read the saved records once (a missing or damaged record is skipped)."""
        async with self._load_lock:
            if not self._loaded:
                self._read(await self._store.async_load() or {})
                self._loaded = True

    def _read(self, stored: dict[str, Any]) -> None:
        for tunnel_id, item in stored.items():
            try:
                updated_at = dt_util.parse_datetime(item["updated_at"])
                endpoint = str(item["endpoint"])
            except (KeyError, TypeError, ValueError):
                continue
            if updated_at is not None:
                self._records[tunnel_id] = EndpointRecord(endpoint, updated_at)

    def get(self, tunnel_id: str) -> EndpointRecord | None:
        """Return what HE holds for the tunnel, as far as we know."""
        return self._records.get(tunnel_id)

    async def async_set(
        self, tunnel_id: str, endpoint: str, when: datetime
    ) -> EndpointRecord:
        """Remember that HE confirmed `endpoint` for the tunnel."""
        record = EndpointRecord(endpoint, when)
        self._records[tunnel_id] = record
        await self._async_save()
        return record

    async def async_forget(self, tunnel_ids: set[str]) -> None:
        """Drop the records of removed tunnels."""
        if tunnel_ids & self._records.keys():
            for tunnel_id in tunnel_ids:
                self._records.pop(tunnel_id, None)
            await self._async_save()

    async def _async_save(self) -> None:
        await self._store.async_save(
            {
                tunnel_id: {
                    "endpoint": record.endpoint,
                    "updated_at": record.updated_at.isoformat(),
                }
                for tunnel_id, record in self._records.items()
            }
        )


async def async_get_endpoint_store(hass: HomeAssistant) -> EndpointStore:
    """Return the one store of this Home Assistant, loaded on first use."""
    if (store := hass.data.get(DATA_ENDPOINT_STORE)) is None:
        store = hass.data[DATA_ENDPOINT_STORE] = EndpointStore(hass)
    await store.async_load()
    return store
