"""Decides when a tunnel's endpoint is sent to HE, sends it, and acts on the answer.

HE blocks clients that send updates that are not needed, so an automatic update goes out only
when the router's address is usable, differs from the endpoint HE holds (remembered across
restarts), was not refused before, and no wait is running (failure backoff, `abuse` block,
minimum interval between updates — see update_policy). When a wait ends, the router's address
of that moment is sent: a flapping link costs one update per interval and the last address wins.
Answers only the user can fix raise a reauth flow (badauth) or a repair issue (nohost, abuse,
ICMP); the next success clears them. One update at a time per tunnel.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .const import (
    CONF_AUTOMATIC_UPDATE,
    DEFAULT_AUTOMATIC_UPDATE,
    DOMAIN,
    EVENT_TUNNELBROKER,
    LOGGER,
    REAUTH_SUBENTRY_ID,
    TRIGGER_ENDPOINT_UPDATE_FAILED,
    TRIGGER_ENDPOINT_UPDATED,
)
from .endpoint_store import EndpointRecord, EndpointStore, async_endpoint_confirmed
from .protocol.he_client import (
    TunnelbrokerClient,
    TunnelInfo,
    UpdateAttempt,
    UpdateStatus,
    held_attempt,
)
from .protocol.update_policy import MIN_UPDATE_INTERVAL, NO_HOLD, Hold, Refusal
from .protocol.wan_address import wan_address_problem
from .repair_issues import (
    TunnelIssue,
    async_clear_tunnel_issues,
    async_raise_tunnel_issue,
)
from .tunnel_subentries import tunnel_credentials

if TYPE_CHECKING:
    from .coordinator import RouterCoordinator
    from .tunnel_info import TunnelInfoCoordinator


class SkipReason(StrEnum):
    """Why no automatic update is sent now."""

    AUTOMATIC_OFF = "automatic_off"
    NO_USABLE_ADDRESS = "no_usable_address"
    UNCHANGED = "unchanged"
    NEEDS_USER = (
        "needs_user"  # badauth or nohost: nothing works until the tunnel is fixed
    )
    REFUSED_BEFORE = "refused_before"
    BACKING_OFF = "backing_off"  # after a failure or an abuse block
    RATE_LIMITED = (
        "rate_limited"  # the previous update was less than the minimum interval ago
    )


class EndpointStatus(StrEnum):
    """Where a tunnel's endpoint at HE stands, and what it waits for (an enum sensor's states)."""

    IN_SYNC = "in_sync"  # HE holds the router's address
    UPDATING = "updating"  # the router's new address is being sent
    RATE_LIMITED = (
        "rate_limited"  # waiting for the minimum interval since the last update
    )
    RETRYING = "retrying"  # HE could not be reached: waiting before the next try
    BLOCKED = "blocked"  # HE answered abuse: waiting for the block to end
    REFUSED = "refused"  # HE refused the credentials, the tunnel id or this address
    NO_PUBLIC_ADDRESS = (
        "no_public_address"  # the router is behind another NAT, or has none
    )
    AUTOMATIC_OFF = "automatic_off"  # the address changed; automatic update is off


# Refusals about the tunnel itself, not about one address.
_NEEDS_USER = frozenset({UpdateStatus.BADAUTH.value, UpdateStatus.NOHOST.value})


def _local_time(when: datetime) -> str:
    return dt_util.as_local(when).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True, slots=True)
class TunnelState:
    """What a tunnel's entities show: one snapshot, published after every change."""

    router_known: bool  # the router answers and its address is known
    router_address: str | None
    holds_router_address: bool  # HE holds the router's address
    record: EndpointRecord | None
    status: EndpointStatus | None
    next_attempt: datetime | None
    last_attempt: UpdateAttempt | None
    info: TunnelInfo | None


class TunnelCoordinator(DataUpdateCoordinator[TunnelState]):
    """The one owner of a tunnel's state for its entities: fed by the updater, never polls."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, tunnel: TunnelUpdater
    ) -> None:
        """Initialize for one tunnel, with its state as of now."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} tunnel {tunnel.tunnel_id}",
            update_interval=None,
        )
        self._tunnel = tunnel
        self.data = tunnel.snapshot()

    async def _async_update_data(self) -> TunnelState:
        """Return the state as of now (homeassistant.update_entity asks for it)."""
        return self._tunnel.snapshot()


