"""Router events in Home Assistant: the shared notify servers and each router's subscription.

The router pushes a NOTIFY when its WAN address changes; the coordinator then reads the address
back at once. The events are trusted once the router's initial NOTIFY has arrived; while they
are, polling is only a safety net. When the router refuses events, or its NOTIFYs do not arrive,
polling is fast and subscribing is retried. A renewal the router
rejects (it forgot us) becomes a new subscription; a router reboot seen by SSDP (new BOOTID,
byebye/alive) too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from ipaddress import ip_address
from urllib.parse import urlsplit

from async_upnp_client.exceptions import UpnpError
from async_upnp_client.utils import async_get_local_ip

from homeassistant.components import ssdp
from homeassistant.components.ssdp.scanner import SsdpChange
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.service_info.ssdp import SsdpServiceInfo
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .clients import create_router_requester
from .const import (
    CONF_CALLBACK_URL,
    CONF_LISTEN_PORT,
    DOMAIN,
    EVENTS_ISSUE_AFTER,
    INITIAL_EVENT_TIMEOUT,
    LOGGER,
    RESUBSCRIBE_RETRY,
    ROUTER_POLL_INTERVAL,
)
from .coordinator import RouterCoordinator
from .protocol.igd_client import RouterError
from .protocol.igd_events import GuardedNotifyServer, IgdEventSubscription
from .protocol.local_network import location_host
from .repair_issues import (
    EventsIssue,
    async_clear_events_issues,
    async_raise_events_issue,
)

type _ServerKey = tuple[str, int, str | None]
# Reboot hints (SSDP announcements) cause work in a burst of at most this many, then at most
# one per interval; one beyond that is checked when the interval allows, not dropped.
REBOOT_HINT_BURST = 3
REBOOT_HINT_INTERVAL = timedelta(minutes=1)
DATA_NOTIFY_SERVERS: HassKey[dict[_ServerKey, _SharedServer]] = HassKey(
    f"{DOMAIN}_notify_servers"
)


class EventsState(StrEnum):
    """Whether the router's events reach Home Assistant (an enum sensor's states)."""

    SUBSCRIBING = "subscribing"  # the first NOTIFY is awaited
    SUBSCRIBED = "subscribed"  # events arrive (trusted)
    REFUSED = "refused"  # the router refused the subscription
    NOT_ARRIVING = "not_arriving"  # no NOTIFY arrived
    CANNOT_LISTEN = "cannot_listen"  # no local port for events


@dataclass
class _SharedServer:
    server: GuardedNotifyServer
    started: asyncio.Future[None]
    users: int = 0


async def _async_router_hosts(location: str) -> frozenset[str]:
    """Return the addresses of the description URL's host (a name is resolved once)."""
    host = urlsplit(location).hostname or ""
    try:
        return frozenset({str(ip_address(host))})
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
        return frozenset(str(info[4][0]) for info in infos)


async def _async_acquire_server(
    hass: HomeAssistant, key: _ServerKey, router_hosts: frozenset[str]
) -> GuardedNotifyServer:
    """Return the notify server for this source address, started once for its first user.

    Two routers set up at the same time share the one start (the second waits for it), so
    exactly one server is registered and counted.
    """
    servers = hass.data.setdefault(DATA_NOTIFY_SERVERS, {})
    if (shared := servers.get(key)) is None:
        source_ip, port, callback_url = key
        server = GuardedNotifyServer(
            create_router_requester(hass),
            source=(source_ip, port),
            callback_url=callback_url,
        )
        shared = servers[key] = _SharedServer(server, hass.loop.create_future())
        try:
            await server.async_start_server()
        except BaseException as err:
            del servers[key]
            shared.started.set_exception(err)
            shared.started.exception()  # retrieved: the waiters get it too
            raise
        shared.started.set_result(None)
    shared.users += 1
    try:
        await asyncio.shield(shared.started)
    except BaseException:
        shared.users -= 1
        raise
    for host in router_hosts:
        shared.server.allow(host)
    return shared.server


async def _async_release_server(
    hass: HomeAssistant, key: _ServerKey, router_hosts: frozenset[str]
) -> None:
    servers = hass.data.get(DATA_NOTIFY_SERVERS, {})
    if (shared := servers.get(key)) is None:
        return
    for host in router_hosts:
        shared.server.disallow(host)
    shared.users -= 1
    if shared.users <= 0:
        del servers[key]
        await shared.server.async_stop_server()


