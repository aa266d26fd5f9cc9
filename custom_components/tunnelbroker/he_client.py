"""Client for Hurricane Electric's Tunnelbroker endpoint update API (no Home Assistant imports).

`GET <api>/nic/update?hostname=<tunnel id>&myip=<IPv4>` with HTTP basic auth (username, update
key). The key travels only in the Authorization header: never in a URL, never in a log line.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import ip_address
import logging
from typing import Final
from urllib.parse import urlsplit

import aiohttp

_LOGGER = logging.getLogger(__name__)

DEFAULT_API_URL: Final = "https://ipv4.tunnelbroker.net"
UPDATE_PATH: Final = "/nic/update"
# HE pings a new endpoint from this address before it accepts it.
ICMP_PROBE_ADDRESS: Final = "66.220.2.74"
# HE's replies are a few words; anything longer is not a reply we know.
MAX_REPLY_BYTES: Final = 4096
MAX_MESSAGE_CHARS: Final = 300
DEFAULT_TIMEOUT: Final = 30.0


class UpdateStatus(StrEnum):
    """Outcome of one endpoint update, one value per kind of reply HE gives."""

    GOOD = "good"  # endpoint changed
    NOCHG = "nochg"  # endpoint already had that address
    BADAUTH = "badauth"  # wrong username or update key
    ABUSE = "abuse"  # blocked for too many updates
    NOHOST = "nohost"  # tunnel id unknown for this account
    BADIP = "badip"  # address refused
    ICMP_BLOCKED = "icmp_blocked"  # HE could not ping the new endpoint
    ERROR = "error"  # another "-ERROR: ..." text
    UNAVAILABLE = "unavailable"  # 911, dnserr, HTTP 5xx, timeout, connection failure
    UNKNOWN = "unknown"  # a reply we do not know


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """HE's answer to one endpoint update, typed."""

    status: UpdateStatus
    ip: str | None = None
    message: str = ""

    @property
    def success(self) -> bool:
        """Return whether HE now holds the address (changed or already set)."""
        return self.status in (UpdateStatus.GOOD, UpdateStatus.NOCHG)

    @property
    def retryable(self) -> bool:
        """Return whether the same request may succeed later without user action."""
        return self.status is UpdateStatus.UNAVAILABLE


@dataclass(frozen=True, slots=True)
class TunnelCredentials:
    """What identifies one tunnel at HE."""

    username: str
    update_key: str
    tunnel_id: str

    def __repr__(self) -> str:
        """Keep the update key out of any repr that reaches a log."""
        return f"TunnelCredentials(username={self.username!r}, tunnel_id={self.tunnel_id!r})"


def parse_update_reply(http_status: int, body: str) -> UpdateResult:
    """Turn HE's HTTP status and plain-text body into a typed result."""
    text = body.strip()
    message = text[:MAX_MESSAGE_CHARS]
    if http_status >= 500:
        return UpdateResult(UpdateStatus.UNAVAILABLE, message=f"HTTP {http_status}")
    words = text.split()
    first = words[0].lower() if words else ""
    if first in ("good", "nochg"):
        ip = words[1] if len(words) > 1 else None
        if ip is not None and not _is_ipv4(ip):
            return UpdateResult(UpdateStatus.UNKNOWN, message=message)
        return UpdateResult(UpdateStatus(first), ip=ip, message=message)
    if first in ("badauth", "abuse", "nohost", "badip") and len(words) == 1:
        return UpdateResult(UpdateStatus(first), message=message)
    if first in ("911", "dnserr") and len(words) == 1:
        return UpdateResult(UpdateStatus.UNAVAILABLE, message=message)
    if text.startswith("-ERROR"):
        if "icmp" in text.lower() or ICMP_PROBE_ADDRESS in text:
            return UpdateResult(UpdateStatus.ICMP_BLOCKED, message=message)
        return UpdateResult(UpdateStatus.ERROR, message=message)
    if http_status in (401, 403):
        return UpdateResult(
            UpdateStatus.BADAUTH, message=message or f"HTTP {http_status}"
        )
    return UpdateResult(UpdateStatus.UNKNOWN, message=message or f"HTTP {http_status}")


def _is_ipv4(text: str) -> bool:
    try:
        return ip_address(text).version == 4
    except ValueError:
        return False


def validate_api_url(url: str) -> str:
    """Return the API base URL without a trailing slash, or raise ValueError.

    HTTPS is required, except towards loopback (a simulated HE server in tests or the demo):
    the update key must never cross a network in clear text.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(
            "the API URL must not carry credentials, a query or a fragment"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError("plain http is allowed only towards loopback")
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


class TunnelbrokerClient:
    """Sends endpoint updates to HE over a shared (injected) aiohttp session.

    One session for every request: connections are kept alive and reused, never one per update.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_url: str = DEFAULT_API_URL,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Initialize with the session to use and HE's base URL."""
        self._session = session
        self._update_url = validate_api_url(api_url) + UPDATE_PATH
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @property
    def update_url(self) -> str:
        """Return the URL updates go to (it holds no secret)."""
        return self._update_url

    async def async_update_endpoint(
        self, credentials: TunnelCredentials, ip: str
    ) -> UpdateResult:
        """Ask HE to set the tunnel's IPv4 endpoint to `ip`."""
        params = {"hostname": credentials.tunnel_id, "myip": ip}
        auth = aiohttp.BasicAuth(
            credentials.username, credentials.update_key, encoding="utf-8"
        )
        try:
            async with self._session.get(
                self._update_url,
                params=params,
                auth=auth,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                raw = await response.content.read(MAX_REPLY_BYTES)
                status = response.status
        except TimeoutError:
            result = UpdateResult(UpdateStatus.UNAVAILABLE, message="timeout")
        except (aiohttp.ClientError, asyncio.IncompleteReadError) as err:
            result = UpdateResult(
                UpdateStatus.UNAVAILABLE,
                message=f"connection failed: {type(err).__name__}",
            )
        else:
            result = parse_update_reply(status, raw.decode("utf-8", errors="replace"))
        _LOGGER.debug(
            "Tunnel %s endpoint update to %s: %s %s",
            credentials.tunnel_id,
            ip,
            result.status,
            result.message,
        )
        return result
