"""Reads a UPnP Internet Gateway Device's WAN state (no Home Assistant imports).

Built on async-upnp-client: the device description is fetched and parsed by its UpnpFactory and
every request goes through the injected requester (Home Assistant's shared aiohttp session).
The WAN address comes from GetExternalIPAddress of a WANIPConnection (v1 or v2) or, on DSL
routers, a WANPPPConnection service: the first one that reports itself connected.

Whatever the router sends is treated as hostile until read: replies are read up to a bound
(igd_transport), XML is parsed by async-upnp-client with defusedxml (entity declarations,
hence entity-expansion bombs and external entities, are refused), what firmwares write wrong is
repaired (router_quirks), and the values read back must have the types UPnP gives them. Each
failure surfaces as a RouterError subclass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address
import logging
import re
from typing import Final
from urllib.parse import urljoin, urlsplit

import aiohttp
from async_upnp_client.client import UpnpDevice, UpnpRequester, UpnpService
from async_upnp_client.exceptions import (
    UpnpActionError,
    UpnpCommunicationError,
    UpnpConnectionError,
    UpnpError,
)
from defusedxml import DefusedXmlException

from .igd_transport import (
    RouterConnectionError,
    RouterError,
    RouterReplyTooLargeError,
    RouterResponseError,
    failure_text,
)
from .router_quirks import WAN_SERVICE_PREFIXES, RouterFactory
from .wan_address import wan_address_problem

# The transport's errors are the client's too: callers import them from here.
__all__ = [
    "CONNECTED",
    "CONNECTION_STATUSES",
    "IGD_DEVICE_TYPES",
    "IgdClient",
    "NoWanServiceError",
    "NotAnIgdError",
    "RouterConnectionError",
    "RouterError",
    "RouterInfo",
    "RouterReplyTooLargeError",
    "RouterResponseError",
    "WanConnection",
    "WanStatus",
]

IGD_DEVICE_TYPES: Final = (
    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
)
_LAYER3_FORWARDING: Final = "urn:schemas-upnp-org:service:Layer3Forwarding:"
CONNECTED: Final = "Connected"
# ConnectionStatus values of WANIPConnection and WANPPPConnection (UPnP IGD 1 and 2).
CONNECTION_STATUSES: Final = frozenset(
    {
        "Unconfigured",
        "Connecting",
        "Authenticating",
        "Connected",
        "PendingDisconnect",
        "Disconnecting",
        "Disconnected",
    }
)
# Longest piece of a router's reply quoted in an error message.
_QUOTE_LIMIT: Final = 120
_LOGGER = logging.getLogger(__name__)


class NotAnIgdError(RouterResponseError):
    """The description is not an Internet Gateway Device."""


class NoWanServiceError(RouterResponseError):
    """The IGD has no WANIPConnection/WANPPPConnection with GetExternalIPAddress."""


@dataclass(frozen=True, slots=True)
class RouterInfo:
    """What the device description says about the router."""

    udn: str
    device_type: str
    friendly_name: str
    manufacturer: str
    model_name: str
    model_number: str | None
    serial_number: str | None
    location: str
    presentation_url: str | None = None

    @property
    def firmware_version(self) -> str | None:
        """Return modelNumber when it is a version (miniupnpd's 2.3.1, a firmware's date).

        Firmwares fill modelNumber with whatever they like: a version, the model again, or
        the vendor's name.
        """
        number = (self.model_number or "").strip()
        if _VERSION.search(number):
            return number
        return None

    @property
    def model_id(self) -> str | None:
        """Return modelNumber when it names the model (not a version, not the vendor)."""
        number = (self.model_number or "").strip()
        if (
            not number
            or self.firmware_version is not None
            or number.casefold() in self.manufacturer.casefold()
        ):
            return None
        return number

    @property
    def admin_url(self) -> str | None:
        """Return the router's admin page (presentationURL): http(s), on the router's host."""
        if not (presentation := (self.presentation_url or "").strip()):
            return None
        url = urljoin(self.location, presentation)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or (
            parts.hostname != urlsplit(self.location).hostname
        ):
            return None
        return url


# A dotted version (2.3.1, v7.57) or a date (20180405) in a modelNumber.
_VERSION = re.compile(r"(?:^v?\d+(?:\.\d+)+\b)|(?:(?<!\d)(?:19|20)\d{6}(?!\d))")


@dataclass(frozen=True, slots=True)
class WanStatus:
    """The router's WAN connection as it reports it."""

    external_ip: str | None
    connection_status: str | None
    service_type: str

    @property
    def connected(self) -> bool:
        """Return whether the WAN link is up (unknown counts as up)."""
        return self.connection_status in (None, CONNECTED)


@dataclass(frozen=True, slots=True)
class WanConnection:
    """One WAN connection service of the router (what the user picks on a multi-WAN one)."""

    # `<UDN of its connection device>#<serviceId>`, the names the IGD standard's default
    # connection uses; the control URL is added where firmwares repeat both.
    key: str
    service_type: str
    device_name: str
    control_url: str


