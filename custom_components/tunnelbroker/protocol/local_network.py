"""What this host's own network says about where the router is (no Home Assistant imports).

A router that reboots may come back on another port or path, or, after a new lease, on another
address. An SSDP announcement that names the router's UDN proves nothing (anyone on the LAN can
learn the UDN with one M-SEARCH), so a new description URL is followed only on the router's own
host, or on the host this machine's default route goes through (the router, seen from here).
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address
import socket
import struct
from urllib.parse import urlsplit

PROC_ROUTE = "/proc/net/route"


def default_gateway(route_table: str = PROC_ROUTE) -> str | None:
    """Return the IPv4 gateway of this host's default route (Linux), if there is one."""
    try:
        with open(route_table, encoding="ascii") as table:
            lines = table.read().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        # Iface Destination Gateway Flags ...; RTF_GATEWAY is 0x2.
        if len(fields) > 3 and fields[1] == "00000000" and int(fields[3], 16) & 0x2:
            packed = struct.pack("<L", int(fields[2], 16))
            return str(IPv4Address(socket.inet_ntoa(packed)))
    return None


def location_host(location: str) -> str:
    """Return the host of a description URL ("" if it has none)."""
    return (urlsplit(location).hostname or "").lower()


def followed_location(
    current: str, announced: Iterable[str], gateway: str | None
) -> str | None:
    """Return which announced location to follow for the router at `current`, if any.

    One on the same host first (the router restarted its UPnP server), else one on the
    default gateway (a new lease); IPv4 before IPv6, as core `upnp` prefers. None: none of
    them is the router as far as this host can tell.
    """
    ordered = sorted(announced, key=lambda url: (url.startswith("http://["), url))
    host = location_host(current)
    for candidates in (host, gateway):
        for location in ordered:
            if candidates and location_host(location) == candidates:
                return location
    return None
