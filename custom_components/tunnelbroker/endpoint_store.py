"""What HE holds for each tunnel, and how long to wait, remembered across restarts.

A restart must not send an update: the endpoint last confirmed by HE (good/nochg) is stored and
compared with the router's address before anything is sent. It is advanced only on success.
A restart must not cut a wait short either: the hold after a failure or an `abuse` block is
stored too, so the pending update is sent when the wait ends, not at start-up.
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
from .update_policy import Hold

STORAGE_KEY = f"{DOMAIN}.endpoints"
STORAGE_VERSION = 1
DATA_ENDPOINT_STORE: HassKey[EndpointStore] = HassKey(f"{DOMAIN}_endpoint_store")


class _StoredHold(TypedDict):
    until: str
    failures: int
    abuse_blocks: int


class _StoredTunnel(TypedDict, total=False):
    endpoint: str
    updated_at: str
    hold: _StoredHold


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """The endpoint HE confirmed for one tunnel, and when."""

    endpoint: str
    updated_at: datetime


class EndpointStore:
    """Tunnel id -> the endpoint HE holds and the current hold, saved at once on every change."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Create the store; async_load() reads it."""
        self._store: Store[dict[str, _StoredTunnel]] = Store(
            hass, STORAGE_VERSION, STORAGE_KEY, private=True
        )
        self._records: dict[str, EndpointRecord] = {}
        self._holds: dict[str, Hold] = {}
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
            if (record := _read_record(item)) is not None:
                self._records[tunnel_id] = record
            if (hold := _read_hold(item)) is not None:
                self._holds[tunnel_id] = hold

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

    def get_hold(self, tunnel_id: str) -> Hold | None:
        """Return how long automatic updates of the tunnel wait, if they do."""
        return self._holds.get(tunnel_id)

    async def async_set_hold(self, tunnel_id: str, hold: Hold | None) -> None:
        """Remember the tunnel's hold (None: updates may go out at once)."""
        if self._holds.get(tunnel_id) == hold:
            return
        if hold is None:
            del self._holds[tunnel_id]
        else:
            self._holds[tunnel_id] = hold
        await self._async_save()

    async def async_forget(self, tunnel_ids: set[str]) -> None:
        """Drop everything remembered about removed tunnels."""
        if tunnel_ids & (self._records.keys() | self._holds.keys()):
            for tunnel_id in tunnel_ids:
                self._records.pop(tunnel_id, None)
                self._holds.pop(tunnel_id, None)
            await self._async_save()

    async def _async_save(self) -> None:
        stored: dict[str, _StoredTunnel] = {}
        for tunnel_id, record in self._records.items():
            stored[tunnel_id] = {
                "endpoint": record.endpoint,
                "updated_at": record.updated_at.isoformat(),
            }
        for tunnel_id, hold in self._holds.items():
            stored.setdefault(tunnel_id, {})["hold"] = {
                "until": hold.until.isoformat(),
                "failures": hold.failures,
                "abuse_blocks": hold.abuse_blocks,
            }
        await self._store.async_save(stored)


def _read_record(item: Any) -> EndpointRecord | None:
    try:
        updated_at = dt_util.parse_datetime(item["updated_at"])
        endpoint = str(item["endpoint"])
    except (KeyError, TypeError, ValueError):
        return None
    return None if updated_at is None else EndpointRecord(endpoint, updated_at)


def _read_hold(item: Any) -> Hold | None:
    try:
        stored = item["hold"]
        until = dt_util.parse_datetime(stored["until"])
        failures = int(stored["failures"])
        abuse_blocks = int(stored["abuse_blocks"])
    except (KeyError, TypeError, ValueError):
        return None
    if until is None or until.tzinfo is None:
        return None
    return Hold(until=until, failures=failures, abuse_blocks=abuse_blocks)


async def async_get_endpoint_store(hass: HomeAssistant) -> EndpointStore:
    """Return the one store of this Home Assistant, loaded on first use."""
    if (store := hass.data.get(DATA_ENDPOINT_STORE)) is None:
        store = hass.data[DATA_ENDPOINT_STORE] = EndpointStore(hass)
    await store.async_load()
    return store
