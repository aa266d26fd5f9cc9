"""Client for dns.he.net's dynamic records (no Home Assistant imports).

`GET https://dyn.dns.he.net/nic/update?hostname=<name>&myip=<address>` points a dynamic record
at an address: an A record for an IPv4 address, an AAAA record for an IPv6 one, each its own
request (a combined `myip=v4,v6` is refused). The record's key travels only in the
Authorization header (basic auth, the record's name as the user): never in a URL, never in a
log line. HE answers as for tunnels (good, nochg, badauth, nohost, abuse), plus notfqdn,
badagent and interval (more than 10 updates of one record in 2 minutes).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from ipaddress import ip_address
import logging
import re
from typing import Final

import aiohttp

from .he_client import (
    DEFAULT_TIMEOUT,
    MAX_REPLY_BYTES,
    UPDATE_PATH,
    UpdateResult,
    async_basic_get,
    basic_authorization,
    update_result,
    validate_api_url,
)

_LOGGER = logging.getLogger(__name__)

DEFAULT_DNS_API_URL: Final = "https://dyn.dns.he.net"
# A name of at least two labels, each 1-63 letters, digits or hyphens (not at either end).
_LABEL: Final = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
MAX_NAME_LENGTH: Final = 253


class RecordType(StrEnum):
    """The kind of a dynamic record: which address it holds."""

    A = "A"  # an IPv4 address: the router's WAN address
    AAAA = "AAAA"  # an IPv6 address: a host of the tunnel's routed prefix


@dataclass(frozen=True, slots=True)
class RecordCredentials:
    """What identifies one dynamic record at dns.he.net: its name and its key."""

    hostname: str
    key: str

    def __repr__(self) -> str:
        """Keep the key out of any repr that reaches a log."""
        return f"RecordCredentials(hostname={self.hostname!r})"

    def authorization(self) -> str:
        """Return the HTTP Basic Authorization header value (the name is the user)."""
        return basic_authorization(self.hostname, self.key)


def normalized_name(name: str) -> str:
    """Return a record name as dns.he.net shows it: lower case, without a trailing dot."""
    return name.strip().rstrip(".").lower()


def is_fqdn(name: str) -> bool:
    """Return whether `name` is a fully qualified domain name (as normalized_name gives it)."""
    if not name or len(name) > MAX_NAME_LENGTH:
        return False
    labels = name.split(".")
    return len(labels) >= 2 and all(_LABEL.fullmatch(label) for label in labels)


def record_type_of(address: str) -> RecordType:
    """Return the record an address goes to (raises ValueError for a non-address)."""
    return RecordType.A if ip_address(address).version == 4 else RecordType.AAAA


class DnsClient:
    """Talks to dns.he.net over a shared (injected) aiohttp session, connections reused."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_url: str = DEFAULT_DNS_API_URL,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Initialize with the session to use and dns.he.net's base URL."""
        self._session = session
        self._update_url = validate_api_url(api_url) + UPDATE_PATH
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def async_update_record(
        self, credentials: RecordCredentials, ip: str
    ) -> UpdateResult:
        """Point the record at `ip` (its A record for IPv4, its AAAA for IPv6)."""
        version = 4 if record_type_of(ip) is RecordType.A else 6
        reply = await async_basic_get(
            self._session,
            self._update_url,
            params={"hostname": credentials.hostname, "myip": ip},
            authorization=credentials.authorization(),
            limit=MAX_REPLY_BYTES,
            client_timeout=self._timeout,
        )
        result = update_result(reply, version)
        _LOGGER.debug(
            "Record %s update to %s: %s %s",
            credentials.hostname,
            ip,
            result.status,
            result.message,
        )
        return result
