"""The one sender per tunnel: every request HE gets about a tunnel goes through it.

Automatic updates, the button, the action and the flows (setup, reauth, reconfigure) all take
the tunnel's turn (`lock`), decide inside it on the facts of that moment (update_policy), and
send through it. So two callers at once cost one request, and a flow's update starts the
minimum interval like any other. The sender outlives reloads (one per tunnel id per Home
Assistant); what an entry does with an answer (issues, events, reauth) is the updater's.

Each request is written ahead: the address is marked unsettled before it goes out, so a reply
that is lost, a reload or unload that cancels it, or a crash leaves the endpoint unconfirmed,
never taken for held.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
import logging

from homeassistant.core import HomeAssistant, callback
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .clients import create_he_client
from .const import DOMAIN, LOGGER
from .endpoint_store import EndpointStore, TunnelMemory, async_get_endpoint_store
from .protocol.he_client import (
    TunnelbrokerClient,
    TunnelCredentials,
    UpdateAttempt,
    UpdateResult,
    UpdateStatus,
)
from .protocol.update_policy import (
    AUTH_FAILURE_LIMIT,
    MIN_UPDATE_INTERVAL,
    NO_BACKOFF,
    Caller,
    Decision,
    Facts,
    Refusal,
    decide,
)

DATA_SENDERS: HassKey[dict[str, TunnelSender]] = HassKey(f"{DOMAIN}_senders")


@dataclass(frozen=True, slots=True)
class Situation:
    """What a caller knows beyond the store: the address, the options, HE's information."""

    address: str | None
    automatic: bool = True
    can_ask_he: bool = False
    min_interval: timedelta = MIN_UPDATE_INTERVAL


class TunnelSender:
    """Serialises and records every HE request of one tunnel."""

    def __init__(
        self, tunnel_id: str, client: TunnelbrokerClient, store: EndpointStore
    ) -> None:
        """Initialize for one tunnel id."""
        self.tunnel_id = tunnel_id
        self.client = client
        self.store = store
        # Held by whoever decides and sends; nobody sends for this tunnel without it.
        self.lock = asyncio.Lock()
        # A flow's attempt, until the tunnel's next updater (after the reload) shows it.
        self._unshown: UpdateAttempt | None = None
        self._listeners: list[Callable[[], None]] = []
        # When HE refused the credentials lately (kept in memory, the last few only).
        self._failed_auths: deque[datetime] = deque(maxlen=AUTH_FAILURE_LIMIT)

    @property
    def memory(self) -> TunnelMemory:
        """Return what is remembered about the tunnel."""
        return self.store.memory(self.tunnel_id)

    def facts(self, situation: Situation) -> Facts:
        """Return the facts of this moment."""
        memory = self.memory
        return Facts(
            address=situation.address,
            endpoint=memory.record.endpoint if memory.record else None,
            confirmed=memory.confirmed,
            sent_at=memory.sent_at,
            backoff=memory.backoff,
            refusal=memory.refusal,
            automatic=situation.automatic,
            can_ask_he=situation.can_ask_he,
            min_interval=situation.min_interval,
            failed_auths=tuple(self._failed_auths),
        )

    def decide(
        self, situation: Situation, caller: Caller, *, force: bool = False
    ) -> Decision:
        """Return what `caller` may do now (inside the lock, for it to hold)."""
        return decide(self.facts(situation), caller, dt_util.utcnow(), force=force)

    async def async_send(
        self,
        credentials: TunnelCredentials,
        ip: str,
        *,
        caller: Caller,
        remember_refusal: bool = True,
    ) -> UpdateAttempt:
        """Send `ip` (the lock held) and remember what HE's answer says about the endpoint.

        `remember_refusal` is False for flows: a typo in a form must not stop the tunnel's
        automatic updates; HE's block and an unsettled answer count whoever sent.
        """
        assert self.lock.locked()
        before = self.memory
        await self.store.async_sending(self.tunnel_id, ip, dt_util.utcnow())
        result = await self.client.async_update_endpoint(credentials, ip)
        attempt = UpdateAttempt(
            ip=ip,
            result=result,
            at=dt_util.utcnow(),
            automatic=caller is Caller.AUTOMATIC,
        )
        if result.status is UpdateStatus.BADAUTH:
            self._failed_auths.append(attempt.at)
        await self._async_remember(before, attempt, remember_refusal)
        return attempt

    async def _async_remember(
        self, before: TunnelMemory, attempt: UpdateAttempt, remember_refusal: bool
    ) -> None:
        result: UpdateResult = attempt.result
        backoff = before.backoff or NO_BACKOFF
        if result.success:
            await self.store.async_confirmed(
                self.tunnel_id, result.ip or attempt.ip, attempt.at
            )
        elif result.unsettled:
            await self.store.async_failed(
                self.tunnel_id, backoff.after_failure(attempt.at)
            )
        else:
            # HE answered and changed nothing: what was open before stays open.
            refusal = before.refusal
            if result.status is UpdateStatus.ABUSE:
                backoff = backoff.after_abuse(attempt.at)
            elif remember_refusal:
                refusal = Refusal(ip=attempt.ip, status=result.status)
            await self.store.async_refused(
                self.tunnel_id,
                unsettled=before.unsettled,
                refusal=refusal,
                backoff=None if backoff is NO_BACKOFF else backoff,
            )
        LOGGER.log(
            logging.INFO if result.success else logging.WARNING,
            "Tunnel %s endpoint update to %s: %s %s",
            self.tunnel_id,
            attempt.ip,
            result.status,
            result.message,
        )

    async def async_adopt(self, ip: str) -> None:
        """HE's tunnel information says it holds `ip` (the lock held)."""
        if not self.store.holds(self.tunnel_id, ip):
            LOGGER.info("Tunnel %s: HE holds %s as its endpoint", self.tunnel_id, ip)
            await self.store.async_adopt(self.tunnel_id, ip, dt_util.utcnow())

    @callback
    def async_add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` when someone else (a flow) changed what is remembered."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def async_changed_by_flow(self) -> None:
        """Tell the tunnel's loaded updater that a flow sent or read (its Status may change)."""
        for listener in list(self._listeners):
            listener()

    async def async_forget(self) -> None:
        """Forget the tunnel (removed, or its id changed), in its turn."""
        async with self.lock:
            await self.store.async_forget({self.tunnel_id})

    def note_unshown(self, attempt: UpdateAttempt) -> None:
        """Keep a flow's attempt for the tunnel's next updater to show."""
        self._unshown = attempt

    def take_unshown(self) -> UpdateAttempt | None:
        """Return (once) the attempt a flow made before this updater started."""
        attempt, self._unshown = self._unshown, None
        return attempt


async def async_tunnel_sender(hass: HomeAssistant, tunnel_id: str) -> TunnelSender:
    """Return the tunnel's one sender (made on first use, kept across reloads)."""
    senders = hass.data.setdefault(DATA_SENDERS, {})
    if (sender := senders.get(tunnel_id)) is None:
        store = await async_get_endpoint_store(hass)
        # Another caller may have made it while the store loaded.
        sender = senders.setdefault(
            tunnel_id, TunnelSender(tunnel_id, create_he_client(hass), store)
        )
    return sender