class IgdClient:
    """One router: its description and the WAN services it offers."""

    def __init__(
        self, device: UpnpDevice, location: str, services: list[UpnpService]
    ) -> None:
        """Wrap a parsed device and all its services; async_create builds them."""
        self._device = device
        self._location = location
        self._wan_services = _wan_services(services)
        if not self._wan_services:
            raise NoWanServiceError(
                f"{device.friendly_name} has no WAN service with GetExternalIPAddress"
            )
        self._connections = dict(
            zip(_connection_keys(self._wan_services), self._wan_services, strict=True)
        )
        self._current = self._wan_services[0]
        self._ask_default = True
        self._pinned: UpnpService | None = None
        self._layer3 = next(
            (
                service
                for service in services
                if service.service_type.startswith(_LAYER3_FORWARDING)
                and service.has_action("GetDefaultConnectionService")
            ),
            None,
        )

    @classmethod
    async def async_create(cls, requester: UpnpRequester, location: str) -> IgdClient:
        """Fetch and parse the device description at `location`."""
        factory = RouterFactory(requester)
        try:
            device = await factory.async_create_device(location)
        except RouterError:
            raise
        except (
            UpnpConnectionError,
            aiohttp.ClientConnectionError,
            TimeoutError,
        ) as err:
            raise RouterConnectionError(f"{location}: {_describe(err)}") from err
        except (UpnpError, aiohttp.ClientError, ValueError, KeyError) as err:
            raise RouterResponseError(f"{location}: {_describe(err)}") from err
        if device.device_type not in IGD_DEVICE_TYPES:
            raise NotAnIgdError(f"{location} describes a {device.device_type}")
        return cls(device, location, factory.services)

    @property
    def info(self) -> RouterInfo:
        """Return the description's identity fields."""
        device = self._device
        return RouterInfo(
            udn=device.udn,
            device_type=device.device_type,
            friendly_name=device.friendly_name,
            manufacturer=device.manufacturer,
            model_name=device.model_name,
            model_number=device.model_number,
            serial_number=device.serial_number,
            location=self._location,
            presentation_url=device.presentation_url,
        )

    @property
    def wan_service_types(self) -> list[str]:
        """Return the WAN services found, in document order."""
        return [service.service_type for service in self._wan_services]

    @property
    def connections(self) -> list[WanConnection]:
        """Return every WAN connection service, in document order."""
        return [
            WanConnection(
                key=key,
                service_type=service.service_type,
                device_name=service.device.friendly_name,
                control_url=service.control_url,
            )
            for key, service in self._connections.items()
        ]

    def pin_connection(self, key: str | None) -> bool:
        """Read only the connection `key` (None: choose as the standard says).

        Return False when the router has no such connection (then the choice is automatic).
        """
        self._pinned = self._connections.get(key) if key else None
        if self._pinned is not None:
            self._current = self._pinned
        return key is None or self._pinned is not None

    async def async_read_connections(
        self,
    ) -> list[tuple[WanConnection, WanStatus | RouterError]]:
        """Read every WAN connection at once: each one's state, or why it could not be read."""
        results = await asyncio.gather(
            *(_async_read_or_error(s) for s in self._connections.values())
        )
        return list(zip(self.connections, results, strict=True))

    @property
    def event_service(self) -> UpnpService:
        """Return the WAN service the last read used (whose events to follow)."""
        return self._current

    async def async_get_wan_status(self) -> WanStatus:
        """Read the internet connection's WAN state, choosing it as the IGD standard says.

        Layer3Forwarding's GetDefaultConnectionService names it, where the router offers it
        and it answers; else, and when that one is not up, the first connection that is up
        with a public address wins, then the first that is up, then the first that answers.
        A read that fails is tried once more, then the other connections are tried: one
        failed read (a busy DSL router's 501, a 500/401 on the wrong service) is no outage.
        """
        if self._pinned is not None:  # the user's choice, up or not
            return await _async_read_with_retry(self._pinned)
        statuses: list[tuple[UpnpService, WanStatus]] = []
        error: RouterResponseError | None = None
        order = await self._async_read_order()
        for service in order:
            try:
                status = await _async_read_with_retry(service)
            except RouterResponseError as err:
                error = error or err
            else:
                if status.connected and wan_address_problem(status.external_ip) is None:
                    self._current = service
                    return status
                statuses.append((service, status))
            if service is order[0]:
                self._ask_default = True  # the connection last used did not serve
        connected = [pair for pair in statuses if pair[1].connected]
        if not (chosen := connected[:1] or statuses[:1]):
            assert error is not None  # _wan_services is never empty
            raise error
        self._current, status = chosen[0]
        return status

    async def _async_read_order(self) -> list[UpnpService]:
        """Return the WAN services, the one to read first (the last one used) first.

        The standard's default connection is asked for at the first read and again whenever
        the connection last used did not serve: not on every read, which events make the
        hot path of a change.
        """
        if self._ask_default:
            self._ask_default = False
            if (default := await self._async_default_connection()) is not None:
                self._current = default
        return [
            self._current,
            *(s for s in self._wan_services if s is not self._current),
        ]

    async def _async_default_connection(self) -> UpnpService | None:
        """Return the service Layer3Forwarding names the default connection, if it does.

        Its answer is `<UDN of the connection device>[:<device type>],<serviceId>`; a router
        that does not answer it (or names no known service) is not asked again.
        """
        if self._layer3 is None:
            return None
        try:
            reply = await self._layer3.action(
                "GetDefaultConnectionService"
            ).async_call()
        except (UpnpError, aiohttp.ClientError, TimeoutError, ValueError) as err:
            _LOGGER.debug("GetDefaultConnectionService: %s; not asked again", err)
            self._layer3 = None
            return None
        device_part, _, service_id = str(
            reply.get("NewDefaultConnectionService") or ""
        ).rpartition(",")
        for service in self._wan_services:
            if (
                service.service_id == service_id.strip()
                and device_part.strip().startswith(service.device.udn)
            ):
                return service
        _LOGGER.debug("Default connection %r is none of the WAN services", reply)
        return None


