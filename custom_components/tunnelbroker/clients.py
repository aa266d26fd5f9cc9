"""The protocol clients, bound to Home Assistant's shared HTTP session.

Every request, to the router or to HE, goes through the one aiohttp session Home Assistant
shares: connections are kept alive and reused rather than opened per request. The router's
replies are read only up to a bound (BoundedRequester): a broken or hostile router cannot make
Home Assistant read an endless body into memory.
"""

from __future__ import annotations

import os

from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, ENV_API_URL, LOGGER, ROUTER_TIMEOUT
from .he_client import (
    DEFAULT_API_URL,
    DEFAULT_INFO_API_URL,
    TunnelbrokerClient,
    validate_api_url,
)
from .igd_client import BoundedRequester, IgdClient

DATA_API_URL: HassKey[str] = HassKey(f"{DOMAIN}_api_url")


def api_url(hass: HomeAssistant) -> str:
    """Return HE's base URL: HE itself unless a developer overrode it at start-up."""
    if (url := hass.data.get(DATA_API_URL)) is None:
        url = hass.data[DATA_API_URL] = _api_url_from_environment()
    return url


def info_api_url(hass: HomeAssistant) -> str:
    """Return HE's base URL for tunnel information: the developer override serves it too."""
    url = api_url(hass)
    return DEFAULT_INFO_API_URL if url == DEFAULT_API_URL else url


def _api_url_from_environment() -> str:
    override = os.environ.get(ENV_API_URL)
    if not override:
        return DEFAULT_API_URL
    try:
        url = validate_api_url(override)
    except ValueError as err:
        LOGGER.error("Ignoring %s (%s); using %s", ENV_API_URL, err, DEFAULT_API_URL)
        return DEFAULT_API_URL
    LOGGER.warning(
        "%s is set: tunnel updates go to %s instead of Hurricane Electric",
        ENV_API_URL,
        url,
    )
    return url


def create_he_client(hass: HomeAssistant) -> TunnelbrokerClient:
    """Return an HE client on the shared session."""
    return TunnelbrokerClient(
        async_get_clientsession(hass), api_url(hass), info_api_url=info_api_url(hass)
    )


def create_router_requester(hass: HomeAssistant) -> BoundedRequester:
    """Return a requester for the router's HTTP (descriptions, SOAP, GENA) on the shared session."""
    return BoundedRequester(async_get_clientsession(hass), timeout=ROUTER_TIMEOUT)


async def async_create_igd_client(hass: HomeAssistant, location: str) -> IgdClient:
    """Fetch the router's description and return its client (raises RouterError)."""
    return await IgdClient.async_create(create_router_requester(hass), location)
