"""Client for Hurricane Electric's Tunnelbroker APIs (no Home Assistant imports).

`GET <api>/nic/update?hostname=<tunnel id>&myip=<IPv4>` sets a tunnel's endpoint;
`GET <info api>/tunnelInfo.php?tid=<tunnel id>` reads the tunnel's addresses (XML). Both use HTTP
basic auth (username, update key). The key travels only in the Authorization header: never in a
URL, never in a log line.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_interface, ip_network
import logging
from typing import Final
from urllib.parse import urlsplit

import aiohttp
from aiohttp import hdrs
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from .bounded_read import read_at_most

_LOGGER = logging.getLogger(__name__)

DEFAULT_API_URL: Final = "https://ipv4.tunnelbroker.net"
UPDATE_PATH: Final = "/nic/update"
# Tunnel information lives on HE's main host, not on the `ipv4.` update host.
DEFAULT_INFO_API_URL: Final = "https://tunnelbroker.net"
INFO_PATH: Final = "/tunnelInfo.php"
# HE pings a new endpoint from this address before it accepts it.
ICMP_PROBE_ADDRESS: Final = "66.220.2.74"
# HE's replies are a few words; anything longer is not a reply we know.
MAX_REPLY_BYTES: Final = 4096
MAX_MESSAGE_CHARS: Final = 300
# A tunnel's information is well under 1 KiB; an account with many tunnels stays far below this.
MAX_INFO_REPLY_BYTES: Final = 64 * 1024
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
    # dns.he.net's dynamic records only:
    NOTFQDN = "notfqdn"  # the record's name is not a fully qualified domain name
    BADAGENT = "badagent"  # HE refuses this client (its user agent)
    INTERVAL = "interval"  # more than 10 updates of the record within 2 minutes
    UNAVAILABLE = "unavailable"  # 911, dnserr, HTTP 5xx, timeout, connection failure
    UNKNOWN = "unknown"  # a reply we do not know


# HE refused and changed nothing; only the user can change that.
REFUSALS: Final = frozenset(
    {
        UpdateStatus.BADAUTH,
        UpdateStatus.NOHOST,
        UpdateStatus.BADIP,
        UpdateStatus.ICMP_BLOCKED,
        UpdateStatus.NOTFQDN,
        UpdateStatus.BADAGENT,
    }
)
_UNSETTLED: Final = frozenset(
    {UpdateStatus.UNAVAILABLE, UpdateStatus.ERROR, UpdateStatus.UNKNOWN}
)


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
    def unsettled(self) -> bool:
        """Return whether the answer leaves open whether HE took the address.

        An outage, a lost reply, or an answer nobody knows (a redirect, a 404, a maintenance
        page, another `-ERROR`): the same request may succeed later without the user.
        """
        return self.status in _UNSETTLED

    @property
    def refused(self) -> bool:
        """Return whether HE refused and changed nothing, for a reason only the user can fix."""
        return self.status in REFUSALS


class TunnelInfoStatus(StrEnum):
    """Outcome of one tunnel information request."""

    OK = "ok"  # HE described the tunnel
    # HE answered, but not with the tunnel: 401/403, a badauth-like or non-XML body, XML without
    # the tunnel. HE does not document whether the update key is accepted here.
    REFUSED = "refused"
    UNAVAILABLE = "unavailable"  # HTTP 5xx or 429, timeout, connection failure


@dataclass(frozen=True, slots=True)
class TunnelInfo:
    """A tunnel as HE describes it; a value HE left out or sent malformed is None."""

    tunnel_id: str
    description: str | None
    server_v4: str | None
    client_v4: str | None
    server_v6: str | None
    client_v6: str | None
    routed_64: str | None
    routed_48: str | None = None


@dataclass(frozen=True, slots=True)
class TunnelInfoResult:
    """HE's answer to one tunnel information request, typed."""

    status: TunnelInfoStatus
    info: TunnelInfo | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class TunnelCredentials:
    """What identifies one tunnel at HE."""

    username: str
    update_key: str
    tunnel_id: str

    def __repr__(self) -> str:
        """Keep the update key out of any repr that reaches a log."""
        return f"TunnelCredentials(username={self.username!r}, tunnel_id={self.tunnel_id!r})"

    def authorization(self) -> str:
        """Return the HTTP Basic Authorization header value."""
        return basic_authorization(self.username, self.update_key)


def basic_authorization(user: str, password: str) -> str:
    """Return an HTTP Basic Authorization header value (RFC 7617, UTF-8)."""
    pair = f"{user}:{password}".encode()
    return f"Basic {base64.b64encode(pair).decode('ascii')}"


