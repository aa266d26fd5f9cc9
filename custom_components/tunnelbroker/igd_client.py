"""Reads a UPnP Internet Gateway Device's WAN state (no Home Assistant imports).

Built on async-upnp-client: the device description is fetched and parsed by its UpnpFactory and
every request goes through the injected requester (Home Assistant's shared aiohttp session).
The WAN address comes from GetExternalIPAddress of a WANIPConnection (v1 or v2) or, on DSL
routers, a WANPPPConnection service: the first one that reports itself connected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import aiohttp
from async_upnp_client.client import UpnpDevice, UpnpRequester, UpnpService
from async_upnp_client.client_factory import UpnpFactory
from async_upnp_client.exceptions import (
    UpnpActionError,
    UpnpCommunicationError,
    UpnpConnectionError,
    UpnpError,
)

IGD_DEVICE_TYPES: Final = (
    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
)
_WAN_SERVICE_PREFIXES: Final = (
    "urn:schemas-upnp-org:service:WANIPConnection:",
    "urn:schemas-upnp-org:service:WANPPPConnection:",
)
CONNECTED: Final = "Connected"


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


class IgdClient:
    """One router: its description and the WAN services it offers."""

    def __init__(self, device: UpnpDevice, location: str) -> None:
        """Wrap a parsed device; use async_create to build one from a location."""
        self._device = device
        self._location = location
        self._wan_services = _wan_services(device)
        if not self._wan_services:
            raise NoWanServiceError(
                f"{device.friendly_name} has no WAN service with GetExternalIPAddress"
            )

    @classmethod
    async def async_create(cls, requester: UpnpRequester, location: str) -> IgdClient:
        """Fetch and parse the device description at `location`."""
        factory = UpnpFactory(requester, non_strict=True)
        try:
            device = await factory.async_create_device(location)
        except (
            UpnpConnectionError,
            aiohttp.ClientConnectionError,
            TimeoutError,
        ) as err:
            raise RouterConnectionError(
                f"{location}: {err or type(err).__name__}"
            ) from err
        except (UpnpError, aiohttp.ClientError, ValueError, KeyError) as err:
            raise RouterResponseError(
                f"{location}: {err or type(err).__name__}"
            ) from err
        if device.device_type not in IGD_DEVICE_TYPES:
            raise NotAnIgdError(f"{location} describes a {device.device_type}")
        return cls(device, location)

    @property
    def device(self) -> UpnpDevice:
        """Return the parsed root device (for event subscriptions)."""
        return self._device

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
        )

    @property
    def wan_service_types(self) -> list[str]:
        """Return the WAN services found, in the order they are asked."""
        return [service.service_type for service in self._wan_services]

    async def async_get_wan_status(self) -> WanStatus:
        """Ask the router for its external address over the connected WAN service."""
        first: WanStatus | None = None
        for service in self._wan_services:
            status = await _async_read_service(service)
            if status.connected:
                return status
            first = first or status
        assert first is not None  # _wan_services is never empty
        return first


def _wan_services(device: UpnpDevice) -> list[UpnpService]:
    return [
        service
        for service in device.all_services
        if service.service_type.startswith(_WAN_SERVICE_PREFIXES)
        and service.has_action("GetExternalIPAddress")
    ]


async def _async_read_service(service: UpnpService) -> WanStatus:
    connection_status: str | None = None
    try:
        if service.has_action("GetStatusInfo"):
            status_info = await service.action("GetStatusInfo").async_call()
            connection_status = _optional_str(status_info.get("NewConnectionStatus"))
        reply = await service.action("GetExternalIPAddress").async_call()
    except (UpnpConnectionError, aiohttp.ClientConnectionError, TimeoutError) as err:
        raise RouterConnectionError(
            f"{service.service_type}: {err or type(err).__name__}"
        ) from err
    except (UpnpActionError, UpnpCommunicationError, UpnpError, ValueError) as err:
        raise RouterResponseError(
            f"{service.service_type}: {err or type(err).__name__}"
        ) from err
    return WanStatus(
        external_ip=_optional_str(reply.get("NewExternalIPAddress")),
        connection_status=connection_status,
        service_type=service.service_type,
    )


def _optional_str(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
