"""What HE holds for each tunnel, and what must not be forgotten about updating it.

A restart (or a reload) must not send an update that is not needed, nor one HE refused, nor cut
a wait short, nor take an address for held when its answer was lost. So, per tunnel, saved at
once on every change:
- the endpoint last confirmed by HE (an answer, or its tunnel information);
- the address of a request whose answer is outstanding or was lost (`unsettled`): written
  before the request goes out, so that an unload, a crash or a lost reply leaves the endpoint
  unconfirmed rather than wrong;
- the backoff after a failure or an `abuse` block: the pending update goes out when it ends;
- the refusal (badauth, nohost, badip, ICMP) and the address it was for: not sent again;
- when a request last reached HE (or may have): the minimum interval counts from it.

A store this version cannot read (saved by a newer version, or damaged) keeps what it can read,
starts clean otherwise, and says so in the log and in Repairs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime
import inspect
from typing import Any, TypedDict

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, LOGGER
from .protocol.he_client import REFUSALS, UpdateStatus
from .protocol.update_policy import Backoff, Refusal
from .repair_issues import StoreIssue, async_raise_store_issue

STORAGE_KEY = f"{DOMAIN}.endpoints"
STORAGE_VERSION = 1
DATA_ENDPOINT_STORE: HassKey[EndpointStore] = HassKey(f"{DOMAIN}_endpoint_store")
# Any version a newer release may have saved is read as far as this one understands it.
_ANY_VERSION = 2**31


class _StoredBackoff(TypedDict):
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
    unsettled: str
    backoff: _StoredBackoff
    refusal: _StoredRefusal
    sent_at: str


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """The endpoint HE confirmed for one tunnel, and when."""

    endpoint: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class TunnelMemory:
    """Everything remembered about updating one tunnel."""

    record: EndpointRecord | None = None
    unsettled: str | None = None  # sent, and HE's answer is outstanding or was lost
    backoff: Backoff | None = None
    refusal: Refusal | None = None
    sent_at: datetime | None = None

    @property
    def confirmed(self) -> bool:
        """Return whether HE's last word on the endpoint stands."""
        return self.unsettled is None

    def holds(self, address: str | None) -> bool:
        """Return whether HE is known to hold `address`."""
        return (
            address is not None
            and self.confirmed
            and self.record is not None
            and self.record.endpoint == address
        )


_EMPTY = TunnelMemory()


class _EndpointsStore(Store[dict[str, Any]]):
    """HA's Store, reading a newer version's data as far as it goes instead of failing.

    Home Assistant 2026.2 hands any other version to the migration below; newer releases
    refuse a newer major version unless the store says how new it may read
    (`max_readable_version`, given where it exists).
    """

    newer: bool = False

    def __init__(self, hass: HomeAssistant) -> None:
        """Create the store of the remembered endpoints."""
        forward: dict[str, Any] = {}
        if "max_readable_version" in inspect.signature(Store.__init__).parameters:
            forward["max_readable_version"] = _ANY_VERSION
        super().__init__(hass, STORAGE_VERSION, STORAGE_KEY, private=True, **forward)

    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: Any
    ) -> dict[str, Any]:
        if old_major_version > STORAGE_VERSION:
            self.newer = True
        return old_data if isinstance(old_data, dict) else {}