# One-word answers, each its own status.
_WORDS: Final = frozenset(
    {"badauth", "abuse", "nohost", "badip", "notfqdn", "badagent", "interval"}
)


def parse_update_reply(http_status: int, body: str, version: int = 4) -> UpdateResult:
    """Turn HE's HTTP status and plain-text body into a typed result.

    `version`: the IP version of the address sent (a dynamic DNS record's AAAA is 6), which
    `good`/`nochg` must echo.
    """
    text = body.strip()
    message = text[:MAX_MESSAGE_CHARS]
    if http_status >= 500 or http_status in (408, 429):
        # Server trouble, a timeout or "too many requests": try again later.
        return UpdateResult(UpdateStatus.UNAVAILABLE, message=f"HTTP {http_status}")
    words = text.split()
    first = words[0].lower() if words else ""
    if first in ("good", "nochg"):
        ip = words[1] if len(words) > 1 else None
        if ip is not None and _ip_version(ip) != version:
            return UpdateResult(UpdateStatus.UNKNOWN, message=message)
        return UpdateResult(UpdateStatus(first), ip=ip, message=message)
    if first in _WORDS and len(words) == 1:
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


def update_result(reply: tuple[int, bytes] | str, version: int = 4) -> UpdateResult:
    """Return an update's result: HE's reply parsed, or unavailable (why no reply came)."""
    if isinstance(reply, str):
        return UpdateResult(UpdateStatus.UNAVAILABLE, message=reply)
    status, raw = reply
    return parse_update_reply(status, raw.decode("utf-8", errors="replace"), version)


def parse_tunnel_info(body: bytes | str, tunnel_id: str) -> TunnelInfoResult:
    """Find tunnel `tunnel_id` in a tunnelInfo.php reply.

    `<tunnels><tunnel id="..."><serverv4/><clientv4/>...</tunnel></tunnels>`. The XML is parsed
    with defusedxml and no DTD at all (no entity expansion bombs, no external entities); a
    reply over MAX_INFO_REPLY_BYTES is not parsed. Anything but the tunnel is a refusal.
    """
    raw = body.encode() if isinstance(body, str) else body
    if len(raw) > MAX_INFO_REPLY_BYTES:
        return _refused("reply too large")
    try:
        root = fromstring(raw, forbid_dtd=True)
    except DefusedXmlException as err:
        return _refused(f"forbidden XML: {type(err).__name__}")
    except ParseError:
        return _refused(
            "not XML: " + raw[:80].decode("utf-8", errors="replace").strip()
        )
    if root.tag != "tunnels":
        return _refused(f"unexpected XML root <{root.tag}>")
    tunnel = next(
        (t for t in root.iterfind("tunnel") if t.get("id") == tunnel_id), None
    )
    if tunnel is None:
        return _refused(f"no tunnel {tunnel_id} in the reply")

    def text(tag: str) -> str | None:
        value = (tunnel.findtext(tag) or "").strip()
        return value or None

    info = TunnelInfo(
        tunnel_id=tunnel_id,
        description=text("description"),
        server_v4=_address(text("serverv4"), IPv4Address),
        client_v4=_address(text("clientv4"), IPv4Address),
        server_v6=_address(text("serverv6"), IPv6Address),
        client_v6=_address(text("clientv6"), IPv6Address),
        routed_64=_ipv6_prefix(text("routed64"), 64),
        routed_48=_ipv6_prefix(text("routed48"), 48),
    )
    return TunnelInfoResult(TunnelInfoStatus.OK, info=info)


def _refused(message: str) -> TunnelInfoResult:
    return TunnelInfoResult(
        TunnelInfoStatus.REFUSED, message=message[:MAX_MESSAGE_CHARS]
    )


def _address(value: str | None, version: type[IPv4Address | IPv6Address]) -> str | None:
    """Return an address of that type, normalised; HE's tunnel side may add a /prefix."""
    if value is None:
        return None
    try:
        interface = ip_interface(value)
    except ValueError:
        return None
    if not isinstance(interface.ip, version):
        return None
    return str(interface) if "/" in value else str(interface.ip)


def _ipv6_prefix(value: str | None, length: int) -> str | None:
    """Return an IPv6 prefix of exactly `length` bits, normalised."""
    if value is None:
        return None
    try:
        network = ip_network(value)
    except ValueError:
        return None
    if network.version != 6 or network.prefixlen != length:
        return None
    return str(network)


