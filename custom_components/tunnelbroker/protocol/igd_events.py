"""UPnP event subscriptions to a router's WAN connection service (no Home Assistant imports).

The router pushes a GENA NOTIFY when its external address or link state changes. A NOTIFY is
only a hint: the address itself is always read back from the router over SOAP, so an event sent
by anyone else (or a transient 0.0.0.0 some routers send mid-change) cannot set it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
import contextlib
from datetime import timedelta
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web
from async_upnp_client.aiohttp import AiohttpNotifyServer
from async_upnp_client.client import UpnpService, UpnpStateVariable
from async_upnp_client.const import HttpRequest
from async_upnp_client.event_handler import UpnpEventHandler
from async_upnp_client.exceptions import (
    UpnpConnectionError,
    UpnpError,
    UpnpResponseError,
)

from .bounded_read import read_at_most
from .igd_client import IgdClient, RouterConnectionError, RouterError

WAN_EVENT_VARIABLES: Final = frozenset({"ExternalIPAddress", "ConnectionStatus"})
MIN_RENEWAL: Final = timedelta(seconds=30)
# What async-upnp-client's profiles (so core `upnp`) ask for; a router may grant another.
SUBSCRIPTION_TIMEOUT: Final = timedelta(minutes=9)
# Renew this long before the router's timeout runs out (async-upnp-client's profiles do too).
RENEWAL_MARGIN: Final = timedelta(minutes=1)


# A router's NOTIFY carries a few state variables: well under 1 KiB (miniupnpd, FRITZ!OS).
MAX_NOTIFY_BYTES: Final = 8 * 1024


class GuardedNotifyServer(AiohttpNotifyServer):
    """The callback server, taking NOTIFYs only from the routers it serves.

    async-upnp-client's server takes a NOTIFY from any host, of any size, and keeps one with
    an unknown SID whole in its event handler for ever (in case it raced the SUBSCRIBE
    answer). Here a NOTIFY must come from a router host this server serves, be at most
    MAX_NOTIFY_BYTES, and name a known SID, except while a SUBSCRIBE is under way (the
    router's first NOTIFY may arrive before its answer): anything else is refused unread.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Initialize as AiohttpNotifyServer; no router host is allowed yet."""
        super().__init__(*args, **kwargs)
        self.allowed_hosts: dict[str, int] = {}  # router host -> routers using it
        self._subscribing = 0
        self.refused = 0  # NOTIFYs refused, for diagnostics and tests

    def allow(self, host: str) -> None:
        """Take NOTIFYs from `host` (one more router there)."""
        self.allowed_hosts[host] = self.allowed_hosts.get(host, 0) + 1

    def disallow(self, host: str) -> None:
        """One router at `host` fewer."""
        if (count := self.allowed_hosts.get(host, 0) - 1) > 0:
            self.allowed_hosts[host] = count
        else:
            self.allowed_hosts.pop(host, None)

    @contextlib.contextmanager
    def subscribing(self) -> Iterator[None]:
        """Let a NOTIFY with a SID not known yet through while a SUBSCRIBE is under way."""
        self._subscribing += 1
        try:
            yield
        finally:
            self._subscribing -= 1

    async def _handle_request(self, request: web.BaseRequest) -> web.Response:
        if request.method != "NOTIFY":
            return self._refuse(HTTPStatus.METHOD_NOT_ALLOWED)
        if request.remote not in self.allowed_hosts:
            return self._refuse(HTTPStatus.FORBIDDEN)
        sid = request.headers.get("SID")
        if sid is None or (
            self.event_handler.service_for_sid(sid) is None and not self._subscribing
        ):
            return self._refuse(HTTPStatus.PRECONDITION_FAILED)
        if (request.content_length or 0) > MAX_NOTIFY_BYTES:
            return self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        body = await read_at_most(request.content, MAX_NOTIFY_BYTES + 1)
        if len(body) > MAX_NOTIFY_BYTES:
            return self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        status = await self.event_handler.handle_notify(
            HttpRequest(
                request.method,
                self.callback_url,
                request.headers,
                body.decode("utf-8", errors="replace"),
            )
        )
        return web.Response(status=status)

    def _refuse(self, status: HTTPStatus) -> web.Response:
        self.refused += 1
        return web.Response(status=status)


class SubscriptionRefusedError(RouterError):
    """The router answered SUBSCRIBE with an error: it does not send events."""


class IgdEventSubscription:
    """A subscription to the WAN connection service the router client reads; renewed by the caller.

    Exactly that one service is subscribed, through async-upnp-client's event handler: a
    router that refuses events on services we do not need must not cost us the ones we do,
    and on a router with several connections (DSL PVCs, multi-WAN) the events of the IPTV
    connection say nothing about the internet one. Renewal is left to the caller's scheduler
    rather than async-upnp-client's own loop: that loop keeps expired subscriptions and spins
    without sleeping once a renewal comes late (a clock jump, a suspended host).
    """

    def __init__(
        self,
        client: IgdClient,
        server: GuardedNotifyServer,
        on_wan_event: Callable[[], None],
    ) -> None:
        """Call `on_wan_event` whenever the router says its WAN state changed."""
        self._client = client
        self._server = server
        self._handler: UpnpEventHandler = server.event_handler
        self._on_wan_event = on_wan_event
        self._service: UpnpService | None = None
        self._sid: str | None = None
        self.events_received = 0
        self.fresh_subscriptions = 0

    @property
    def subscribed(self) -> bool:
        """Return whether a subscription is active."""
        return self._sid is not None

    @property
    def service(self) -> UpnpService | None:
        """Return the service subscribed to (None: none)."""
        return self._service if self._sid is not None else None

    async def async_subscribe(self) -> timedelta:
        """Subscribe anew to the client's current WAN service; return when to renew.

        Raise SubscriptionRefusedError or RouterError.
        """
        await self.async_unsubscribe()
        service = self._client.event_service
        service.on_event = self._on_event
        try:
            with self._server.subscribing():
                sid, timeout = await self._handler.async_subscribe(
                    service, timeout=SUBSCRIPTION_TIMEOUT
                )
        except UpnpConnectionError as err:
            raise RouterConnectionError(f"SUBSCRIBE failed: {err!r}") from err
        except UpnpResponseError as err:
            raise SubscriptionRefusedError(f"SUBSCRIBE refused: {err}") from err
        except UpnpError as err:  # no SID, a garbled reply, ...
            raise SubscriptionRefusedError(f"SUBSCRIBE failed: {err!r}") from err
        self._service, self._sid = service, sid
        self.fresh_subscriptions += 1
        return _renew_in(timeout)

    async def async_renew(self) -> timedelta:
        """Renew before expiry; subscribe anew if the router forgot us (reboot) or it fails."""
        if self._sid is None or self._service is not self._client.event_service:
            return await self.async_subscribe()
        try:
            sid, timeout = await self._handler.async_resubscribe(
                self._sid, timeout=SUBSCRIPTION_TIMEOUT
            )
        except (UpnpError, KeyError):
            self._sid = None
            return await self.async_subscribe()
        if sid != self._sid:  # the handler subscribed anew: the router had forgotten us
            self._sid = sid
            self.fresh_subscriptions += 1
        return _renew_in(timeout)

    async def async_unsubscribe(self) -> None:
        """Unsubscribe; a router that is gone is not an error here."""
        sid, self._sid = self._sid, None
        if sid is not None:
            with contextlib.suppress(UpnpError, KeyError):
                await self._handler.async_unsubscribe(sid)

    def _on_event(
        self, service: UpnpService, state_variables: Sequence[UpnpStateVariable[Any]]
    ) -> None:
        self.events_received += 1
        if any(var.name in WAN_EVENT_VARIABLES for var in state_variables):
            self._on_wan_event()


def _renew_in(timeout: timedelta) -> timedelta:
    return max(timeout - RENEWAL_MARGIN, MIN_RENEWAL)
