"""UPnP event subscriptions to a router's WAN connection service (no Home Assistant imports).

The router pushes a GENA NOTIFY when its external address or link state changes. A NOTIFY is
only a hint: the address itself is always read back from the router over SOAP, so an event sent
by anyone else (or a transient 0.0.0.0 some routers send mid-change) cannot set it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import contextlib
from datetime import timedelta
from typing import Any, Final

from async_upnp_client.client import UpnpService, UpnpStateVariable
from async_upnp_client.event_handler import UpnpEventHandler
from async_upnp_client.exceptions import (
    UpnpConnectionError,
    UpnpError,
    UpnpResponseError,
)
from async_upnp_client.profiles.igd import IgdDevice

from .igd_client import IgdClient, RouterConnectionError, RouterError

WAN_EVENT_VARIABLES: Final = frozenset({"ExternalIPAddress", "ConnectionStatus"})
MIN_RENEWAL: Final = timedelta(seconds=30)


class SubscriptionRefusedError(RouterError):
    """The router answered SUBSCRIBE with an error: it does not send events."""


class _WanEventsDevice(IgdDevice):
    """IgdDevice subscribing to the WAN connection services only.

    A router that refuses events on a service we do not need (Layer3Forwarding, firewall
    control, ...) must not cost us the events we do need; and fewer subscriptions mean fewer
    renewal requests.
    """

    _SERVICE_TYPES = {  # noqa: RUF012 - overrides IgdDevice's table
        "WANPPPC": {"urn:schemas-upnp-org:service:WANPPPConnection:1"},
        "WANIPC": {
            "urn:schemas-upnp-org:service:WANIPConnection:1",
            "urn:schemas-upnp-org:service:WANIPConnection:2",
        },
    }


class IgdEventSubscription:
    """A subscription to the router's WAN service(s); the caller renews it in time.

    Renewal is left to the caller's scheduler rather than async-upnp-client's own loop: that
    loop keeps expired subscriptions and spins without sleeping once a renewal comes late (a
    clock jump, a suspended host).
    """

    def __init__(
        self,
        client: IgdClient,
        event_handler: UpnpEventHandler,
        on_wan_event: Callable[[], None],
    ) -> None:
        """Call `on_wan_event` whenever the router says its WAN state changed."""
        self._device = _WanEventsDevice(client.device, event_handler)
        self._device.on_event = self._on_event
        self._on_wan_event = on_wan_event
        self.events_received = 0
        self.fresh_subscriptions = 0

    @property
    def subscribed(self) -> bool:
        """Return whether a subscription is active."""
        return self._device.is_subscribed

    async def async_subscribe(self) -> timedelta:
        """Subscribe anew; return when to renew. Raise SubscriptionRefusedError or RouterError."""
        await self.async_unsubscribe()
        try:
            renew_in = await self._device.async_subscribe_services()
        except UpnpResponseError as err:
            raise SubscriptionRefusedError(f"SUBSCRIBE refused: {err}") from err
        except UpnpConnectionError as err:
            raise RouterConnectionError(f"SUBSCRIBE failed: {err!r}") from err
        except UpnpError as err:
            raise SubscriptionRefusedError(f"SUBSCRIBE failed: {err!r}") from err
        if renew_in is None:
            raise SubscriptionRefusedError(
                "the router has no WAN service to subscribe to"
            )
        self.fresh_subscriptions += 1
        return max(renew_in, MIN_RENEWAL)

    async def async_renew(self) -> timedelta:
        """Renew before expiry; subscribe anew if the router forgot us (reboot) or it is late."""
        try:
            renew_in = await self._device.async_subscribe_services()
        except UpnpError:
            renew_in = None
        if renew_in is None or renew_in < MIN_RENEWAL:
            return await self.async_subscribe()
        return renew_in

    async def async_unsubscribe(self) -> None:
        """Unsubscribe; a router that is gone is not an error here."""
        with contextlib.suppress(UpnpError):
            await self._device.async_unsubscribe_services()

    def _on_event(
        self, service: UpnpService, state_variables: Sequence[UpnpStateVariable[Any]]
    ) -> None:
        self.events_received += 1
        if any(var.name in WAN_EVENT_VARIABLES for var in state_variables):
            self._on_wan_event()
