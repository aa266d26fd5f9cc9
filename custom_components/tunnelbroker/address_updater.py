"""What a tunnel and a dns.he.net record share once loaded: when to send, answers, lifecycle.

HE blocks clients that send updates that are not needed, so every send is decided by
update_policy.decide, inside the one sender (he_sender) of what is updated, on the facts of
that moment; Status reads the same decision. Answers only the user can fix raise a reauth flow
(badauth) or a repair issue; the next success clears them. A tunnel (tunnel_updater) adds HE's
tunnel information; a record (record_updater) is its A or its AAAA.

The lifecycle stops: once the entry (or the subentry) is unloaded, nothing of this updater
schedules, sends, stores or raises issues again. Its timer is cancelled and its work in flight
too; a request cancelled on its way leaves the address unconfirmed (the sender writes ahead),
which the next updater settles.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from collections.abc import Callable, Coroutine, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

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
)
from .devices import async_fire_device_event
from .endpoint_store import EndpointRecord
from .he_sender import HeSender, Situation
from .protocol.dns_client import RecordCredentials
from .protocol.he_client import TunnelCredentials, UpdateAttempt, UpdateStatus
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
from .wording import duration, moment_from_now

if TYPE_CHECKING:
    from .coordinator import RouterCoordinator

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
class AddressState:
    """What an updater's entities show: one snapshot, published after every change."""

    address_known: bool  # the address to send is known (the router answers)
    address: str | None  # what would be sent: the router's address, or a record's AAAA
    holds_address: bool  # HE is known to hold it
    record: EndpointRecord | None  # what HE last confirmed
    status: EndpointStatus | None
    next_attempt: datetime | None
    last_attempt: UpdateAttempt | None


