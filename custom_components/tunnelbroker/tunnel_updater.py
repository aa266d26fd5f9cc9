"""A tunnel of a loaded router entry: when to send, what each answer leads to, what it shows.

HE blocks clients that send updates that are not needed, so every send is decided by
update_policy.decide, inside the tunnel's one sender (he_sender), on the facts of that
moment; Status reads the same decision. Answers only the user can fix raise a reauth flow
(badauth) or a repair issue (nohost, abuse, ICMP, an answer nobody knows); the next success
clears them.

The lifecycle stops: once the entry (or the tunnel) is unloaded, nothing of this updater
schedules, sends, stores or raises issues again. Its timer is cancelled and its work in flight
too; a request cancelled on its way leaves the endpoint unconfirmed (the sender writes ahead),
which the next updater settles with HE.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .const import (
    CONF_AUTOMATIC_UPDATE,
    DEFAULT_AUTOMATIC_UPDATE,
    DOMAIN,
    LOGGER,
    REAUTH_SUBENTRY_ID,
    TRIGGER_ENDPOINT_UPDATE_FAILED,
    TRIGGER_ENDPOINT_UPDATED,
)
from .devices import async_fire_device_event
from .endpoint_store import EndpointRecord
from .he_sender import Situation, TunnelSender
from .protocol.he_client import TunnelInfo, UpdateAttempt, UpdateStatus, held_attempt
from .protocol.update_policy import (
    MIN_UPDATE_INTERVAL,
    Act,
    Backoff,
    Caller,
    Decision,
    EndpointStatus,
    Why,
    endpoint_status,
)
from .repair_issues import (
    HE_ISSUES,
    TunnelIssue,
    async_clear_tunnel_issues,
    async_raise_tunnel_issue,
)
from .tunnel_subentries import tunnel_credentials
from .wording import duration, moment_from_now

if TYPE_CHECKING:
    from .coordinator import RouterCoordinator
    from .tunnel_info import TunnelInfoCoordinator

# Why a user's request is refused -> its error (translation key). Every reason decide() can
# give a user's caller is here (tests/protocol/test_update_policy.py checks it).
REFUSED_REQUEST: dict[Why, str] = {
    Why.ROUTER_UNKNOWN: "router_unavailable",
    Why.NO_USABLE_ADDRESS: "invalid_ip_not_public",
    Why.NEEDS_USER: "credentials_refused",
    Why.BLOCKED: "abuse_block_running",
    Why.RATE_LIMITED: "update_too_soon",
    Why.AUTH_FAILURES: "too_many_auth_failures",
}


@dataclass(frozen=True, slots=True)
class TunnelState:
    """What a tunnel's entities show: one snapshot, published after every change."""

    router_known: bool  # the router answers and its address is known
    router_address: str | None
    holds_router_address: bool  # HE is known to hold the router's address
    record: EndpointRecord | None
    status: EndpointStatus | None
    next_attempt: datetime | None
    last_attempt: UpdateAttempt | None
    info: TunnelInfo | None


class TunnelStatePublisher(DataUpdateCoordinator[TunnelState]):
    """A tunnel's one published state, which its entities read: the updater sets it, no poll."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, tunnel: TunnelUpdater
    ) -> None:
        """Initialize for one tunnel; the first refresh publishes its state."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} tunnel {tunnel.tunnel_id}",
            update_interval=None,
        )
        self._tunnel = tunnel

    async def _async_update_data(self) -> TunnelState:
        """Return the state as of now (homeassistant.update_entity asks for it)."""
        return self._tunnel.snapshot()


