"""How a router is read over HTTP: bounded, in time, on its own host (no Home Assistant imports).

`BoundedRequester` sends every request to the router (description, SCPDs, SOAP, GENA) on the
injected aiohttp session: a reply is read up to a bound, a request has a timeout, a redirect is
not followed. `BoundedFactory` reads a router's description and SCPDs within one deadline in
all, fetching at most MAX_SERVICES SCPDs and none off the description's host.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import aiohttp
from async_upnp_client.client import UpnpDevice, UpnpRequester, UpnpService
from async_upnp_client.client_factory import UpnpFactory
from async_upnp_client.const import HttpRequest, HttpResponse
from async_upnp_client.exceptions import (
    UpnpCommunicationError,
    UpnpConnectionError,
    UpnpConnectionTimeoutError,
    UpnpError,
)

from .bounded_read import read_at_most

# Real descriptions and SCPDs are a few KiB, SOAP replies well under one.
# Reading a router (its description and every SCPD) has one deadline in all, reads at most
# this many services (real IGDs have 3-12), and fetches nothing off the description's host.
READ_DEADLINE: Final = 30.0
MAX_SERVICES: Final = 32
DESCRIPTION_LIMIT: Final = 256 * 1024  # any GET: device description, SCPD
REPLY_LIMIT: Final = 64 * 1024  # anything else: SOAP replies, (UN)SUBSCRIBE
DEVICE_NS: Final = "urn:schemas-upnp-org:device-1-0"
_LOGGER = logging.getLogger(__name__)


class RouterError(Exception):
    """The router could not tell us its WAN state."""


class RouterConnectionError(RouterError):
    """The router did not answer (unreachable, refused, timed out)."""


class RouterResponseError(RouterError):
    """The router answered with something we cannot use."""


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
            raise UpnpConnectionError(message=failure_text(err)) from err

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
            raise UpnpConnectionError(message=failure_text(err)) from err
        except aiohttp.ClientError as err:
            raise UpnpCommunicationError(message=failure_text(err)) from err


def _decode(body: bytes, charset: str | None) -> str:
    """Return the body as text: the charset it names, else UTF-8, never failing.

    Firmwares put Latin-1 bytes in model names and garbage in replies while the WAN is down:
    a byte that does not decode becomes U+FFFD (an address with one is then no address).
    """
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")


def failure_text(err: Exception) -> str:
    """Return an error's message, or its type's name when it has none."""
    return str(err) or type(err).__name__


class BoundedFactory(UpnpFactory):
    """async-upnp-client's factory, reading a router within READ_DEADLINE and on its host.

    At most MAX_SERVICES SCPDs are fetched, none off the description's host: a service beyond
    that is read as if its SCPD were `scpd_not_fetched()` (no actions, unless a subclass says).
    """

    _service_type = ""  # of the service being read, for log lines
    _host = ""
    _specs_read = 0

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
            f"{{{DEVICE_NS}}}serviceType", ""
        )
        service: UpnpService | None = await super()._async_create_service(
            service_description_el, base_url
        )
        return service

    async def _async_get_service_spec(self, url: str) -> ET.Element:
        off_host = (urlsplit(url).hostname or "").lower() != self._host
        self._specs_read += 1
        if off_host or self._specs_read > MAX_SERVICES:
            # A description must not make Home Assistant fetch another host's URLs, nor
            # hundreds of them: such a service is read as if its SCPD did not load.
            _LOGGER.debug("%s (%s): SCPD not fetched", url, self._service_type)
            return self.scpd_not_fetched()
        element: ET.Element = await super()._async_get_service_spec(url)
        return element

    def scpd_not_fetched(self) -> ET.Element:
        """Return the SCPD of the service being read when it is not fetched: no actions."""
        return ET.Element("{urn:schemas-upnp-org:service-1-0}scpd")