class StatePublisher[StateT: AddressState](DataUpdateCoordinator[StateT]):
    """An updater's one published state, which its entities read: the updater sets it, no poll."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        name: str,
        snapshot: Callable[[], StateT],
    ) -> None:
        """Initialize; the first refresh publishes the state."""
        super().__init__(
            hass, LOGGER, config_entry=entry, name=name, update_interval=None
        )
        self._snapshot = snapshot

    async def _async_update_data(self) -> StateT:
        """Return the state as of now (homeassistant.update_entity asks for it)."""
        return self._snapshot()


class AddressUpdater[
    CredentialsT: (TunnelCredentials, RecordCredentials),
    StateT: AddressState,
](ABC):
    """One thing a router's address (or a host's) is sent to: its sender, last attempt, timer."""

    # What a refused request says, and an update stopped on its way (translation keys).
    refused_request: ClassVar[dict[Why, str]] = REFUSED_REQUEST
    stopped_key: ClassVar[str]
    # The repair issues of HE's block and of an answer nobody knows.
    abuse_issue: ClassVar[StrEnum]
    unexpected_issue: ClassVar[StrEnum]
    # The device triggers of an update taken and of one that failed.
    updated_trigger: ClassVar[str]
    failed_trigger: ClassVar[str]
    # The IP version sent (a record's AAAA: 6).
    version: int = 4

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        subentry: ConfigSubentry,
        *,
        router: RouterCoordinator,
        sender: HeSender[CredentialsT],
        credentials: CredentialsT,
        device_id: str,
        min_interval: timedelta = MIN_UPDATE_INTERVAL,
    ) -> None:
        """Initialize from the subentry, its sender and its device."""
        self.hass = hass
        self.entry = entry
        self.subentry = subentry
        self.router = router
        self.sender: HeSender[CredentialsT] = sender
        self.credentials: CredentialsT = credentials
        self.device_id = device_id
        self._min_interval = min_interval
        self.last_attempt: UpdateAttempt | None = None
        self._cancel_timer: CALLBACK_TYPE | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped = False
        self.state_publisher = StatePublisher(
            hass, entry, f"{DOMAIN} {sender.name}", self.snapshot
        )

    # -- what each kind adds -----------------------------------------------------------------
    @abstractmethod
    def snapshot(self) -> StateT:
        """Return what the entities show, as of now (from `_state_fields`)."""

    @abstractmethod
    def _raise_issue(
        self, issue: StrEnum, backoff: Backoff | None = None, message: str = ""
    ) -> None:
        """Show a problem in Repairs."""

    @abstractmethod
    def _clear_issues(self, *, keep_block: bool = False) -> None:
        """Delete the problems HE's answers raised (HE took an update; the block may stay)."""

    @abstractmethod
    def _report_refused_target(self, status: UpdateStatus) -> None:
        """Ask the user to fix what HE does not know (nohost, notfqdn, badagent, ICMP)."""

    @abstractmethod
    def _event_details(self, attempt: UpdateAttempt) -> dict[str, Any]:
        """Return what the device event of an attempt says besides its outcome."""

    def _can_ask_he(self) -> bool:
        """Return whether HE can say what it holds without an update (tunnel information)."""
        return False

    async def _async_ask_he(self) -> None:
        """Take what HE holds from HE's information (the lock held), where HE gives one."""

    def _taken(self, attempt: UpdateAttempt) -> None:
        """HE took an update (what else learns of it)."""

    # -- the address and the decision --------------------------------------------------------
    @property
    def name(self) -> str:
        """Return the subentry's title (what the user named it)."""
        return self.subentry.title

    @property
    def record(self) -> EndpointRecord | None:
        """Return the address HE last confirmed."""
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

    @property
    def address(self) -> str | None:
        """Return what is sent: the router's WAN address (None: unknown)."""
        return self.router_address

    def usable_address(self) -> str:
        """Return the address to send for a request made now, or raise why there is none."""
        return self.router.usable_external_ip()

    def _situation(self, address: str | None = None) -> Situation:
        return Situation(
            address=self.address if address is None else address,
            automatic=self.automatic,
            can_ask_he=self._can_ask_he(),
            min_interval=self._min_interval,
            version=self.version,
        )

    def decision(self) -> Decision:
        """Return what the automatic update does now (what Status shows)."""
        return self.sender.decide(self._situation(), Caller.AUTOMATIC)

    def _state_fields(self) -> dict[str, Any]:
        """Return the fields every state has, as of now."""
        decision = self.decision()
        address = self.address
        return {
            "address_known": address is not None,
            "address": address,
            "holds_address": self.holds(address),
            "record": self.record,
            "status": endpoint_status(decision),
            "next_attempt": decision.until if decision.act is Act.WAIT else None,
            "last_attempt": self.last_attempt,
        }

    def _publish(self) -> None:
        if not self._stopped:
            self.state_publisher.async_set_updated_data(self.snapshot())

    # -- lifecycle ---------------------------------------------------------------------------
    async def async_config_entry_first_refresh(self) -> None:
        """Publish the state once the router is read, with the attempt of the last flow."""
        self.last_attempt = self.sender.take_unshown()
        await self.state_publisher.async_config_entry_first_refresh()

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
            self._raise_issue(self.abuse_issue, backoff)
        if (refusal := memory.refusal) is not None:
            self._report_refusal(refusal.status)
        # A reconfigure or reauth flow sends through the same sender.
        self.entry.async_on_unload(
            self.sender.async_add_listener(self._async_on_flow_change)
        )
        self._spawn(self._async_start(), "start")

    @callback
    def _async_on_flow_change(self) -> None:
        self._publish()
        self.async_schedule_automatic_update()

    async def _async_start(self) -> None:
        if self._can_ask_he():
            # Off the path of any change: HE's word on what it holds, read once at start.
            async with self.sender.lock:
                await self._async_ask_he()
            self._publish()
        # The address may have changed while Home Assistant was not running.
        await self._async_automatic()

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
            self.hass, coro, f"{DOMAIN} {self.sender.name} {what}"
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
        """HE holds the address again: an ended wait or another address's refusal go.

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
            await self.sender.store.async_settled(self.sender.key, backoff_ended=ended)
        self._clear_issues(keep_block=not ended)
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
        """Decide inside the sender's turn and act: ask HE, send, or leave it to the timer."""
        async with self.sender.lock:
            decision = self.decision()
            if decision.act is Act.ASK_HE:
                await self._async_ask_he()
                decision = self.decision()
            attempt = None
            # Still unconfirmed after asking (HE did not say): the update settles it.
            sending = decision.act in (Act.SEND, Act.ASK_HE)
            if sending and (ip := self.address):
                attempt = await self.sender.async_send(
                    self.credentials, ip, caller=Caller.AUTOMATIC
                )
        if attempt is not None:
            self._after(attempt)
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
            translation_key=self.refused_request[decision.why],
            translation_placeholders={
                "tunnel": self.name,
                "title": self.entry.title,
                "ip": address,
                "until": moment_from_now(decision.until or dt_util.utcnow()),
                "interval": duration(self._min_interval),
            },
        )

    async def async_request(
        self, caller: Caller, address: str | None = None, *, force: bool = False
    ) -> UpdateAttempt | None:
        """Send `address` (None: the usual one) as the user asked, in the sender's turn.

        Returns None when HE holds it already.
        """
        async with self.sender.lock:
            return await self.async_request_in_turn(caller, address, force=force)

    async def async_request_in_turn(
        self, caller: Caller, address: str | None = None, *, force: bool = False
    ) -> UpdateAttempt | None:
        """Decide and send with the sender's turn held: a send just made by another counts.

        The router's address is read in the turn, so a request that waited sends the
        address of now. The request is the updater's own work: stopping the updater cancels
        it, and the user is told so in words.
        """
        assert self.sender.lock.locked()
        if address is None:
            address = self.usable_address()
        if self.check_request(caller, address, force=force).act is not Act.SEND:
            return None
        if self._stopped:
            raise self._stopped_error()
        task = self.entry.async_create_task(
            self.hass,
            self.sender.async_send(self.credentials, address, caller=caller),
            f"{DOMAIN} {self.sender.name} {caller} update",
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
            translation_key=self.stopped_key,
            translation_placeholders={"tunnel": self.name},
        )

    # -- what an answer leads to -------------------------------------------------------------
    def _show(self, attempt: UpdateAttempt) -> None:
        if self._stopped:
            return
        self.last_attempt = attempt
        if attempt.result.success:
            self._clear_issues()
            LOGGER.info(
                "%s is %s (%s)",
                self.sender.name,
                attempt.ip,
                attempt.result.message or attempt.result.status,
            )
        self._fire(
            self.updated_trigger if attempt.result.success else self.failed_trigger,
            attempt,
        )

    def _after(self, attempt: UpdateAttempt) -> None:
        """Tell the user what HE's answer means (the sender has remembered it)."""
        if self._stopped:
            return
        self._show(attempt)
        result = attempt.result
        if result.success:
            self._taken(attempt)
            return
        backoff = self.backoff
        if result.status is UpdateStatus.ABUSE:
            self._raise_issue(self.abuse_issue, backoff)
        elif result.status in (UpdateStatus.ERROR, UpdateStatus.UNKNOWN):
            self._raise_issue(self.unexpected_issue, backoff, result.message)
        elif result.refused:
            self._report_refusal(result.status)

    def _report_refusal(self, status: UpdateStatus) -> None:
        """Ask the user for what only they can fix: new credentials, or what HE refused."""
        if status is UpdateStatus.BADAUTH:
            self.entry.async_start_reauth(
                self.hass, data={REAUTH_SUBENTRY_ID: self.subentry.subentry_id}
            )
        else:
            self._report_refused_target(status)

    def _fire(self, trigger_type: str, attempt: UpdateAttempt) -> None:
        async_fire_device_event(
            self.hass,
            self.device_id,
            trigger_type,
            ip=attempt.ip,
            result=attempt.result.status.value,
            message=attempt.result.message,
            **self._event_details(attempt),
        )