def _connection_keys(services: list[UpnpService]) -> list[str]:
    """Return each connection's key: UDN#serviceId, with the control URL where repeated."""
    keys = [f"{service.device.udn}#{service.service_id}" for service in services]
    return [
        f"{key}@{service.control_url}" if keys.count(key) > 1 else key
        for key, service in zip(keys, services, strict=True)
    ]


def _wan_services(services: list[UpnpService]) -> list[UpnpService]:
    return [
        service
        for service in services
        if service.service_type.startswith(WAN_SERVICE_PREFIXES)
        and service.has_action("GetExternalIPAddress")
    ]


async def _async_read_with_retry(service: UpnpService) -> WanStatus:
    """Read one service; a reply that is an error is asked once more before it counts.

    The two actions are asked at once (a NOTIFY's read-back is on the path of a change); the
    second try asks them one after the other, for firmwares that serve one at a time.
    """
    try:
        return await _async_read_service(service, concurrent=True)
    except RouterReplyTooLargeError:
        raise
    except RouterResponseError as err:
        _LOGGER.debug("%s; asking once more", err)
    return await _async_read_service(service)


async def _async_read_or_error(service: UpnpService) -> WanStatus | RouterError:
    try:
        return await _async_read_service(service)
    except RouterError as err:
        return err


async def _async_read_service(
    service: UpnpService, *, concurrent: bool = False
) -> WanStatus:
    service_type = service.service_type
    status_info: Mapping[str, object] = {}
    try:
        external = service.action("GetExternalIPAddress")
        if not service.has_action("GetStatusInfo"):
            reply = await external.async_call()
        elif concurrent:
            status_info, reply = await asyncio.gather(
                service.action("GetStatusInfo").async_call(), external.async_call()
            )
        else:
            status_info = await service.action("GetStatusInfo").async_call()
            reply = await external.async_call()
    except RouterError:
        raise
    except (UpnpConnectionError, aiohttp.ClientConnectionError, TimeoutError) as err:
        raise RouterConnectionError(f"{service_type}: {_describe(err)}") from err
    except (UpnpActionError, UpnpCommunicationError, UpnpError, ValueError) as err:
        raise RouterResponseError(f"{service_type}: {_describe(err)}") from err
    return WanStatus(
        external_ip=_external_ip(service_type, reply.get("NewExternalIPAddress")),
        connection_status=_connection_status(
            service_type, status_info.get("NewConnectionStatus")
        ),
        service_type=service_type,
    )


def _external_ip(service_type: str, value: object) -> str | None:
    """Return the reported address: None when empty, else it must be an IPv4 address."""
    text = _optional_str(value)
    if text is None:
        return None
    try:
        return str(IPv4Address(text))
    except ValueError:
        raise RouterResponseError(
            f"{service_type}: reported {_quote(text)} as its external IPv4 address"
        ) from None


def _connection_status(service_type: str, value: object) -> str | None:
    """Return the reported link state: None when missing, else one UPnP defines."""
    text = _optional_str(value)
    if text is None or text in CONNECTION_STATUSES:
        return text
    raise RouterResponseError(
        f"{service_type}: reported {_quote(text)} as its connection status"
    )


def _optional_str(value: object) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


def _describe(err: Exception) -> str:
    """Return a short, readable account of a failure (never a whole reply body)."""
    if isinstance(err, DefusedXmlException):
        return f"refused XML with entity declarations ({type(err).__name__})"
    return _quote(failure_text(err), quoted=False)


def _quote(text: str, *, quoted: bool = True) -> str:
    if len(text) > _QUOTE_LIMIT:
        text = f"{text[:_QUOTE_LIMIT]}…"
    return repr(text) if quoted else text