class TunnelUpdater:
    """One tunnel of a router: its credentials, what HE holds, the last attempt, any wait."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        subentry: ConfigSubentry,
        *,
        router: RouterCoordinator,
        client: TunnelbrokerClient,
        store: EndpointStore,
        info: TunnelInfoCoordinator | None = None,
        min_interval: timedelta = MIN_UPDATE_INTERVAL,
    ) -> None:
        """Initialize from the tunnel's subentry and what the store remembers of it."""
        self.hass = hass
        self.entry = entry
        self.subentry = subentry
        self.router = router
        self.info = info
        self._min_interval = min_interval
        self._client = client
        self._store = store
        self.credentials = tunnel_credentials(subentry)
        # The setup, reauth or reconfigure flow that just checked the tunnel made an attempt.
        self.last_attempt = store.pop_flow_attempt(self.tunnel_id)
        self._cancel_timer: CALLBACK_TYPE | None = None
        self._lock = asyncio.Lock()
        self.device_id: str | None = None  # set once the tunnel's device exists
        # Our record may be behind HE (another updater, the tunnel page, a lost .storage) at
        # start-up and after a failed send: HE's tunnel information is read before the next
        # automatic update then, and only then (never on the path of every change).
        self._in_doubt = True
        self.coordinator = TunnelCoordinator(hass, entry, self)

    @property
    def tunnel_id(self) -> str:
        """Return HE's tunnel id."""
        return self.credentials.tunnel_id

    @property
    def record(self) -> EndpointRecord | None:
        """Return the endpoint HE holds, as last confirmed by HE."""
        return self._store.get(self.tunnel_id)

    def holds(self, address: str | None) -> bool:
        """Return whether HE holds `address` (nothing to send for it)."""
        return self._store.holds(self.tunnel_id, address)

    @property
    def hold(self) -> Hold | None:
        """Return the wait after failures or an abuse block, if any (it may have ended)."""
        return self._store.get_hold(self.tunnel_id)

    @property
    def automatic(self) -> bool:
        """Return whether address changes are sent without being asked."""
        return bool(
            self.entry.options.get(CONF_AUTOMATIC_UPDATE, DEFAULT_AUTOMATIC_UPDATE)
        )

    @property
    def router_address(self) -> str | None:
        """Return the router's WAN address as last read."""
        return self.router.data.external_ip if self.router.data else None

    @property
    def refusal(self) -> Refusal | None:
        """Return HE's refusal that stands (stored: a restart does not repeat it)."""
        return self._store.get_refusal(self.tunnel_id)

    @property
    def needs_user(self) -> UpdateStatus | None:
        """Return badauth or nohost while it stands: nothing is sent until it is fixed."""
        refusal = self.refusal
        if refusal is not None and refusal.status in _NEEDS_USER:
            return UpdateStatus(refusal.status)
        return None

    @property
    def _rate_limited_until(self) -> datetime | None:
        answered_at = self._store.get_answered_at(self.tunnel_id)
        return None if answered_at is None else answered_at + self._min_interval

    def abuse_block_until(self, now: datetime) -> datetime | None:
        """Return when HE's abuse block is expected to end, if it is still running."""
        return None if (hold := self.hold) is None else hold.abuse_block_until(now)

    def status(self, now: datetime) -> EndpointStatus | None:
        """Return where the endpoint stands (None while the router's address is unknown)."""
        if self.router.data is None or not self.router.last_update_success:
            return None
        ip = self.router_address
        if wan_address_problem(ip) is not None:
            return EndpointStatus.NO_PUBLIC_ADDRESS
        refusal = self.refusal
        if self.needs_user is not None or (refusal is not None and refusal.ip == ip):
            return EndpointStatus.REFUSED
        if self.holds(ip):
            return EndpointStatus.IN_SYNC
        if (hold := self.hold) is not None and now < hold.until:
            return EndpointStatus.BLOCKED if hold.abuse else EndpointStatus.RETRYING
        if not self.automatic:
            return EndpointStatus.AUTOMATIC_OFF
        if (until := self._rate_limited_until) is not None and now < until:
            return EndpointStatus.RATE_LIMITED
        return EndpointStatus.UPDATING

    def next_attempt(self, now: datetime) -> datetime | None:
        """Return when the waiting update is sent, while it waits for a time."""
        status = self.status(now)
        if status in (EndpointStatus.BLOCKED, EndpointStatus.RETRYING):
            assert self.hold is not None
            return self.hold.until
        if status is EndpointStatus.RATE_LIMITED:
            return self._rate_limited_until
        return None

    # -- listeners (entities) ----------------------------------------------------------------
    def snapshot(self) -> TunnelState:
        """Return what the tunnel's entities show, as of now."""
        now = dt_util.utcnow()
        router = self.router
        return TunnelState(
            router_known=router.last_update_success and router.data is not None,
            router_address=self.router_address,
            holds_router_address=self.holds(self.router_address),
            record=self.record,
            status=self.status(now),
            next_attempt=self.next_attempt(now),
            last_attempt=self.last_attempt,
            info=self.info.data if self.info is not None else None,
        )

    @callback
    def async_on_router_update(self) -> None:
        """Show the router's new read, and send its address if that is due."""
        self._notify_listeners()
        self.async_schedule_automatic_update()

    @callback
    def async_shutdown(self) -> None:
        """Cancel a scheduled re-check (entry unload)."""
        if self._cancel_timer is not None:
            self._cancel_timer()
            self._cancel_timer = None

    def check_user_send(self, *, force: bool = False) -> None:
        """Raise a translated error if HE must not be sent an update the user asks for now.

        Not during HE's abuse block unless forced (sending would prolong it), and never within
        the minimum interval of the last request HE took in, whatever the address: HE blocks
        clients that send more, and a press repeated in a hurry is what gets them blocked.
        """
        now = dt_util.utcnow()
        if not force and (until := self.abuse_block_until(now)) is not None:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="abuse_block_running",
                translation_placeholders={"until": _local_time(until)},
            )
        if (until := self._rate_limited_until) is not None and now < until:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="update_too_soon",
                translation_placeholders={
                    "tunnel": self.subentry.title,
                    "until": _local_time(until),
                },
            )

    @callback
    def async_start(self) -> None:
        """Show again what outlived a restart or reload, then send the address if it is due.

        Repair issues and reauth flows are not kept across restarts; holds and refusals are
        (endpoint_store), so nothing HE refused or blocked is sent again by a restart.
        """
        if (hold := self.hold) is not None and self.abuse_block_until(dt_util.utcnow()):
            self._raise_issue(TunnelIssue.ABUSE, hold)
        if (refusal := self.refusal) is not None:
            self._report_refusal(UpdateStatus(refusal.status))
        if self.info is not None:
            # The 6-hourly read of HE's information keeps our record honest.
            self.entry.async_on_unload(
                self.info.async_add_listener(self._async_on_tunnel_info)
            )
        # The address may have changed while Home Assistant was not running.
        self.async_schedule_automatic_update()

    @property
    def _held_by_he(self) -> str | None:
        """Return the endpoint HE's tunnel information last showed, if any."""
        return self.info.data.client_v4 if self.info and self.info.data else None

    @callback
    def _async_on_tunnel_info(self) -> None:
        self._notify_listeners()
        held = self._held_by_he
        if held is None or self.holds(held):
            return
        self.entry.async_create_task(
            self.hass,
            self._async_adopt_and_recheck(),
            f"{DOMAIN} tunnel {self.tunnel_id} endpoint from HE",
        )

    async def _async_adopt_and_recheck(self) -> None:
        async with self._lock:
            # Read again under the lock: an update that just went out is newer than the read.
            if (held := self._held_by_he) is not None:
                await self._async_adopt(held)
        self.async_schedule_automatic_update()

    async def _async_adopt(self, held: str) -> None:
        if not self.holds(held):
            LOGGER.info("Tunnel %s: HE holds %s as its endpoint", self.tunnel_id, held)
            await self._store.async_adopt(self.tunnel_id, held, dt_util.utcnow())
        self._notify_listeners()

    # -- automatic updates -------------------------------------------------------------------
    def skip_reason(self, ip: str | None, now: datetime) -> SkipReason | None:
        """Return why `ip` must not be sent automatically now, or None to send it."""
        if not self.automatic:
            return SkipReason.AUTOMATIC_OFF
        if ip is None or wan_address_problem(ip) is not None:
            return SkipReason.NO_USABLE_ADDRESS
        if self.holds(ip):
            return SkipReason.UNCHANGED
        if self.needs_user is not None:
            return SkipReason.NEEDS_USER
        if (refusal := self.refusal) is not None and refusal.ip == ip:
            return SkipReason.REFUSED_BEFORE
        if (hold := self.hold) is not None and now < hold.until:
            return SkipReason.BACKING_OFF
        if (until := self._rate_limited_until) is not None and now < until:
            return SkipReason.RATE_LIMITED
        return None

    @callback
    def async_schedule_automatic_update(self) -> None:
        """Start an automatic update in the background if one is due, or re-check later."""
        now = dt_util.utcnow()
        reason = self.skip_reason(self.router_address, now)
        if reason is None:
            self.entry.async_create_task(
                self.hass,
                self.async_automatic_update(),
                f"{DOMAIN} update tunnel {self.tunnel_id}",
            )
        elif reason is SkipReason.BACKING_OFF:
            assert self.hold is not None
            self._recheck_at(self.hold.until)
        elif reason is SkipReason.RATE_LIMITED:
            assert self._rate_limited_until is not None
            self._recheck_at(self._rate_limited_until)
        elif reason is SkipReason.UNCHANGED and self._settled_by_router(now):
            # HE holds the router's address again: an ended wait, or a refusal of another
            # address, no longer stands.
            self.entry.async_create_task(
                self.hass,
                self._async_settle(),
                f"{DOMAIN} tunnel {self.tunnel_id} in sync",
            )

    def _settled_by_router(self, now: datetime) -> bool:
        hold, refusal = self.hold, self.refusal
        return (hold is not None and now >= hold.until) or (
            refusal is not None and refusal.status not in _NEEDS_USER
        )

    async def _async_settle(self) -> None:
        async with self._lock:
            if (hold := self.hold) is not None and dt_util.utcnow() >= hold.until:
                await self._store.async_set_hold(self.tunnel_id, None)
            refusal = self.refusal
            if refusal is not None and refusal.status not in _NEEDS_USER:
                await self._store.async_set_refusal(self.tunnel_id, None)
            async_clear_tunnel_issues(
                self.hass, self.tunnel_id, (TunnelIssue.ABUSE, TunnelIssue.ICMP_BLOCKED)
            )
            self._notify_listeners()

    def _recheck_at(self, when: datetime) -> None:
        self.async_shutdown()
        self._cancel_timer = async_track_point_in_utc_time(
            self.hass, self._async_wait_over, when
        )

    @callback
    def _async_wait_over(self, _now: datetime) -> None:
        self._cancel_timer = None
        self._notify_listeners()  # the wait shown is over
        self.async_schedule_automatic_update()

    async def async_automatic_update(self) -> None:
        """Send the router's address if it is still due once the previous update is done."""
        async with self._lock:
            ip = self.router_address
            if ip is None or self.skip_reason(ip, dt_util.utcnow()) is not None:
                return
            if self._in_doubt and await self._async_reconcile():
                reason = self.skip_reason(ip, dt_util.utcnow())
                if reason is SkipReason.UNCHANGED:
                    await self._async_record_held(ip)
                if reason is not None:
                    return
            await self._async_send(ip, automatic=True)

    async def _async_reconcile(self) -> bool:
        """Take HE's endpoint from its tunnel information; return whether HE told it.

        When HE refuses the information there is nothing to learn: no more doubt. When it
        cannot be reached, the doubt stays (and the update goes out as usual).
        """
        if self.info is None or self.info.refused is not None:
            self._in_doubt = False
            return False
        data = await self.info.async_fresh_data()
        if data is None or data.client_v4 is None:
            self._in_doubt = self.info.refused is None
            return False
        self._in_doubt = False
        await self._async_adopt(data.client_v4)
        return True

    async def _async_record_held(self, ip: str) -> None:
        LOGGER.info(
            "Tunnel %s: HE already holds %s (tunnel information); nothing sent",
            self.tunnel_id,
            ip,
        )
        attempt = self.last_attempt = held_attempt(ip, dt_util.utcnow(), automatic=True)
        await self._async_succeeded(attempt)
        self._notify_listeners()

    # -- sending -----------------------------------------------------------------------------
    async def async_update(self, ip: str) -> UpdateAttempt:
        """Send `ip` now, as the user asked (after the update in flight, if any).

        Callers check first that it may be sent (check_user_send).
        """
        async with self._lock:
            return await self._async_send(ip, automatic=False)

    async def _async_send(self, ip: str, *, automatic: bool) -> UpdateAttempt:
        result = await self._client.async_update_endpoint(self.credentials, ip)
        now = dt_util.utcnow()
        if not result.retryable:
            # HE took the request in: it counts towards HE's limit. (A request that met an
            # outage did not; its retry follows the backoff instead.)
            await self._store.async_set_answered_at(self.tunnel_id, now)
        attempt = self.last_attempt = UpdateAttempt(
            ip=ip, result=result, at=now, automatic=automatic
        )
        # An outage leaves open whether HE took the request: ask HE before the next one.
        self._in_doubt = result.retryable
        if result.success:
            await self._async_succeeded(attempt)
        else:
            await self._async_failed(attempt)
        self._notify_listeners()
        return attempt

    def _notify_listeners(self) -> None:
        self.coordinator.async_set_updated_data(self.snapshot())

    async def _async_succeeded(self, attempt: UpdateAttempt) -> None:
        # Any hold or refusal is over with it.
        await async_endpoint_confirmed(
            self.hass,
            self._store,
            self.tunnel_id,
            attempt.result.ip or attempt.ip,
            attempt.at,
        )
        if self.info is not None and self.info.data is not None:
            # HE just told us its endpoint: no need to ask tunnelInfo.php again.
            self.info.async_set_updated_data(
                replace(self.info.data, client_v4=attempt.result.ip or attempt.ip)
            )
        LOGGER.info(
            "Tunnel %s endpoint is now %s (%s)",
            self.tunnel_id,
            attempt.ip,
            attempt.result.status,
        )
        self._fire(TRIGGER_ENDPOINT_UPDATED, attempt)

    async def _async_failed(self, attempt: UpdateAttempt) -> None:
        result = attempt.result
        LOGGER.warning(
            "Tunnel %s endpoint update to %s failed: %s %s",
            self.tunnel_id,
            attempt.ip,
            result.status,
            result.message,
        )
        hold = self.hold or NO_HOLD
        if result.status is UpdateStatus.ABUSE:
            hold = hold.after_abuse(attempt.at)
            self._raise_issue(TunnelIssue.ABUSE, hold)
        elif result.retryable:
            hold = hold.after_failure(attempt.at)
        else:
            await self._store.async_set_refusal(
                self.tunnel_id, Refusal(ip=attempt.ip, status=result.status.value)
            )
            self._report_refusal(result.status)
        if hold is not NO_HOLD and hold != self.hold:
            await self._store.async_set_hold(self.tunnel_id, hold)
            self._recheck_at(hold.until)
        self._fire(TRIGGER_ENDPOINT_UPDATE_FAILED, attempt)

    def _report_refusal(self, status: UpdateStatus) -> None:
        """Ask the user for what only they can fix: new credentials, a tunnel id, a firewall."""
        if status is UpdateStatus.BADAUTH:
            self.entry.async_start_reauth(
                self.hass, data={REAUTH_SUBENTRY_ID: self.subentry.subentry_id}
            )
        elif status is UpdateStatus.NOHOST:
            self._raise_issue(TunnelIssue.TUNNEL_NOT_FOUND)
        elif status is UpdateStatus.ICMP_BLOCKED:
            self._raise_issue(TunnelIssue.ICMP_BLOCKED)

    def _raise_issue(self, issue: TunnelIssue, hold: Hold | None = None) -> None:
        async_raise_tunnel_issue(
            self.hass,
            issue,
            tunnel_id=self.tunnel_id,
            tunnel_name=self.subentry.title,
            hold=hold,
        )

    def _fire(self, trigger_type: str, attempt: UpdateAttempt) -> None:
        data: dict[str, Any] = {
            "device_id": self.device_id,
            "type": trigger_type,
            "tunnel_id": self.tunnel_id,
            "ip": attempt.ip,
            "result": attempt.result.status.value,
            "message": attempt.result.message,
        }
        self.hass.bus.async_fire(EVENT_TUNNELBROKER, data)
