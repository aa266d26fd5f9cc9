"""What HE holds for each tunnel, and what must not be forgotten about updating it.

A restart (or a reload) must not send an update that is not needed, nor one HE refused, nor cut
a wait short. So, per tunnel, saved at once on every change:
- the endpoint last confirmed by HE (good/nochg), advanced only on success;
- the hold after an outage or an `abuse` block: the pending update goes out when it ends;
- the refusal (badauth, nohost, badip, ICMP) and the address it was for: not sent again;
- when HE last answered an update: the minimum interval between updates counts from it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypedDict

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .protocol.he_client import UpdateAttempt
from .protocol.update_policy import Hold, Refusal
from .repair_issues import async_clear_tunnel_issues

STORAGE_KEY = f"{DOMAIN}.endpoints"
STORAGE_VERSION = 1
DATA_ENDPOINT_STORE: HassKey[EndpointStore] = HassKey(f"{DOMAIN}_endpoint_store")


class _StoredHold(TypedDict):
    until: str
    failures: int
    abuse_blocks: int
    abuse: bool


class _StoredRefusal(TypedDict):
    ip: str
    status: str


class _StoredTunnel(TypedDict, total=False):
    endpoint: str
    updated_at: str
    hold: _StoredHold
    refusal: _StoredRefusal
    answered_at: str


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """The endpoint HE confirmed for one tunnel, and when."""

    endpoint: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class _Memory:
    record: EndpointRecord | None = None
    hold: Hold | None = None
    refusal: Refusal | None = None
    answered_at: datetime | None = None


_EMPTY = _Memory()


class EndpointStore:
    """Tunnel id -> what is remembered about updating it, saved at once on every change."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Create the store; async_load() reads it."""
        self._store: Store[dict[str, _StoredTunnel]] = Store(
            hass, STORAGE_VERSION, STORAGE_KEY, private=True
        )
        self._tunnels: dict[str, _Memory] = {}
        # A flow's update (setup, reauth, reconfigure), until the reload after it shows it.
        self._flow_attempts: dict[str, UpdateAttempt] = {}
        self._loaded = False
        self._load_lock = asyncio.Lock()

    async def async_load(self) -> None:
        """Read what was saved, once (a missing or damaged part is skipped)."""
        async with self._load_lock:
            if not self._loaded:
                self._read(await self._store.async_load() or {})
                self._loaded = True

    def _read(self, stored: dict[str, Any]) -> None:
        for tunnel_id, item in stored.items():
            memory = _Memory(
                record=_read_record(item),
                hold=_read_hold(item),
                refusal=_read_refusal(item),
                answered_at=_read_time(item, "answered_at"),
            )
            if memory != _EMPTY:
                self._tunnels[tunnel_id] = memory

    def _get(self, tunnel_id: str) -> _Memory:
        return self._tunnels.get(tunnel_id, _EMPTY)

    async def _async_change(self, tunnel_id: str, **changes: Any) -> None:
        memory = replace(self._get(tunnel_id), **changes)
        if memory == self._get(tunnel_id):
            return
        if memory == _EMPTY:
            del self._tunnels[tunnel_id]
        else:
            self._tunnels[tunnel_id] = memory
        await self._async_save()

    def note_flow_attempt(self, tunnel_id: str, attempt: UpdateAttempt) -> None:
        """Keep a flow's update for the tunnel's updater (in memory only)."""
        self._flow_attempts[tunnel_id] = attempt

    def pop_flow_attempt(self, tunnel_id: str) -> UpdateAttempt | None:
        """Return (once) the update a flow just made for the tunnel, if any."""
        return self._flow_attempts.pop(tunnel_id, None)

    def get(self, tunnel_id: str) -> EndpointRecord | None:
        """Return what HE holds for the tunnel, as far as we know."""
        return self._get(tunnel_id).record

    def holds(self, tunnel_id: str, address: str | None) -> bool:
        """Return whether HE holds `address` for the tunnel, as far as we know."""
        record = self.get(tunnel_id)
        return address is not None and record is not None and record.endpoint == address

    async def async_set(self, tunnel_id: str, endpoint: str, when: datetime) -> None:
        """Remember that HE holds `endpoint`: any hold or refusal is over."""
        await self._async_change(
            tunnel_id, record=EndpointRecord(endpoint, when), hold=None, refusal=None
        )

    async def async_adopt(self, tunnel_id: str, endpoint: str, when: datetime) -> None:
        """Take HE's word for the endpoint it holds; a hold or refusal still stands."""
        await self._async_change(tunnel_id, record=EndpointRecord(endpoint, when))

    def get_hold(self, tunnel_id: str) -> Hold | None:
        """Return how long automatic updates of the tunnel wait, if they do."""
        return self._get(tunnel_id).hold

    async def async_set_hold(self, tunnel_id: str, hold: Hold | None) -> None:
        """Remember the tunnel's hold (None: updates may go out at once)."""
        await self._async_change(tunnel_id, hold=hold)

    def get_refusal(self, tunnel_id: str) -> Refusal | None:
        """Return the refusal that stands for the tunnel, if any."""
        return self._get(tunnel_id).refusal

    async def async_set_refusal(self, tunnel_id: str, refusal: Refusal | None) -> None:
        """Remember HE's refusal (None: nothing stands)."""
        await self._async_change(tunnel_id, refusal=refusal)

    def get_answered_at(self, tunnel_id: str) -> datetime | None:
        """Return when HE last answered an update of the tunnel."""
        return self._get(tunnel_id).answered_at

    async def async_set_answered_at(self, tunnel_id: str, when: datetime) -> None:
        """Remember when HE answered an update of the tunnel."""
        await self._async_change(tunnel_id, answered_at=when)

    async def async_forget(self, tunnel_ids: set[str]) -> None:
        """Drop everything remembered about removed tunnels."""
        if tunnel_ids & self._tunnels.keys():
            for tunnel_id in tunnel_ids:
                self._tunnels.pop(tunnel_id, None)
            await self._async_save()

    async def _async_save(self) -> None:
        await self._store.async_save(
            {tunnel_id: _stored(memory) for tunnel_id, memory in self._tunnels.items()}
        )