class TunnelUpdater:
    """One tunnel of a router: its credentials, its sender, the last attempt, its timer."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        subentry: ConfigSubentry,
        *,
        router: RouterCoordinator,
        sender: TunnelSender,
        info: TunnelInfoCoordinator,
        device_id: str,
        min_interval: timedelta = MIN_UPDATE_INTERVAL,
    ) -> None:
        """Initialize from the tunnel's subentry, its sender and its device."""
        self.hass = hass
        self.entry = entry
        self.subentry = subentry
        self.router = router
        self.info = info
        self.sender = sender
        self._min_interval = min_interval
        self.credentials = tunnel_credentials(subentry)
        self.last_attempt: UpdateAttempt | None = None
        self._cancel_timer: CALLBACK_TYPE | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped = False
        self.device_id = device_id
        self.state_publisher = TunnelStatePublisher(hass, entry, self)

    @property
    def tunnel_id(self) -> str:
        """Return HE's tunnel id."""
        return self.credentials.tunnel_id

    async def async_config_entry_first_refresh(self) -> None:
        """Publish the state once the router is read, with the attempt of the last flow.

        The setup, reauth or reconfigure flow that just checked the tunnel made an attempt.
        """
        self.last_attempt = self.sender.take_unshown()
        await self.state_publisher.async_config_entry_first_refresh()

    @property
    def record(self) -> EndpointRecord | None:
        """Return the endpoint HE last confirmed."""
        return self.sender.memory.record

    @property
    def backoff(self) -> Backoff | None:
        """Return the wait after failures or an abuse block, if any (it may have ended)."""
        return self.sender.memory.backoff

    def holds(self, address: str | None) -> bool:
        """Return whether HE is known to hold `address` (nothing to send for it)."""
        return self.sender.memory.holds(address)

    @property
    def automatic(self) -> bool:
        """Return whether address changes are sent without being asked."""
        return bool(
            self.entry.options.get(CONF_AUTOMATIC_UPDATE, DEFAULT_AUTOMATIC_UPDATE)
        )

    @property
    def router_address(self) -> str | None:
        """Return the router's WAN address while the router answers."""
        router = self.router
        if router.data is None or not router.last_update_success:
            return None
        return router.data.external_ip or ""

    def _situation(self, address: str | None = None) -> Situation:
        return Situation(
            address=self.router_address if address is None else address,
            automatic=self.automatic,
            can_ask_he=self.info.refused is None,
            min_interval=self._min_interval,
        )

    def decision(self) -> Decision:
        """Return what the automatic update does now (what Status shows)."""
        return self.sender.decide(self._situation(), Caller.AUTOMATIC)

    # -- what the entities show --------------------------------------------------------------
    def snapshot(self) -> TunnelState:
        """Return what the tunnel's entities show, as of now."""
        decision = self.decision()
        router = self.router
        return TunnelState(
            router_known=router.last_update_success and router.data is not None,
            router_address=self.router_address,
            holds_router_address=self.holds(self.router_address),
            record=self.record,
            status=endpoint_status(decision),
            next_attempt=decision.until if decision.act is Act.WAIT else None,
            last_attempt=self.last_attempt,
            info=self.info.data,
        )

    def _publish(self) -> None:
        if not self._stopped:
            self.state_publisher.async_set_updated_data(self.snapshot())

    # -- lifecycle ---------------------------------------------------------------------------
    @callback
    def async_start(self) -> None:
        """Show again what outlived a restart or reload; settle with HE; send if it is due.

        Repair issues and reauth flows are not kept across restarts; backoffs and refusals
        are (endpoint_store), so nothing HE refused or blocked is sent again by a restart.
        """
        memory = self.sender.memory
        if (backoff := memory.backoff) is not None and backoff.abuse_block_until(
            dt_util.utcnow()
        ):
            self._raise_issue(TunnelIssue.ABUSE, backoff)
        if (refusal := memory.refusal) is not None:
            self._report_refusal(refusal.status)
        # Each read of HE's information keeps our record honest.
        self.entry.async_on_unload(self.info.async_add_listener(self._async_on_info))
        # A reconfigure or reauth flow of this tunnel sends through the same sender.
        self.entry.async_on_unload(
            self.sender.async_add_listener(self._async_on_flow_change)
        )
        self._spawn(self._async_start(), "start")

    @callback
    def _async_on_flow_change(self) -> None:
        self._publish()
        self.async_schedule_automatic_update()

    async def _async_start(self) -> None:
        # Off the path of any change: HE's word on what it holds, read once at start. Our
        # record may be behind HE (another updater, the tunnel page, a lost .storage).
        async with self.sender.lock:
            await self._async_ask_he()
        self._publish()
        # The address may have changed while Home Assistant was not running.
        await self._async_automatic()

    async def _async_ask_he(self) -> None:
        """Take HE's endpoint from its tunnel information (the lock held), if HE gives it.

        When that shows HE holds the router's address already, which our record did not
        know, the attempt that sent nothing is shown (the event entity, the bus event).
        """
        if self.info.refused is not None:
            return
        # Not a read from before our last request: HE's answer to it may be newer.
        data = await self.info.async_fresh_data(newer_than=self.sender.memory.sent_at)
        if data is None or data.client_v4 is None or self.holds(data.client_v4):
            return
        await self.sender.async_adopt(data.client_v4)
        if self.decision().why is Why.IN_SYNC:
            self._show(held_attempt(data.client_v4, dt_util.utcnow(), automatic=True))

    @callback
    def async_stop(self) -> None:
        """Stop for good (entry unload): no timer, no task, no effect from now on."""
        self._stopped = True
        self._cancel_recheck()
        for task in self._tasks:
            task.cancel()

    @property
    def stopped(self) -> bool:
        """Return whether the updater has stopped for good."""
        return self._stopped

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        if self._stopped:
            coro.close()
            return
        task = self.entry.async_create_task(
            self.hass, coro, f"{DOMAIN} tunnel {self.tunnel_id} {what}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- automatic updates -------------------------------------------------------------------
    @callback
    def async_on_router_update(self) -> None:
        """Show the router's new read, and send its address if that is due."""
        self._publish()
        self.async_schedule_automatic_update()

    @callback
    def async_schedule_automatic_update(self) -> None:
        """Act on the automatic decision: start the update, or re-check when the wait ends."""
        if self._stopped:
            return
        decision = self.decision()
        if decision.act in (Act.SEND, Act.ASK_HE):
            self._spawn(self._async_automatic(), "update")
        elif decision.act is Act.WAIT:
            assert decision.until is not None
            self._recheck_at(decision.until)
        elif decision.why is Why.IN_SYNC and self._stale_wait_or_refusal():
            self._spawn(self._async_settle(), "in sync")

    def _stale_wait_or_refusal(self) -> bool:
        memory = self.sender.memory
        return (
            memory.backoff is not None and dt_util.utcnow() >= memory.backoff.until
        ) or (memory.refusal is not None and not memory.refusal.needs_user)

    async def _async_settle(self) -> None:
        """HE holds the router's address again: an ended wait or another address's refusal go.

        A block that still runs stays (HE's, whoever sent), and so does its issue.
        """
        async with self.sender.lock:
            if (
                self.decision().why is not Why.IN_SYNC
                or not self._stale_wait_or_refusal()
            ):
                return
            memory = self.sender.memory
            ended = memory.backoff is None or dt_util.utcnow() >= memory.backoff.until
            await self.sender.store.async_settled(self.tunnel_id, backoff_ended=ended)
        async_clear_tunnel_issues(
            self.hass,
            self.tunnel_id,
            [issue for issue in HE_ISSUES if ended or issue is not TunnelIssue.ABUSE],
        )
        self._publish()

    def _cancel_recheck(self) -> None:
        if self._cancel_timer is not None:
            self._cancel_timer()
            self._cancel_timer = None

    def _recheck_at(self, when: datetime) -> None:
        self._cancel_recheck()
        if not self._stopped:
            self._cancel_timer = async_track_point_in_utc_time(
                self.hass, self._async_wait_over, when
            )

    @callback
    def _async_wait_over(self, _now: datetime) -> None:
        self._cancel_timer = None
        self._publish()  # the wait shown is over
        self.async_schedule_automatic_update()

    async def _async_automatic(self) -> None:
        """Decide inside the tunnel's turn and act: ask HE, send, or leave it to the timer."""
        async with self.sender.lock:
            decision = self.decision()
            if decision.act is Act.ASK_HE:
                await self._async_ask_he()
                decision = self.decision()
            attempt = None
            # Still unconfirmed after asking (HE did not say): the update settles it.
            sending = decision.act in (Act.SEND, Act.ASK_HE)
            if sending and (ip := self.router_address):
                attempt = await self.sender.async_send(
                    self.credentials, ip, caller=Caller.AUTOMATIC
                )
        if attempt is not None:
            self._after(attempt)
        self._publish()
        self.async_schedule_automatic_update()

    @callback
    def _async_on_info(self) -> None:
        """HE's tunnel information was read: take its endpoint if it is newer than ours."""
        self._publish()
        if self._info_is_news():
            self._spawn(self._async_adopt_info(), "endpoint from HE")

    def _info_is_news(self) -> bool:
        held = self.info.data.client_v4 if self.info.data else None
        if held is None or self.holds(held):
            return False
        # A read that started before our last request may predate HE's answer to it.
        started, sent = self.info.read_started_at, self.sender.memory.sent_at
        return started is not None and (sent is None or started > sent)

    async def _async_adopt_info(self) -> None:
        async with self.sender.lock:
            if self._info_is_news():
                assert self.info.data is not None and self.info.data.client_v4
                await self.sender.async_adopt(self.info.data.client_v4)
        self._publish()
        self.async_schedule_automatic_update()

    # -- what the user asks for --------------------------------------------------------------
    def check_request(
        self, caller: Caller, address: str, *, force: bool = False
    ) -> Decision:
        """Return the decision for a user's request; raise a translated error if refused."""
        decision = self.sender.decide(self._situation(address), caller, force=force)
        if decision.act is Act.SEND or decision.why is Why.IN_SYNC:
            return decision
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=REFUSED_REQUEST[decision.why],
            translation_placeholders={
                "tunnel": self.subentry.title,
                "title": self.entry.title,
                "ip": address,
                "until": moment_from_now(decision.until or dt_util.utcnow()),
                "interval": duration(self._min_interval),
            },
        )

    async def async_request(
        self, caller: Caller, address: str | None = None, *, force: bool = False
    ) -> UpdateAttempt | None:
        """Send `address` (None: the router's) as the user asked, in the tunnel's turn.

        Returns None when HE holds it already.
        """
        async with self.sender.lock:
            return await self.async_request_in_turn(caller, address, force=force)

    async def async_request_in_turn(
        self, caller: Caller, address: str | None = None, *, force: bool = False
    ) -> UpdateAttempt | None:
        """Decide and send with the tunnel's turn held: a send just made by another counts.

        The router's address is read in the turn, so a request that waited sends the
        address of now. The request is the updater's own work: stopping the updater cancels
        it, and the user is told so in words.
        """
        assert self.sender.lock.locked()
        if address is None:
            address = self.router.usable_external_ip()
        if self.check_request(caller, address, force=force).act is not Act.SEND:
            return None
        if self._stopped:
            raise self._stopped_error()
        task = self.entry.async_create_task(
            self.hass,
            self.sender.async_send(self.credentials, address, caller=caller),
            f"{DOMAIN} tunnel {self.tunnel_id} {caller} update",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            attempt = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self.stopped and (current is None or not current.cancelling()):
                raise self._stopped_error() from None
            raise
        if self.stopped:  # stopped while the answer was on its way to us
            raise self._stopped_error()
        self._after(attempt)
        self._publish()
        self.async_schedule_automatic_update()
        return attempt

    def _stopped_error(self) -> HomeAssistantError:
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="tunnel_stopped",
            translation_placeholders={"tunnel": self.subentry.title},
        )

    # -- what an answer leads to -------------------------------------------------------------
    def _show(self, attempt: UpdateAttempt) -> None:
        if self._stopped:
            return
        self.last_attempt = attempt
        if attempt.result.success:
            async_clear_tunnel_issues(self.hass, self.tunnel_id)
            LOGGER.info(
                "Tunnel %s endpoint is %s (%s)",
                self.tunnel_id,
                attempt.ip,
                attempt.result.message or attempt.result.status,
            )
        self._fire(
            TRIGGER_ENDPOINT_UPDATED
            if attempt.result.success
            else TRIGGER_ENDPOINT_UPDATE_FAILED,
            attempt,
        )

    def _after(self, attempt: UpdateAttempt) -> None:
        """Tell the user what HE's answer means (the sender has remembered it)."""
        if self._stopped:
            return
        self._show(attempt)
        result = attempt.result
        if result.success:
            if self.info.data is not None:
                # HE just told us its endpoint: no need to ask tunnelInfo.php again.
                self.info.async_set_updated_data(
                    replace(self.info.data, client_v4=result.ip or attempt.ip)
                )
            return
        backoff = self.backoff
        if result.status is UpdateStatus.ABUSE:
            self._raise_issue(TunnelIssue.ABUSE, backoff)
        elif result.status in (UpdateStatus.ERROR, UpdateStatus.UNKNOWN):
            self._raise_issue(TunnelIssue.UNEXPECTED_ANSWER, backoff, result.message)
        elif result.refused:
            self._report_refusal(result.status)

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

    def _raise_issue(
        self, issue: TunnelIssue, backoff: Backoff | None = None, message: str = ""
    ) -> None:
        if self._stopped:
            return
        async_raise_tunnel_issue(
            self.hass,
            issue,
            tunnel_id=self.tunnel_id,
            tunnel_name=self.subentry.title,
            backoff=backoff,
            message=message,
        )

    def _fire(self, trigger_type: str, attempt: UpdateAttempt) -> None:
        async_fire_device_event(
            self.hass,
            self.device_id,
            trigger_type,
            tunnel_id=self.tunnel_id,
            ip=attempt.ip,
            result=attempt.result.status.value,
            message=attempt.result.message,
        )
