"""Reads a UPnP Internet Gateway Device's WAN state (no Home Assistant imports).

Built on async-upnp-client: the device description is fetched and parsed by its UpnpFactory and
every request goes through the injected requester (Home Assistant's shared aiohttp session).
The WAN address comes from GetExternalIPAddress of a WANIPConnection (v1 or v2) or, on DSL
routers, a WANPPPConnection service: the first one that reports itself connected.

Whatever the router sends is treated as hostile until read: replies are read up to a bound
(`BoundedRequester`), XML is parsed by async-upnp-client with defusedxml (entity declarations,
hence entity-expansion bombs and external entities, are refused), and the values read back must
have the types UPnP gives them. Each failure surfaces as a RouterError subclass.
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
from xml.etree import ElementTree as ET

import aiohttp
from async_upnp_client.client import UpnpDevice, UpnpRequester, UpnpService
from async_upnp_client.client_factory import UpnpFactory
from async_upnp_client.const import HttpRequest, HttpResponse
from async_upnp_client.exceptions import (
    UpnpActionError,
    UpnpCommunicationError,
    UpnpConnectionError,
    UpnpConnectionTimeoutError,
    UpnpError,
)
from defusedxml import DefusedXmlException
import defusedxml.ElementTree as DET

from .bounded_read import read_at_most
from .wan_address import wan_address_problem

IGD_DEVICE_TYPES: Final = (
    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
)
_WAN_SERVICE_PREFIXES: Final = (
    "urn:schemas-upnp-org:service:WANIPConnection:",
    "urn:schemas-upnp-org:service:WANPPPConnection:",
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
# Real descriptions and SCPDs are a few KiB, SOAP replies well under one.
# Reading a router (its description and every SCPD) has one deadline in all, reads at most
# this many services (real IGDs have 3-12), and fetches nothing off the description's host.
READ_DEADLINE: Final = 30.0
MAX_SERVICES: Final = 32
DESCRIPTION_LIMIT: Final = 256 * 1024  # any GET: device description, SCPD
REPLY_LIMIT: Final = 64 * 1024  # anything else: SOAP replies, (UN)SUBSCRIBE
# Longest piece of a router's reply quoted in an error message.
_QUOTE_LIMIT: Final = 120
_LOGGER = logging.getLogger(__name__)


class RouterError(Exception):
    """The router could not tell us its WAN state."""


class RouterConnectionError(RouterError):
    """The router did not answer (unreachable, refused, timed out)."""


class RouterResponseError(RouterError):
    """The router answered with something we cannot use."""


class NotAnIgdError(RouterResponseError):
    """The description is not an Internet Gateway Device."""


class NoWanServiceError(RouterResponseError):
    """The IGD has no WANIPConnection/WANPPPConnection with GetExternalIPAddress."""


class RouterReplyTooLargeError(RouterResponseError, UpnpCommunicationError):
    """The router's reply is larger than any real one: it is not read past the bound.

    Also an UpnpCommunicationError, so async-upnp-client code paths that expect its own
    errors (event subscriptions) handle it like any failed request.
    """

    def __init__(self, message: str) -> None:
        """Keep `message` as the only argument (async-upnp-client's errors add a second)."""
        super().__init__(message=message)


class BoundedRequester(UpnpRequester):
    """Sends async-upnp-client's requests on an aiohttp session, reading replies up to a bound.

    async-upnp-client's own requesters read every body whole: a router sending an endless
    reply would fill memory. This one refuses a Content-Length over the bound before reading
    anything, and otherwise stops reading one byte past it (RouterReplyTooLargeError).
    Errors are async-upnp-client's (UpnpConnectionError, UpnpCommunicationError, ...).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout: float,
        description_limit: int = DESCRIPTION_LIMIT,
        reply_limit: int = REPLY_LIMIT,
    ) -> None:
        """Use `session`; give each request `timeout` seconds in all."""
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._description_limit = description_limit
        self._reply_limit = reply_limit

    def limit(self, method: str) -> int:
        """Return the most bytes read of a reply to a `method` request."""
        return self._description_limit if method == "GET" else self._reply_limit

    async def async_http_request(self, http_request: HttpRequest) -> HttpResponse:
        """Send the request, once more if a kept-alive connection was closed under it."""
        try:
            return await self._async_request(http_request)
        except aiohttp.ServerDisconnectedError:
            pass  # HTTP/1.1 lets a server close an idle connection: retry on a new one
        try:
            return await self._async_request(http_request)
        except aiohttp.ServerDisconnectedError as err:
            raise UpnpConnectionError(message=_what(err)) from err

    async def _async_request(self, http_request: HttpRequest) -> HttpResponse:
        # Let other tasks run first, as Home Assistant's own requester does (with_sleep).
        await asyncio.sleep(0)
        limit = self.limit(http_request.method)
        url = http_request.url
        try:
            async with self._session.request(
                http_request.method,
                url,
                headers=http_request.headers,
                data=http_request.body,
                timeout=self._timeout,
                # A redirect could lead anywhere: a router answers where it is asked.
                allow_redirects=False,
            ) as response:
                length = response.content_length
                if length is not None and length > limit:
                    raise RouterReplyTooLargeError(
                        f"{url}: reply of {length} bytes, more than the {limit} read"
                    )
                body = await read_at_most(response.content, limit + 1)
                if len(body) > limit:
                    raise RouterReplyTooLargeError(
                        f"{url}: reply longer than the {limit} bytes read"
                    )
                return HttpResponse(
                    response.status, response.headers, _decode(body, response.charset)
                )
        except UpnpError:
            raise
        except TimeoutError as err:
            raise UpnpConnectionTimeoutError(message="timed out") from err
        except aiohttp.ServerDisconnectedError:
            raise
        except aiohttp.ClientConnectionError as err:
            raise UpnpConnectionError(message=_what(err)) from err
        except aiohttp.ClientError as err:
            raise UpnpCommunicationError(message=_what(err)) from err


def _decode(body: bytes, charset: str | None) -> str:
    """Return the body as text: the charset it names, else UTF-8, never failing.

    Firmwares put Latin-1 bytes in model names and garbage in replies while the WAN is down:
    a byte that does not decode becomes U+FFFD (an address with one is then no address).
    """
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")


# Description elements whose values never contain white space: some firmwares pretty-print
# line breaks and tabs into them (a service type with a line break cannot go into SOAPAction).
_NO_SPACE_TAGS: Final = frozenset(
    {
        "deviceType",
        "serviceType",
        "serviceId",
        "UDN",
        "SCPDURL",
        "controlURL",
        "eventSubURL",
        "URLBase",
        "presentationURL",
    }
)
_DEVICE_NS: Final = "urn:schemas-upnp-org:device-1-0"
# A WAN connection service whose SCPD does not load still has the standard's actions.
_STANDARD_WAN_SCPD: Final = """<scpd xmlns="urn:schemas-upnp-org:service-1-0">
<actionList>
<action><name>GetStatusInfo</name><argumentList>
<argument><name>NewConnectionStatus</name><direction>out</direction>
<relatedStateVariable>ConnectionStatus</relatedStateVariable></argument>
</argumentList></action>
<action><name>GetExternalIPAddress</name><argumentList>
<argument><name>NewExternalIPAddress</name><direction>out</direction>
<relatedStateVariable>ExternalIPAddress</relatedStateVariable></argument>
</argumentList></action>
</actionList>
<serviceStateTable>
<stateVariable sendEvents="yes"><name>ConnectionStatus</name><dataType>string</dataType></stateVariable>
<stateVariable sendEvents="yes"><name>ExternalIPAddress</name><dataType>string</dataType></stateVariable>
</serviceStateTable>
</scpd>"""


def _normalize_description(response: HttpResponse) -> HttpResponse:
    """Return the description as the UPnP standard writes it, whatever the firmware sent.

    A `<root>` without the UPnP namespace gets it (async-upnp-client looks elements up by
    namespace, even when not strict); white space is removed from identifiers and URLs and
    trimmed from every other value. A body that does not parse is passed on as it came, for
    async-upnp-client to refuse with its own error.
    """
    try:
        root = DET.fromstring(response.body or "")
    except (ET.ParseError, DefusedXmlException):
        return response
    for element in root.iter():
        if isinstance(element.tag, str) and not element.tag.startswith("{"):
            element.tag = f"{{{_DEVICE_NS}}}{element.tag}"
        if element.text is not None and len(element) == 0:
            local = element.tag.rpartition("}")[2]
            element.text = (
                "".join(element.text.split())
                if local in _NO_SPACE_TAGS
                else " ".join(element.text.split())
            )
    body = ET.tostring(root, encoding="unicode")
    return HttpResponse(response.status_code, response.headers, body)


class _RouterFactory(UpnpFactory):
    """async-upnp-client's factory, made to read every connection of real firmwares.

    The one place that works around async-upnp-client's data model (0.46-0.49):
    - UpnpDevice keeps embedded devices and services in dicts keyed by type, so of a DSL
      router's WANConnectionDevices (one per PVC/VLAN) or a multi-WAN router's only the last
      survives. Every device and service built is also kept here, in document order.
    - One service's SCPD that does not load (404, garbage) aborts the whole device. Here a
      WAN connection service then gets the standard's actions from its type alone, any other
      service none; a router that does not answer at all still fails as it should.
    Upstream, lists instead of the dicts (or `all_services` walking the XML) and a non-strict
    mode that skips a service whose SCPD fails would make this class unnecessary.
    """

    def __init__(self, requester: UpnpRequester) -> None:
        """Build devices with `requester`, reading descriptions as firmwares write them."""
        super().__init__(
            requester,
            non_strict=True,
            on_post_receive_device_spec=_normalize_description,
        )
        self.services: list[UpnpService] = []
        self._service_type = ""
        self._host = ""
        self._specs_read = 0

    async def async_create_device(self, description_url: str) -> UpnpDevice:
        """Read the router at `description_url` within READ_DEADLINE (raise TimeoutError)."""
        self._host = (urlsplit(description_url).hostname or "").lower()
        async with asyncio.timeout(READ_DEADLINE):
            device: UpnpDevice = await super().async_create_device(description_url)
        return device

    async def _async_create_service(  # type: ignore[override]
        self, service_description_el: ET.Element, base_url: str
    ) -> UpnpService | None:
        self._service_type = service_description_el.findtext(
            f"{{{_DEVICE_NS}}}serviceType", ""
        )
        service: UpnpService | None = await super()._async_create_service(
            service_description_el, base_url
        )
        if service is not None:
            self.services.append(service)
        return service

    async def _async_get_service_spec(self, url: str) -> ET.Element:
        off_host = (urlsplit(url).hostname or "").lower() != self._host
        self._specs_read += 1
        if off_host or self._specs_read > MAX_SERVICES:
            # A description must not make Home Assistant fetch another host's URLs, nor
            # hundreds of them: such a service is read as if its SCPD did not load.
            _LOGGER.debug("%s (%s): SCPD not fetched", url, self._service_type)
            return self._scpd_without_fetching()
        try:
            element: ET.Element = await super()._async_get_service_spec(url)
        except (UpnpConnectionError, RouterReplyTooLargeError):
            raise
        except UpnpError as err:
            _LOGGER.debug("%s (%s): SCPD not usable: %s", url, self._service_type, err)
        else:
            return element
        return self._scpd_without_fetching()

    def _scpd_without_fetching(self) -> ET.Element:
        """Return a WAN service's standard actions, or none for any other service."""
        if self._service_type.startswith(_WAN_SERVICE_PREFIXES):
            standard: ET.Element = DET.fromstring(_STANDARD_WAN_SCPD)
            return standard
        return ET.Element("{urn:schemas-upnp-org:service-1-0}scpd")


def _what(err: Exception) -> str:
    return str(err) or type(err).__name__


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
        factory = _RouterFactory(requester)
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
        if service.service_type.startswith(_WAN_SERVICE_PREFIXES)
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
    return _quote(_what(err), quoted=False)


def _quote(text: str, *, quoted: bool = True) -> str:
    if len(text) > _QUOTE_LIMIT:
        text = f"{text[:_QUOTE_LIMIT]}…"
    return repr(text) if quoted else text
