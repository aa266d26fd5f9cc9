"""Decides when a tunnel's endpoint is sent to HE, sends it, and remembers the outcome.

HE blocks clients that send updates that are not needed, so an automatic update goes out only
when the router's address is usable, differs from the endpoint HE holds (remembered across
restarts), and was not just refused. One update at a time per tunnel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_USERNAME
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .const import (
    CONF_AUTOMATIC_UPDATE,
    CONF_TUNNEL_ID,
    CONF_UPDATE_KEY,
    DEFAULT_AUTOMATIC_UPDATE,
    DOMAIN,
    EVENT_TUNNELBROKER,
    LOGGER,
    RETRY_INITIAL,
    RETRY_MAX,
    TRIGGER_ENDPOINT_UPDATE_FAILED,
    TRIGGER_ENDPOINT_UPDATED,
)
from .endpoint_store import EndpointRecord, EndpointStore
from .he_client import TunnelbrokerClient, TunnelCredentials, UpdateResult
from .wan_address import wan_address_problem

if TYPE_CHECKING:
    from .coordinator import RouterCoordinator
    from .runtime_data import TunnelbrokerConfigEntry


class SkipReason(StrEnum):
    """Why no automatic update is sent now."""

    AUTOMATIC_OFF = "automatic_off"
    NO_USABLE_ADDRESS = "no_usable_address"
    UNCHANGED = "unchanged"
    REFUSED_BEFORE = "refused_before"
    BACKING_OFF = "backing_off"


@dataclass(frozen=True, slots=True)
class UpdateAttempt:
    """One request sent to HE and its answer."""

    ip: str
    result: UpdateResult
    at: datetime
    automatic: bool


def tunnel_device_identifier(tunnel_id: str) -> tuple[str, str]:
    """Return the device registry identifier of a tunnel."""
    return (DOMAIN, f"tunnel_{tunnel_id}")


class TunnelUpdater:
    """One tunnel of a router: its credentials, what HE holds, the last attempt."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: TunnelbrokerConfigEntry,
        subentry: ConfigSubentry,
        *,
        router: RouterCoordinator,
        client: TunnelbrokerClient,
        store: EndpointStore,
    ) -> None:
        """Initialize from the tunnel's subentry."""
        self.hass = hass
        self.entry = entry
        self.subentry = subentry
        self.router = router
        self._client = client
        self._store = store
        self.credentials = TunnelCredentials(
            username=subentry.data[CONF_USERNAME],
            update_key=subentry.data[CONF_UPDATE_KEY],
            tunnel_id=subentry.data[CONF_TUNNEL_ID],
        )
        self.last_attempt: UpdateAttempt | None = None
        self._failures = 0
        self._retry_at: datetime | None = None
        self._cancel_retry: CALLBACK_TYPE | None = None
        self._lock = asyncio.Lock()
        self._listeners: list[CALLBACK_TYPE] = []

    @property
    def tunnel_id(self) -> str:
        """Return HE's tunnel id."""
        return self.credentials.tunnel_id

    @property
    def record(self) -> EndpointRecord | None:
        """Return the endpoint HE holds, as last confirmed by HE."""
        return self._store.get(self.tunnel_id)

    @property
    def automatic(self) -> bool:
        """Return whether address changes are sent without being asked."""
        return bool(
            self.entry.options.get(CONF_AUTOMATIC_UPDATE, DEFAULT_AUTOMATIC_UPDATE)
        )

    # -- listeners (entities) ----------------------------------------------------------------
    @callback
    def async_add_listener(self, update_callback: CALLBACK_TYPE) -> Callable[[], None]:
        """Call `update_callback` after every attempt; return a remover."""
        self._listeners.append(update_callback)
        return lambda: self._listeners.remove(update_callback)

    @callback
    def async_shutdown(self) -> None:
        """Cancel a scheduled retry (entry unload)."""
        if self._cancel_retry is not None:
            self._cancel_retry()
            self._cancel_retry = None

    # -- automatic updates -------------------------------------------------------------------
    def skip_reason(self, ip: str | None, now: datetime) -> SkipReason | None:
        """Return why `ip` must not be sent automatically now, or None to send it."""
        if not self.automatic:
            return SkipReason.AUTOMATIC_OFF
        if ip is None or wan_address_problem(ip) is not None:
            return SkipReason.NO_USABLE_ADDRESS
        if (record := self.record) is not None and record.endpoint == ip:
            return SkipReason.UNCHANGED
        last = self.last_attempt
        if last is not None and last.ip == ip and not last.result.success:
            if not last.result.retryable:
                return SkipReason.REFUSED_BEFORE
            if self._retry_at is not None and now < self._retry_at:
                return SkipReason.BACKING_OFF
        return None

    @callback
    def async_schedule_automatic_update(self) -> None:
        """Start an automatic update in the background if one is due."""
        ip = self.router.data.external_ip if self.router.data else None
        if self.skip_reason(ip, dt_util.utcnow()) is None:
            self.entry.async_create_task(
                self.hass,
                self.async_automatic_update(),
                f"{DOMAIN} update tunnel {self.tunnel_id}",
            )

    async def async_automatic_update(self) -> None:
        """Send the router's address if it is still due once the previous update is done."""
        async with self._lock:
            ip = self.router.data.external_ip if self.router.data else None
            if ip is None or self.skip_reason(ip, dt_util.utcnow()) is not None:
                return
            await self._async_send(ip, automatic=True)

    # -- sending -----------------------------------------------------------------------------
    async def async_update(self, ip: str) -> UpdateResult:
        """Send `ip` now, as the user asked (after the update in flight, if any)."""
        async with self._lock:
            return await self._async_send(ip, automatic=False)

    async def _async_send(self, ip: str, *, automatic: bool) -> UpdateResult:
        result = await self._client.async_update_endpoint(self.credentials, ip)
        now = dt_util.utcnow()
        self.last_attempt = UpdateAttempt(
            ip=ip, result=result, at=now, automatic=automatic
        )
        if result.success:
            self._failures = 0
            self._retry_at = None
            await self._store.async_set(self.tunnel_id, result.ip or ip, now)
            LOGGER.info(
                "Tunnel %s endpoint is now %s (%s)", self.tunnel_id, ip, result.status
            )
            self._fire(TRIGGER_ENDPOINT_UPDATED, ip, result)
        else:
            self._failures += 1
            LOGGER.warning(
                "Tunnel %s endpoint update to %s failed: %s %s",
                self.tunnel_id,
                ip,
                result.status,
                result.message,
            )
            if result.retryable:
                self._schedule_retry(now)
            self._fire(TRIGGER_ENDPOINT_UPDATE_FAILED, ip, result)
        for update_callback in list(self._listeners):
            update_callback()
        return result

    def _schedule_retry(self, now: datetime) -> None:
        delay = min(RETRY_INITIAL * 2 ** (self._failures - 1), RETRY_MAX)
        self._retry_at = now + delay
        self.async_shutdown()
        self._cancel_retry = async_call_later(self.hass, delay, self._async_retry_due)

    @callback
    def _async_retry_due(self, _now: datetime) -> None:
        self._cancel_retry = None
        self.async_schedule_automatic_update()

    def _fire(self, trigger_type: str, ip: str, result: UpdateResult) -> None:
        device = dr.async_get(self.hass).async_get_device(
            identifiers={tunnel_device_identifier(self.tunnel_id)}
        )
        data: dict[str, Any] = {
            "device_id": device.id if device else None,
            "type": trigger_type,
            "tunnel_id": self.tunnel_id,
            "ip": ip,
            "result": result.status.value,
            "message": result.message,
        }
        self.hass.bus.async_fire(EVENT_TUNNELBROKER, data)