def _stored(memory: _Memory) -> _StoredTunnel:
    stored: _StoredTunnel = {}
    if (record := memory.record) is not None:
        stored["endpoint"] = record.endpoint
        stored["updated_at"] = record.updated_at.isoformat()
    if (hold := memory.hold) is not None:
        stored["hold"] = {
            "until": hold.until.isoformat(),
            "failures": hold.failures,
            "abuse_blocks": hold.abuse_blocks,
            "abuse": hold.abuse,
        }
    if (refusal := memory.refusal) is not None:
        stored["refusal"] = {"ip": refusal.ip, "status": refusal.status}
    if memory.answered_at is not None:
        stored["answered_at"] = memory.answered_at.isoformat()
    return stored


def _read_time(item: Any, key: str) -> datetime | None:
    try:
        when = dt_util.parse_datetime(item[key])
    except (KeyError, TypeError, ValueError):
        return None
    return when if when is not None and when.tzinfo is not None else None


def _read_record(item: Any) -> EndpointRecord | None:
    updated_at = _read_time(item, "updated_at")
    try:
        endpoint = str(item["endpoint"])
    except (KeyError, TypeError):
        return None
    return None if updated_at is None else EndpointRecord(endpoint, updated_at)


def _read_hold(item: Any) -> Hold | None:
    try:
        stored = item["hold"]
        until = _read_time(stored, "until")
        failures = int(stored["failures"])
        abuse_blocks = int(stored["abuse_blocks"])
        abuse = bool(stored.get("abuse", abuse_blocks > 0))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if until is None:
        return None
    return Hold(until=until, failures=failures, abuse_blocks=abuse_blocks, abuse=abuse)


def _read_refusal(item: Any) -> Refusal | None:
    try:
        stored = item["refusal"]
        return Refusal(ip=str(stored["ip"]), status=str(stored["status"]))
    except (KeyError, TypeError):
        return None


async def async_get_endpoint_store(hass: HomeAssistant) -> EndpointStore:
    """Return the one store of this Home Assistant, loaded on first use."""
    if (store := hass.data.get(DATA_ENDPOINT_STORE)) is None:
        store = hass.data[DATA_ENDPOINT_STORE] = EndpointStore(hass)
    await store.async_load()
    return store


async def async_endpoint_confirmed(
    hass: HomeAssistant, store: EndpointStore, tunnel_id: str, ip: str, when: datetime
) -> None:
    """HE holds `ip` for the tunnel: remember it; any wait, refusal or repair issue is over."""
    await store.async_set(tunnel_id, ip, when)
    async_clear_tunnel_issues(hass, tunnel_id)
