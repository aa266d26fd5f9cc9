"""Developer settings, read from the environment once at start-up. Never in the UI or an entry.

- TUNNELBROKER_API_URL points the integration at a simulated HE server (tests, benchmarks, the
  demo), dns.he.net's record updates included. Only HTTPS, or plain HTTP to loopback: the update key never crosses a network in clear.
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

from collections.abc import Callable
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
from .protocol.dns_client import DEFAULT_DNS_API_URL
from .protocol.he_client import DEFAULT_API_URL, DEFAULT_INFO_API_URL, validate_api_url
from .protocol.update_policy import MIN_UPDATE_INTERVAL

# Where a simulated HE serves dns.he.net's dynamic records (simulators/he.py).
DNS_PATH_UNDER_OVERRIDE = "/dyn.dns.he.net"
DATA_API_URL: HassKey[str] = HassKey(f"{DOMAIN}_api_url")
DATA_MIN_UPDATE_INTERVAL: HassKey[timedelta] = HassKey(f"{DOMAIN}_min_update_interval")
DATA_HEALTH_TARGET: HassKey[str | None] = HassKey(f"{DOMAIN}_health_target")
DATA_HEALTH_ISSUE_AFTER: HassKey[timedelta] = HassKey(f"{DOMAIN}_health_issue_after")


def api_url(hass: HomeAssistant) -> str:
    """Return HE's base URL: HE itself unless a developer overrode it at start-up."""
    return _setting(
        hass,
        DATA_API_URL,
        ENV_API_URL,
        DEFAULT_API_URL,
        parse=validate_api_url,
        effect=lambda url: f"tunnel updates go to {url} instead of Hurricane Electric",
        log_refused_value=False,  # a refused URL may carry credentials
    )


def info_api_url(hass: HomeAssistant) -> str:
    """Return HE's base URL for tunnel information: the developer override serves it too."""
    url = api_url(hass)
    return DEFAULT_INFO_API_URL if url == DEFAULT_API_URL else url


def dns_api_url(hass: HomeAssistant) -> str:
    """Return dns.he.net's base URL: the developer override serves it under a path of its own.

    HE's tunnel updates and dns.he.net's record updates both live at `/nic/update`, on
    different hosts; a simulated HE tells them apart by path.
    """
    url = api_url(hass)
    return (
        DEFAULT_DNS_API_URL if url == DEFAULT_API_URL else url + DNS_PATH_UNDER_OVERRIDE
    )


def min_update_interval(hass: HomeAssistant) -> timedelta:
    """Return the minimum interval between two updates of a tunnel."""
    return _setting(
        hass,
        DATA_MIN_UPDATE_INTERVAL,
        ENV_MIN_UPDATE_INTERVAL,
        MIN_UPDATE_INTERVAL,
        parse=_seconds_up_to(MIN_UPDATE_INTERVAL),
        effect=lambda interval: (
            f"a tunnel may be updated every {interval.total_seconds()} s "
            "(Hurricane Electric blocks clients that update too often)"
        ),
    )


def health_target(hass: HomeAssistant) -> str | None:
    """Return the developer's echo target for the tunnel health check, if set."""
    return _setting(
        hass,
        DATA_HEALTH_TARGET,
        ENV_HEALTH_TARGET,
        None,
        parse=_ipv6_address,
        effect=lambda target: (
            f"the tunnel health check echoes {target} instead of HE's server"
        ),
    )


def health_issue_after(hass: HomeAssistant) -> timedelta:
    """Return how long the tunnel may not answer before the repair issue."""
    return _setting(
        hass,
        DATA_HEALTH_ISSUE_AFTER,
        ENV_HEALTH_ISSUE_AFTER,
        TUNNEL_DOWN_ISSUE_AFTER,
        parse=_seconds_up_to(TUNNEL_DOWN_ISSUE_AFTER),
        effect=lambda after: (
            f"a tunnel not answering for {after.total_seconds()} s is a repair issue"
        ),
    )


def _setting[T](
    hass: HomeAssistant,
    key: HassKey[T],
    name: str,
    default: T,
    *,
    parse: Callable[[str], T],
    effect: Callable[[T], str],
    log_refused_value: bool = True,
) -> T:
    """Return the variable `name` parsed, else `default`; read and logged the first time.

    `parse` raises ValueError, with the reason, for a value that is not taken.
    """
    if key in hass.data:
        return hass.data[key]
    value = default
    if override := os.environ.get(name):
        try:
            value = parse(override)
        except ValueError as err:
            shown = f"{name}={override!r}" if log_refused_value else name
            LOGGER.error("Ignoring %s (%s); using the default", shown, err)
        else:
            LOGGER.warning("%s is set: %s", name, effect(value))
    hass.data[key] = value
    return value


def _seconds_up_to(most: timedelta) -> Callable[[str], timedelta]:
    """Return a parser of a number of seconds from 0 to `most` (a setting only shortens)."""

    def parse(text: str) -> timedelta:
        try:
            seconds = float(text)
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds <= most.total_seconds():
            raise ValueError(
                f"not a number of seconds from 0 to {most.total_seconds()}"
            )
        return timedelta(seconds=seconds)

    return parse


def _ipv6_address(text: str) -> str:
    try:
        return str(IPv6Address(text.strip()))
    except ValueError:
        raise ValueError("not an IPv6 address") from None