def _tunnel_info_reply(
    http_status: int, body: bytes, tunnel_id: str
) -> TunnelInfoResult:
    """Turn HE's HTTP status and body into a typed tunnel information result."""
    if http_status >= 500 or http_status == 429:
        return TunnelInfoResult(
            TunnelInfoStatus.UNAVAILABLE, message=f"HTTP {http_status}"
        )
    if http_status != 200:
        return _refused(f"HTTP {http_status}")
    return parse_tunnel_info(body, tunnel_id)


def _ip_version(text: str) -> int | None:
    try:
        return ip_address(text).version
    except ValueError:
        return None


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
    """Talks to HE over a shared (injected) aiohttp session.

    One session for every request: connections are kept alive and reused, never one per update.
    Updates and tunnel information live on different hosts at HE; a developer override of the
    API URL (a simulated HE) serves both, so `info_api_url` is then that same URL.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_url: str = DEFAULT_API_URL,
        timeout: float = DEFAULT_TIMEOUT,
        info_api_url: str = DEFAULT_INFO_API_URL,
    ) -> None:
        """Initialize with the session to use and HE's base URLs."""
        self._session = session
        self._update_url = validate_api_url(api_url) + UPDATE_PATH
        self._info_url = validate_api_url(info_api_url) + INFO_PATH
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def async_update_endpoint(
        self, credentials: TunnelCredentials, ip: str
    ) -> UpdateResult:
        """Ask HE to set the tunnel's IPv4 endpoint to `ip`."""
        params = {"hostname": credentials.tunnel_id, "myip": ip}
        result = update_result(
            await async_basic_get(
                self._session,
                self._update_url,
                params=params,
                authorization=credentials.authorization(),
                limit=MAX_REPLY_BYTES,
                client_timeout=self._timeout,
            )
        )
        _LOGGER.debug(
            "Tunnel %s endpoint update to %s: %s %s",
            credentials.tunnel_id,
            ip,
            result.status,
            result.message,
        )
        return result

    async def async_get_tunnel_info(
        self, credentials: TunnelCredentials
    ) -> TunnelInfoResult:
        """Read the tunnel's addresses from HE's tunnelInfo.php."""
        params = {"tid": credentials.tunnel_id}
        # One byte over the limit tells a reply that is too large from one that just fits.
        reply = await async_basic_get(
            self._session,
            self._info_url,
            params=params,
            authorization=credentials.authorization(),
            limit=MAX_INFO_REPLY_BYTES + 1,
            client_timeout=self._timeout,
        )
        if isinstance(reply, str):
            result = TunnelInfoResult(TunnelInfoStatus.UNAVAILABLE, message=reply)
        else:
            result = _tunnel_info_reply(*reply, credentials.tunnel_id)
        _LOGGER.debug(
            "Tunnel %s information: %s %s",
            credentials.tunnel_id,
            result.status,
            result.message,
        )
        return result


async def async_basic_get(
    session: aiohttp.ClientSession,
    url: str,
    *,
    params: dict[str, str],
    authorization: str,
    limit: int,
    client_timeout: aiohttp.ClientTimeout,
) -> tuple[int, bytes] | str:
    """GET with basic auth; return (HTTP status, at most `limit` bytes) or why it failed.

    The credentials travel in the Authorization header only; redirects are not followed.
    """
    # Built by the caller rather than with aiohttp.BasicAuth, which aiohttp 3.14 deprecates.
    headers = {hdrs.AUTHORIZATION: authorization}
    try:
        async with session.get(
            url,
            params=params,
            headers=headers,
            timeout=client_timeout,
            allow_redirects=False,
        ) as response:
            return response.status, await read_at_most(response.content, limit)
    except TimeoutError:
        return "timeout"
    except (aiohttp.ClientError, asyncio.IncompleteReadError) as err:
        return f"connection failed: {type(err).__name__}"


@dataclass(frozen=True, slots=True)
class UpdateAttempt:
    """One update asked for, HE's answer (or why none was sent), and when."""

    ip: str
    result: UpdateResult
    at: datetime
    automatic: bool
    sent: bool = True

    def describe(self) -> str:
        """Return HE's answer in a few words, for an error message."""
        return f"{self.result.status.value} {self.result.message}".strip()


def held_attempt(ip: str, at: datetime, *, automatic: bool) -> UpdateAttempt:
    """Return the attempt that sent nothing: HE's tunnel information showed it held `ip`."""
    return UpdateAttempt(
        ip=ip,
        result=UpdateResult(
            UpdateStatus.NOCHG, ip=ip, message="already held (tunnel information)"
        ),
        at=at,
        automatic=automatic,
        sent=False,
    )
