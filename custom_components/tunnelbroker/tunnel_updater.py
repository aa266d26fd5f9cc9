"""A tunnel of a loaded router entry: HE's tunnel information, its issues, its events.

What to send and when, and what an answer leads to, is every updater's (address_updater).
A tunnel adds HE's tunnel information: read once at start (our record may be behind HE), and
whenever it is read, its endpoint is taken if it is newer than ours; an unconfirmed endpoint
is settled by asking it rather than by sending.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.util import dt as dt_util

from .address_updater import (
    AddressState,
    AddressUpdater,
    StatePublisher,
    issues_to_clear,
)
from .const import TRIGGER_ENDPOINT_UPDATE_FAILED, TRIGGER_ENDPOINT_UPDATED
from .he_sender import TunnelSender
from .protocol.he_client import (
    TunnelCredentials,
    TunnelInfo,
    UpdateAttempt,
    UpdateStatus,
    held_attempt,
)
from .protocol.update_policy import MIN_UPDATE_INTERVAL, Backoff, Why
from .repair_issues import (
    HE_ISSUES,
    TunnelIssue,
    async_clear_tunnel_issues,
    async_raise_tunnel_issue,
)
from .tunnel_subentries import tunnel_credentials

if TYPE_CHECKING:
    from .coordinator import RouterCoordinator
    from .tunnel_info import TunnelInfoCoordinator


@dataclass(frozen=True, slots=True)
class TunnelState(AddressState):
    """What a tunnel's entities show, HE's tunnel information included."""

    info: TunnelInfo | None = None


type TunnelStatePublisher = StatePublisher[TunnelState]


class TunnelUpdater(AddressUpdater[TunnelCredentials, TunnelState]):
    """One tunnel of a router: its credentials, its sender, HE's information about it."""

    stopped_key = "tunnel_stopped"
    abuse_issue = TunnelIssue.ABUSE
    unexpected_issue = TunnelIssue.UNEXPECTED_ANSWER
    updated_trigger = TRIGGER_ENDPOINT_UPDATED
    failed_trigger = TRIGGER_ENDPOINT_UPDATE_FAILED

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
        self.info = info
        super().__init__(
            hass,
            entry,
            subentry,
            router=router,
            sender=sender,
            credentials=tunnel_credentials(subentry),
            device_id=device_id,
            min_interval=min_interval,
        )

    @property
    def tunnel_id(self) -> str:
        """Return HE's tunnel id."""
        return self.credentials.tunnel_id

    def snapshot(self) -> TunnelState:
        """Return what the tunnel's entities show, as of now."""
        return TunnelState(**self._state_fields(), info=self.info.data)

    # -- HE's tunnel information -------------------------------------------------------------
    def _can_ask_he(self) -> bool:
        return self.info.refused is None

    @callback
    def async_start(self) -> None:
        """Start; each read of HE's information keeps our record honest."""
        self.entry.async_on_unload(self.info.async_add_listener(self._async_on_info))
        super().async_start()

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

    def _taken(self, attempt: UpdateAttempt) -> None:
        if self.info.data is not None:
            # HE just told us its endpoint: no need to ask tunnelInfo.php again.
            self.info.async_set_updated_data(
                replace(self.info.data, client_v4=attempt.result.ip or attempt.ip)
            )

    # -- issues and events -------------------------------------------------------------------
    def _report_refused_target(self, status: UpdateStatus) -> None:
        if status is UpdateStatus.NOHOST:
            self._raise_issue(TunnelIssue.TUNNEL_NOT_FOUND)
        elif status is UpdateStatus.ICMP_BLOCKED:
            self._raise_issue(TunnelIssue.ICMP_BLOCKED)

    def _raise_issue(
        self, issue: StrEnum, backoff: Backoff | None = None, message: str = ""
    ) -> None:
        if self.stopped:
            return
        async_raise_tunnel_issue(
            self.hass,
            TunnelIssue(issue),
            tunnel_id=self.tunnel_id,
            tunnel_name=self.subentry.title,
            backoff=backoff,
            message=message,
        )

    def _clear_issues(self, *, keep_block: bool = False) -> None:
        async_clear_tunnel_issues(
            self.hass,
            self.tunnel_id,
            issues_to_clear(HE_ISSUES, TunnelIssue.ABUSE, keep_block=keep_block),
        )

    def _event_details(self, attempt: UpdateAttempt) -> dict[str, Any]:
        return {"tunnel_id": self.tunnel_id}
