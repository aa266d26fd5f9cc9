"""The protocol clients, bound to Home Assistant's shared HTTP session.

Every request, to the router or to HE, goes through the one aiohttp session Home Assistant
shares: connections are kept alive and reused rather than opened per request. The router's
replies are read only up to a bound (BoundedRequester): a broken or hostile router cannot make
Home Assistant read an endless body into memory.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .const import ROUTER_TIMEOUT
from .developer_settings import api_url, dns_api_url, info_api_url
from .protocol.dns_client import DnsClient
from .protocol.he_client import TunnelbrokerClient
from .protocol.igd_client import IgdClient
from .protocol.igd_transport import BoundedRequester


def create_he_client(hass: HomeAssistant) -> TunnelbrokerClient:
    """Return an HE client on the shared session."""
    return TunnelbrokerClient(
        async_get_clientsession(hass), api_url(hass), info_api_url=info_api_url(hass)
    )


def create_dns_client(hass: HomeAssistant) -> DnsClient:
    """Return a dns.he.net client on the shared session."""
    return DnsClient(async_get_clientsession(hass), dns_api_url(hass))


def create_router_requester(hass: HomeAssistant) -> BoundedRequester:
    """Return a requester for the router's HTTP (descriptions, SOAP, GENA) on the shared session."""
    return BoundedRequester(async_get_clientsession(hass), timeout=ROUTER_TIMEOUT)


async def async_create_igd_client(hass: HomeAssistant, location: str) -> IgdClient:
    """Fetch the router's description and return its client (raises RouterError)."""
    return await IgdClient.async_create(create_router_requester(hass), location)