class EndpointStore:
    """Tunnel id -> what is remembered about updating it, saved at once on every change."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Create the store; async_load() reads it."""
        self._hass = hass
        self._store = _EndpointsStore(hass)
        self._tunnels: dict[str, TunnelMemory] = {}
        self._loaded = False
        self._load_lock = asyncio.Lock()

    async def async_load(self) -> None:
        """Read what was saved, once (a damaged part is skipped, and that is said)."""
        async with self._load_lock:
            if self._loaded:
                return
            self._loaded = True
            try:
                stored: Any = await self._store.async_load()
            except (HomeAssistantError, KeyError, TypeError, ValueError) as err:
                self._say(StoreIssue.DAMAGED, f"{type(err).__name__}: {err}")
                return
            if stored is not None and not isinstance(stored, dict):
                self._say(StoreIssue.DAMAGED, f"not a mapping: {type(stored).__name__}")
                return
            self._read(stored or {})
            if self._store.newer:
                self._say(StoreIssue.NEWER, "saved by a newer version")

    def _say(self, issue: StoreIssue, detail: str) -> None:
        LOGGER.warning(
            "The remembered tunnel endpoints (.storage/%s) could not be read whole (%s);"
            " what could not be read is forgotten, and HE is asked again",
            STORAGE_KEY,
            detail,
        )
        async_raise_store_issue(self._hass, issue)

    def _read(self, stored: dict[str, Any]) -> None:
        for tunnel_id, item in stored.items():
            memory = TunnelMemory(
                record=_read_record(item),
                unsettled=_read_text(item, "unsettled"),
                backoff=_read_backoff(item),
                refusal=_read_refusal(item),
                sent_at=_read_time(item, "sent_at") or _read_time(item, "answered_at"),
            )
            if memory != _EMPTY:
                self._tunnels[str(tunnel_id)] = memory

    def memory(self, tunnel_id: str) -> TunnelMemory:
        """Return what is remembered about the tunnel."""
        return self._tunnels.get(tunnel_id, _EMPTY)

    def get(self, tunnel_id: str) -> EndpointRecord | None:
        """Return the endpoint HE last confirmed for the tunnel."""
        return self.memory(tunnel_id).record

    def holds(self, tunnel_id: str, address: str | None) -> bool:
        """Return whether HE is known to hold `address` for the tunnel."""
        return self.memory(tunnel_id).holds(address)

    def get_refusal(self, tunnel_id: str) -> Refusal | None:
        """Return the refusal that stands for the tunnel, if any."""
        return self.memory(tunnel_id).refusal

    async def async_sending(self, tunnel_id: str, ip: str, when: datetime) -> None:
        """Note that a request for `ip` is about to reach HE: unconfirmed until it answers."""
        await self._async_change(tunnel_id, unsettled=ip, sent_at=when)

    async def async_confirmed(self, tunnel_id: str, ip: str, when: datetime) -> None:
        """HE holds `ip` (its answer): any backoff or refusal is over."""
        await self._async_change(
            tunnel_id,
            record=EndpointRecord(ip, when),
            unsettled=None,
            backoff=None,
            refusal=None,
        )

    async def async_adopt(self, tunnel_id: str, ip: str, when: datetime) -> None:
        """HE's tunnel information says it holds `ip`; a backoff or refusal still stands."""
        await self._async_change(
            tunnel_id, record=EndpointRecord(ip, when), unsettled=None
        )

    async def async_refused(
        self,
        tunnel_id: str,
        *,
        unsettled: str | None,
        refusal: Refusal | None,
        backoff: Backoff | None,
    ) -> None:
        """HE answered and changed nothing: what was open before the request stays open."""
        await self._async_change(
            tunnel_id, unsettled=unsettled, refusal=refusal, backoff=backoff
        )

    async def async_failed(self, tunnel_id: str, backoff: Backoff) -> None:
        """HE's answer leaves open what it holds: the endpoint stays unconfirmed."""
        await self._async_change(tunnel_id, backoff=backoff)

    async def async_settled(self, tunnel_id: str, *, backoff_ended: bool) -> None:
        """Drop what no longer stands now that HE holds the router's address again.

        A refusal of another address goes, and the backoff if it ended.
        """
        memory = self.memory(tunnel_id)
        await self._async_change(
            tunnel_id,
            backoff=None if backoff_ended else memory.backoff,
            refusal=memory.refusal
            if memory.refusal is not None and memory.refusal.needs_user
            else None,
        )

    async def async_forget(self, tunnel_ids: set[str]) -> None:
        """Drop everything remembered about removed tunnels."""
        if tunnel_ids & self._tunnels.keys():
            for tunnel_id in tunnel_ids:
                self._tunnels.pop(tunnel_id, None)
            await self._async_save()

    async def _async_change(self, tunnel_id: str, **changes: Any) -> None:
        before = self.memory(tunnel_id)
        memory = replace(before, **changes)
        if memory == before:
            return
        if memory == _EMPTY:
            del self._tunnels[tunnel_id]
        else:
            self._tunnels[tunnel_id] = memory
        await self._async_save()

    async def _async_save(self) -> None:
        await self._store.async_save(
            {tunnel_id: _stored(memory) for tunnel_id, memory in self._tunnels.items()}
        )


def _stored(memory: TunnelMemory) -> _StoredTunnel:
    stored: _StoredTunnel = {}
    if (record := memory.record) is not None:
        stored["endpoint"] = record.endpoint
        stored["updated_at"] = record.updated_at.isoformat()
    if memory.unsettled is not None:
        stored["unsettled"] = memory.unsettled
    if (backoff := memory.backoff) is not None:
        stored["backoff"] = {
            "until": backoff.until.isoformat(),
            "failures": backoff.failures,
            "abuse_blocks": backoff.abuse_blocks,
            "abuse": backoff.abuse,
        }
    if (refusal := memory.refusal) is not None:
        stored["refusal"] = {"ip": refusal.ip, "status": refusal.status.value}
    if memory.sent_at is not None:
        stored["sent_at"] = memory.sent_at.isoformat()
    return stored


def _read_text(item: Any, key: str) -> str | None:
    try:
        value = item[key]
    except (KeyError, TypeError):
        return None
    return value if isinstance(value, str) and value else None


def _read_time(item: Any, key: str) -> datetime | None:
    try:
        when = dt_util.parse_datetime(item[key])
    except (KeyError, TypeError, ValueError):
        return None
    return when if when is not None and when.tzinfo is not None else None


def _read_record(item: Any) -> EndpointRecord | None:
    updated_at = _read_time(item, "updated_at")
    endpoint = _read_text(item, "endpoint")
    if updated_at is None or endpoint is None:
        return None
    return EndpointRecord(endpoint, updated_at)


def _read_backoff(item: Any) -> Backoff | None:
    try:
        # Saved as "hold" by earlier versions.
        stored = item["backoff"] if "backoff" in item else item["hold"]
        until = _read_time(stored, "until")
        failures = int(stored["failures"])
        abuse_blocks = int(stored["abuse_blocks"])
        abuse = bool(stored.get("abuse", abuse_blocks > 0))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if until is None:
        return None
    return Backoff(
        until=until, failures=failures, abuse_blocks=abuse_blocks, abuse=abuse
    )


def _read_refusal(item: Any) -> Refusal | None:
    try:
        stored = item["refusal"]
        refusal = Refusal(ip=str(stored["ip"]), status=UpdateStatus(stored["status"]))
    except (KeyError, TypeError, ValueError):
        return None
    # Earlier versions also stored unknown answers as refusals: those are retried.
    return refusal if refusal.status in REFUSALS else None


async def async_get_endpoint_store(hass: HomeAssistant) -> EndpointStore:
    """Return the one store of this Home Assistant, loaded on first use."""
    if (store := hass.data.get(DATA_ENDPOINT_STORE)) is None:
        store = hass.data[DATA_ENDPOINT_STORE] = EndpointStore(hass)
    await store.async_load()
    return store
