"""Developer settings, read from the environment once at start-up. Never in the UI or an entry.

- TUNNELBROKER_API_URL points the integration at a simulated HE server (tests, benchmarks, the
  demo). Only HTTPS, or plain HTTP to loopback: the update key never crosses a network in clear.
- TUNNELBROKER_MIN_UPDATE_INTERVAL (seconds) shortens the minimum interval between two updates
  of a tunnel, so the real-router tests and the benchmark can measure the event path with
  changes seconds apart. With HE itself, leave it alone: HE blocks clients that update too often.
- TUNNELBROKER_HEALTH_TARGET (an IPv6 address) is what the tunnel health check echoes instead
  of HE's tunnel server: the tests and the demo use ::1 or an address in their own namespace.
- TUNNELBROKER_HEALTH_ISSUE_AFTER (seconds) shortens the wait before the "tunnel does not
  answer" repair issue, for the namespace test.
Each override is logged as a warning, so a bug report shows it.
"""

from __future__ import annotations

from datetime import timedelta
from ipaddress import IPv6Address
import os

from homeassistant.core import HomeAssistant
from homeassistant.util.hass_dict import HassKey

from .const import (
    DOMAIN,
    ENV_API_URL,
    ENV_HEALTH_ISSUE_AFTER,
    ENV_HEALTH_TARGET,
    ENV_MIN_UPDATE_INTERVAL,
    LOGGER,
    TUNNEL_DOWN_ISSUE_AFTER,
)
from .protocol.he_client import DEFAULT_API_URL, DEFAULT_INFO_API_URL, validate_api_url
from .protocol.update_policy import MIN_UPDATE_INTERVAL

DATA_API_URL: HassKey[str] = HassKey(f"{DOMAIN}_api_url")
DATA_MIN_UPDATE_INTERVAL: HassKey[timedelta] = HassKey(f"{DOMAIN}_min_update_interval")
DATA_HEALTH_TARGET: HassKey[str | None] = HassKey(f"{DOMAIN}_health_target")
DATA_HEALTH_ISSUE_AFTER: HassKey[timedelta] = HassKey(f"{DOMAIN}_health_issue_after")


def api_url(hass: HomeAssistant) -> str:
    """Return HE's base URL: HE itself unless a developer overrode it at start-up."""
    if (url := hass.data.get(DATA_API_URL)) is None:
        url = hass.data[DATA_API_URL] = _api_url_from_environment()
    return url


def info_api_url(hass: HomeAssistant) -> str:
    """Return HE's base URL for tunnel information: the developer override serves it too."""
    url = api_url(hass)
    return DEFAULT_INFO_API_URL if url == DEFAULT_API_URL else url


def min_update_interval(hass: HomeAssistant) -> timedelta:
    """Return the minimum interval between two updates of a tunnel."""
    if (interval := hass.data.get(DATA_MIN_UPDATE_INTERVAL)) is None:
        interval = hass.data[DATA_MIN_UPDATE_INTERVAL] = _interval_from_environment()
    return interval


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


def _interval_from_environment() -> timedelta:
    override = os.environ.get(ENV_MIN_UPDATE_INTERVAL)
    if not override:
        return MIN_UPDATE_INTERVAL
    try:
        seconds = float(override)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MIN_UPDATE_INTERVAL.total_seconds():
        LOGGER.error(
            "Ignoring %s=%r (not a number of seconds from 0 to %s); using %s",
            ENV_MIN_UPDATE_INTERVAL,
            override,
            MIN_UPDATE_INTERVAL.total_seconds(),
            MIN_UPDATE_INTERVAL,
        )
        return MIN_UPDATE_INTERVAL
    LOGGER.warning(
        "%s is set: a tunnel may be updated every %s s (Hurricane Electric blocks clients "
        "that update too often)",
        ENV_MIN_UPDATE_INTERVAL,
        seconds,
    )
    return timedelta(seconds=seconds)


def health_target(hass: HomeAssistant) -> str | None:
    """Return the developer's echo target for the tunnel health check, if set."""
    if DATA_HEALTH_TARGET not in hass.data:
        hass.data[DATA_HEALTH_TARGET] = _health_target_from_environment()
    return hass.data[DATA_HEALTH_TARGET]


def health_issue_after(hass: HomeAssistant) -> timedelta:
    """Return how long the tunnel may not answer before the repair issue."""
    if (after := hass.data.get(DATA_HEALTH_ISSUE_AFTER)) is None:
        after = hass.data[DATA_HEALTH_ISSUE_AFTER] = _issue_after_from_environment()
    return after


def _health_target_from_environment() -> str | None:
    override = os.environ.get(ENV_HEALTH_TARGET)
    if not override:
        return None
    try:
        target = str(IPv6Address(override.strip()))
    except ValueError:
        LOGGER.error(
            "Ignoring %s=%r (not an IPv6 address)", ENV_HEALTH_TARGET, override
        )
        return None
    LOGGER.warning(
        "%s is set: the tunnel health check echoes %s instead of HE's server",
        ENV_HEALTH_TARGET,
        target,
    )
    return target


def _issue_after_from_environment() -> timedelta:
    override = os.environ.get(ENV_HEALTH_ISSUE_AFTER)
    if not override:
        return TUNNEL_DOWN_ISSUE_AFTER
    try:
        seconds = float(override)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= TUNNEL_DOWN_ISSUE_AFTER.total_seconds():
        LOGGER.error("Ignoring %s=%r", ENV_HEALTH_ISSUE_AFTER, override)
        return TUNNEL_DOWN_ISSUE_AFTER
    LOGGER.warning(
        "%s is set: a tunnel not answering for %s s is a repair issue",
        ENV_HEALTH_ISSUE_AFTER,
        seconds,
    )
    return timedelta(seconds=seconds)