def issues_to_clear[IssueT: StrEnum](
    issues: Iterable[IssueT], abuse: IssueT, *, keep_block: bool
) -> list[IssueT]:
    """Return HE's issues to delete: all of them, or all but a block that still runs."""
    return [issue for issue in issues if not (keep_block and issue is abuse)]


async def async_request_together(
    updaters: Sequence[AddressUpdater[Any, Any]],
    caller: Caller,
    *,
    ipv4: str | None = None,
    force: bool = False,
) -> list[tuple[AddressUpdater[Any, Any], str, UpdateAttempt | None]]:
    """Send what a user asked of several updaters at once: all of it or nothing.

    Every sender's turn is taken (in one order: no two requests wait on each other), then
    every updater is decided before anything is sent. `ipv4` replaces the router's address
    (a record's AAAA keeps its own). Returns each updater, the address, HE's answer (None:
    HE held it).
    """
    async with AsyncExitStack() as turns:
        for updater in sorted(updaters, key=lambda updater: updater.sender.key):
            await turns.enter_async_context(updater.sender.lock)
        # The router's address of now, in the turns: a request that waited sends it.
        addresses = [
            ipv4
            if ipv4 is not None and updater.version == 4
            else updater.usable_address()
            for updater in updaters
        ]
        for updater, address in zip(updaters, addresses, strict=True):
            updater.check_request(caller, address, force=force)
        return [
            (
                updater,
                address,
                await updater.async_request_in_turn(caller, address, force=force),
            )
            for updater, address in zip(updaters, addresses, strict=True)
        ]


def update_failed_error(
    answers: Iterable[tuple[AddressUpdater[Any, Any], str, UpdateAttempt | None]],
) -> HomeAssistantError | None:
    """Return the error that says which updates HE did not take, if any."""
    failures = [
        f"{updater.sender.name}: {attempt.describe()}"
        for updater, _, attempt in answers
        if attempt is not None and not attempt.result.success
    ]
    if not failures:
        return None
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="update_failed",
        translation_placeholders={"details": "; ".join(failures)},
    )
