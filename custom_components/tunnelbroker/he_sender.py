"""The one sender per tunnel, and per dns.he.net record: every update HE gets goes through it.

Automatic updates, the buttons, the action and the flows (setup, reauth, reconfigure) all take
the sender's turn (`lock`), decide inside it on the facts of that moment (update_policy), and
send through it. So two callers at once cost one request, and a flow's update starts the
minimum interval like any other. A sender outlives reloads (one per tunnel id, one per record
name and type, per Home Assistant); what an entry does with an answer (issues, events, reauth)
is its updater's.

Each request is written ahead: the address is marked unsettled before it goes out, so a reply
that is lost, a reload or unload that cancels it, or a crash leaves the endpoint unconfirmed,
never taken for held.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
import logging
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .clients import create_dns_client, create_he_client
from .const import DOMAIN, LOGGER
from .endpoint_store import EndpointStore, TunnelMemory, async_get_endpoint_store
from .protocol.dns_client import RecordCredentials, RecordType
from .protocol.he_client import (
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

DATA_SENDERS: HassKey[dict[str, HeSender[Any]]] = HassKey(f"{DOMAIN}_senders")


@dataclass(frozen=True, slots=True)
class Situation:
    """What a caller knows beyond the store: the address, the options, HE's information."""

    address: str | None
    automatic: bool = True
    can_ask_he: bool = False
    min_interval: timedelta = MIN_UPDATE_INTERVAL
    version: int = 4


class HeSender[CredentialsT: (TunnelCredentials, RecordCredentials)]:
    """Serialises and records every HE request of one tunnel, or one record's A or AAAA."""

    def __init__(
        self,
        key: str,
        name: str,
        update: Callable[[CredentialsT, str], Awaitable[UpdateResult]],
        store: EndpointStore,
    ) -> None:
        """Initialize for what `key` names in the store; `name` is what the log says."""
        self.key = key
        self.name = name
        self._update: Callable[[CredentialsT, str], Awaitable[UpdateResult]] = update
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
        return self.store.memory(self.key)

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
            version=situation.version,
        )

    def decide(
        self, situation: Situation, caller: Caller, *, force: bool = False
    ) -> Decision:
        """Return what `caller` may do now (inside the lock, for it to hold)."""
        return decide(self.facts(situation), caller, dt_util.utcnow(), force=force)

    async def async_send(
        self,
        credentials: CredentialsT,
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
        await self.store.async_sending(self.key, ip, dt_util.utcnow())
        result = await self._update(credentials, ip)
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
                self.key, result.ip or attempt.ip, attempt.at
            )
        elif result.unsettled:
            await self.store.async_failed(self.key, backoff.after_failure(attempt.at))
        else:
            # HE answered and changed nothing: what was open before stays open.
            refusal = before.refusal
            if result.status is UpdateStatus.ABUSE:
                backoff = backoff.after_abuse(attempt.at)
            elif result.status is UpdateStatus.INTERVAL:
                # Too many updates of a record lately: a retry, later.
                backoff = backoff.after_failure(attempt.at)
            elif remember_refusal:
                refusal = Refusal(ip=attempt.ip, status=result.status)
            await self.store.async_refused(
                self.key,
                unsettled=before.unsettled,
                refusal=refusal,
                backoff=None if backoff is NO_BACKOFF else backoff,
            )
        LOGGER.log(
            logging.INFO if result.success else logging.WARNING,
            "%s update to %s: %s %s",
            self.name,
            attempt.ip,
            result.status,
            result.message,
        )

    async def async_adopt(self, ip: str) -> None:
        """HE's tunnel information says it holds `ip` (the lock held)."""
        if not self.store.holds(self.key, ip):
            LOGGER.info("%s: HE holds %s", self.name, ip)
            await self.store.async_adopt(self.key, ip, dt_util.utcnow())

    @callback
    def async_add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` when someone else (a flow) changed what is remembered."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def async_changed_by_flow(self) -> None:
        """Tell the loaded updater that a flow sent or read (its Status may change)."""
        for listener in list(self._listeners):
            listener()

    async def async_forget(self) -> None:
        """Forget it (removed, or its id or name changed), in its turn."""
        async with self.lock:
            await self.store.async_forget({self.key})

    def note_unshown(self, attempt: UpdateAttempt) -> None:
        """Keep a flow's attempt for the next updater to show."""
        self._unshown = attempt

    def take_unshown(self) -> UpdateAttempt | None:
        """Return (once) the attempt a flow made before this updater started."""
        attempt, self._unshown = self._unshown, None
        return attempt


type TunnelSender = HeSender[TunnelCredentials]
type RecordSender = HeSender[RecordCredentials]


def record_key(hostname: str, record_type: RecordType) -> str:
    """Return what the store knows a record's A or AAAA by (a tunnel's is its numeric id)."""
    return f"record {hostname} {record_type}"


async def async_tunnel_sender(hass: HomeAssistant, tunnel_id: str) -> TunnelSender:
    """Return the tunnel's one sender (made on first use, kept across reloads)."""
    return await _async_sender(
        hass,
        tunnel_id,
        lambda store: HeSender(
            tunnel_id,
            f"Tunnel {tunnel_id} endpoint",
            create_he_client(hass).async_update_endpoint,
            store,
        ),
    )


async def async_record_sender(
    hass: HomeAssistant, hostname: str, record_type: RecordType
) -> RecordSender:
    """Return the one sender of a record's A or AAAA (made on first use, kept across reloads)."""
    key = record_key(hostname, record_type)
    return await _async_sender(
        hass,
        key,
        lambda store: HeSender(
            key,
            f"Record {hostname} {record_type}",
            create_dns_client(hass).async_update_record,
            store,
        ),
    )


async def _async_sender[SenderT: HeSender[Any]](
    hass: HomeAssistant, key: str, make: Callable[[EndpointStore], SenderT]
) -> SenderT:
    senders = hass.data.setdefault(DATA_SENDERS, {})
    if (sender := senders.get(key)) is None:
        store = await async_get_endpoint_store(hass)
        # Another caller may have made it while the store loaded.
        sender = senders.setdefault(key, make(store))
    return sender  # type: ignore[return-value]