class RouterEvents:
    """One router's event subscription, and the polling that backs it up."""

    def __init__(self, hass: HomeAssistant, coordinator: RouterCoordinator) -> None:
        """Prepare; async_start() subscribes."""
        self.hass = hass
        self.coordinator = coordinator
        self._subscription: IgdEventSubscription | None = None
        self._server_key: _ServerKey | None = None
        self._cancel_retry: CALLBACK_TYPE | None = None
        self._cancel_ssdp: CALLBACK_TYPE | None = None
        self._cancel_follow: CALLBACK_TYPE | None = None
        self._cancel_initial: CALLBACK_TYPE | None = None
        self._boot_id: str | None = None
        self._failure_logged = False
        self.last_error: str | None = None
        self.state = EventsState.SUBSCRIBING
        self._failing_since: datetime | None = None
        self._listeners: list[CALLBACK_TYPE] = []
        # Once stopped, nothing of these events schedules or subscribes again.
        self._stopped = False
        # A renewal or retry under way.
        self._in_flight: asyncio.Task[None] | None = None
        # Reboot hints acted upon: a small burst, then one a minute (a token bucket).
        self._hint_tokens = float(REBOOT_HINT_BURST)
        self._hint_refilled: datetime | None = None
        self._cancel_hint: CALLBACK_TYPE | None = None
        self.callback_url: str | None = None  # where the router is asked to send events
        # NOTIFYs are taken only from the router (its description's host, resolved).
        self._router_hosts: frozenset[str] = frozenset()

    @callback
    def async_add_listener(self, update_callback: CALLBACK_TYPE) -> Callable[[], None]:
        """Call `update_callback` when the state changes; return a remover."""
        self._listeners.append(update_callback)
        return lambda: self._listeners.remove(update_callback)

    def _set_state(self, state: EventsState) -> None:
        if state is self.state:
            return
        self.state = state
        for update_callback in list(self._listeners):
            update_callback()

    @property
    def stopped(self) -> bool:
        """Return whether these events were stopped for good (entry unload)."""
        return self._stopped

    @property
    def subscribed(self) -> bool:
        """Return whether the router holds our subscription (its events may not arrive)."""
        return self._subscription is not None and self._subscription.subscribed

    async def async_start(self) -> None:
        """Start (or share) the notify server, subscribe, and watch SSDP for reboots."""
        entry = self.coordinator.config_entry
        location = self.coordinator.client.info.location
        source_ip = "-"
        try:
            _family, source_ip = await async_get_local_ip(location)
            self._server_key = (
                source_ip,
                int(entry.options.get(CONF_LISTEN_PORT) or 0),
                entry.options.get(CONF_CALLBACK_URL) or None,
            )
            self._router_hosts = await _async_router_hosts(location)
            server = await _async_acquire_server(
                self.hass, self._server_key, self._router_hosts
            )
        except (OSError, UpnpError) as err:
            self._server_key = None
            self.last_error = f"cannot listen for events on {source_ip}: {err}"
            LOGGER.warning(
                "%s; polling every %s", self.last_error, ROUTER_POLL_INTERVAL
            )
            self._set_state(EventsState.CANNOT_LISTEN)
            # Nothing changes this until the options do: tell the user at once.
            async_raise_events_issue(
                self.hass,
                EventsIssue.CANNOT_LISTEN,
                entry.entry_id,
                {
                    "name": self.coordinator.client.info.friendly_name,
                    "address": source_ip,
                    "port": str(entry.options.get(CONF_LISTEN_PORT) or "any"),
                    "error": str(err),
                },
            )
            return
        self.callback_url = server.callback_url
        self._subscription = IgdEventSubscription(
            self.coordinator.client, server, on_wan_event=self._on_wan_event
        )
        await self._async_subscribe()
        self._cancel_ssdp = await ssdp.async_register_callback(
            self.hass, self._async_on_ssdp, {"_udn": self.coordinator.udn}
        )
        self._cancel_follow = self.coordinator.async_add_listener(
            self._follow_the_connection_read
        )

    @callback
    def _follow_the_connection_read(self) -> None:
        """Move the subscription when the router client chose another connection.

        On a router with several connections, the one read can change (the default one
        went down, or came back): its events are the ones that matter.
        """
        subscription = self._subscription
        if (
            subscription is not None
            and subscription.subscribed
            and subscription.service is not self.coordinator.client.event_service
        ):
            self.hass.async_create_task(
                self._async_subscribe(), f"{DOMAIN} follow the connection read"
            )

    async def async_stop(self) -> None:
        """Stop for good: no timer, no renewal under way; unsubscribe, release the server."""
        self._stopped = True
        async_clear_events_issues(self.hass, self.coordinator.config_entry.entry_id)
        self._cancel_timer()
        if self._cancel_hint is not None:
            self._cancel_hint()
            self._cancel_hint = None
        self._cancel_initial_check()
        if (task := self._in_flight) is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._cancel_follow is not None:
            self._cancel_follow()
            self._cancel_follow = None
        if self._cancel_ssdp is not None:
            self._cancel_ssdp()
            self._cancel_ssdp = None
        if self._subscription is not None:
            await self._subscription.async_unsubscribe()
            self._subscription = None
        if self._server_key is not None:
            await _async_release_server(self.hass, self._server_key, self._router_hosts)
            self._server_key = None

    async def _async_subscribe(self, *, renew: bool = False) -> None:
        """Subscribe (or renew) and schedule the renewal; on failure poll fast and retry."""
        assert self._subscription is not None
        self._cancel_timer()
        fresh_before = self._subscription.fresh_subscriptions
        events_before = self._subscription.events_received
        try:
            if renew:
                renew_in = await self._subscription.async_renew()
            else:
                renew_in = await self._subscription.async_subscribe()
        except RouterError as err:
            if self.stopped:
                return
            self._events_fail(f"no events ({err})", EventsState.REFUSED)
            self._schedule(RESUBSCRIBE_RETRY, renew=False)
            return
        if self.stopped:
            return
        self._schedule(renew_in, renew=True)
        if self._subscription.fresh_subscriptions == fresh_before:
            return  # renewed: events kept flowing as before
        if self.state is not EventsState.NOT_ARRIVING:
            self._set_state(EventsState.SUBSCRIBING)
        # The events are trusted once the router's initial NOTIFY has arrived.
        self._cancel_initial_check()
        self._cancel_initial = async_call_later(
            self.hass,
            INITIAL_EVENT_TIMEOUT,
            partial(self._initial_event_check, events_before),
        )

    @callback
    def _initial_event_check(self, events_before: int, _now: datetime) -> None:
        self._cancel_initial = None
        if self._stopped or self._subscription is None:
            return
        if (
            self._subscription.events_received > events_before
            and self.coordinator.last_update_success
        ):
            self._events_work()
            return
        self._events_fail(
            "subscribed, but no NOTIFY arrived: a firewall, NAT or container keeps the "
            "router's events from reaching Home Assistant (see the callback URL option)",
            EventsState.NOT_ARRIVING,
        )
        self._schedule(RESUBSCRIBE_RETRY, renew=False)

    def _events_work(self) -> None:
        self.last_error = None
        self._failing_since = None
        async_clear_events_issues(self.hass, self.coordinator.config_entry.entry_id)
        self._set_state(EventsState.SUBSCRIBED)
        self.coordinator.set_events_trusted(True)
        if self._failure_logged:
            LOGGER.info(
                "%s sends events again", self.coordinator.client.info.friendly_name
            )
            self._failure_logged = False

    def _events_fail(self, reason: str, state: EventsState) -> None:
        self.last_error = reason
        self._set_state(state)
        self.coordinator.set_events_trusted(False)
        now = dt_util.utcnow()
        self._failing_since = self._failing_since or now
        if (
            state is EventsState.NOT_ARRIVING
            and now - self._failing_since >= EVENTS_ISSUE_AFTER
        ):
            async_raise_events_issue(
                self.hass,
                EventsIssue.NOT_ARRIVING,
                self.coordinator.config_entry.entry_id,
                {
                    "name": self.coordinator.client.info.friendly_name,
                    "callback_url": self.callback_url or "-",
                },
            )
        if not self._failure_logged:
            LOGGER.info(
                "%s: %s; polling every %s instead",
                self.coordinator.client.info.friendly_name,
                reason,
                ROUTER_POLL_INTERVAL,
            )
            self._failure_logged = True

    def _cancel_initial_check(self) -> None:
        if self._cancel_initial is not None:
            self._cancel_initial()
            self._cancel_initial = None

    async def async_resubscribe(self) -> None:
        """Subscribe anew, then read what may have been missed meanwhile."""
        if self._subscription is None or self._stopped:
            return
        await self._async_subscribe()
        if self.stopped:
            return
        await self.coordinator.async_request_refresh()

    @callback
    def _on_wan_event(self) -> None:
        self.hass.async_create_task(self._async_on_wan_event(), eager_start=True)

    async def _async_on_wan_event(self) -> None:
        """Read the router back; its first NOTIFY counts once the read-back answers."""
        await self.coordinator.async_request_refresh()
        if self.stopped or self.coordinator.events_trusted:
            return
        if self.coordinator.last_update_success:
            # The initial NOTIFY (or the first after a silence): events flow (again).
            self._cancel_initial_check()
            self._events_work()

    def _schedule(self, delay: timedelta, *, renew: bool) -> None:
        """Run the renewal (or the retry) after `delay`; only one of them is ever pending."""
        self._cancel_timer()

        async def _async_due(_now: datetime) -> None:
            self._cancel_retry = None
            if self._stopped:
                return
            self._in_flight = asyncio.current_task()
            try:
                if renew:
                    await self._async_subscribe(renew=True)
                elif not self.coordinator.last_update_success:
                    # The router does not answer its polls either: a SUBSCRIBE would fail
                    # too, and async-upnp-client logs every failed one as a warning.
                    self._schedule(RESUBSCRIBE_RETRY, renew=False)
                else:
                    await self.async_resubscribe()
            finally:
                self._in_flight = None

        if not self._stopped:
            self._cancel_retry = async_call_later(self.hass, delay, _async_due)

    def _cancel_timer(self) -> None:
        if self._cancel_retry is not None:
            self._cancel_retry()
            self._cancel_retry = None

    async def _async_on_ssdp(self, info: SsdpServiceInfo, change: SsdpChange) -> None:
        """Check the subscription with the router when it may have rebooted.

        An announcement is only a hint, and anyone on the LAN can send one with the router's
        UDN: one from another host is ignored, and a hint leads at most once a minute to
        asking the router, by renewing the subscription (a router that forgot it, having
        rebooted, refuses the renewal, and a new subscription follows).
        """
        if self._stopped or location_host(info.ssdp_location or "") not in (
            self._router_hosts
        ):
            return
        boot_id = info.ssdp_headers.get("BOOTID.UPNP.ORG")
        if change is SsdpChange.BYEBYE:
            # The router is going away (a reboot): events are back once it is.
            self._set_state(EventsState.SUBSCRIBING)
            self.coordinator.set_events_trusted(False)
            return
        rebooted = boot_id is not None and self._boot_id not in (None, boot_id)
        self._boot_id = boot_id or self._boot_id
        if not (rebooted or not self.subscribed):
            return
        if self._take_hint_token():
            await self._async_check_with_router()
        elif self._cancel_hint is None:
            # Not lost, only later: one check once the next token is there.
            self._cancel_hint = async_call_later(
                self.hass, REBOOT_HINT_INTERVAL, self._async_deferred_hint
            )

    def _take_hint_token(self) -> bool:
        """Return whether a reboot hint may cause work now (a burst, then one a minute)."""
        now = dt_util.utcnow()
        if self._hint_refilled is not None:
            self._hint_tokens = min(
                REBOOT_HINT_BURST,
                self._hint_tokens + (now - self._hint_refilled) / REBOOT_HINT_INTERVAL,
            )
        self._hint_refilled = now
        if self._hint_tokens < 1:
            return False
        self._hint_tokens -= 1
        return True

    async def _async_deferred_hint(self, _now: datetime) -> None:
        self._cancel_hint = None
        if not self._stopped and self._take_hint_token():
            await self._async_check_with_router()

    async def _async_check_with_router(self) -> None:
        """Renew (a router that rebooted refuses it: a new subscription follows), then read."""
        LOGGER.debug(
            "%s announced itself again: checking events", self.coordinator.name
        )
        if self.subscribed:
            await self._async_subscribe(renew=True)
            if self.stopped:
                return
            await self.coordinator.async_request_refresh()
        else:
            await self.async_resubscribe()
