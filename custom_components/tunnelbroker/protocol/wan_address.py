"""Whether an address can be sent to HE (no Home Assistant imports).

A router's WAN address as a 6in4 tunnel endpoint or a record's A; a host's IPv6 address as a
record's AAAA.
"""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, ip_address

# Ranges a router holds when it is itself behind another NAT: RFC 1918, carrier-grade NAT
# (RFC 6598) and link-local (no DHCP answer upstream).
_BEHIND_NAT_NETWORKS = tuple(
    IPv4Network(net)
    for net in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.0.0/16",
    )
)


# DS-Lite (RFC 6333): the router's end of an IPv4-in-IPv6 tunnel to the provider's NAT. Such a
# line has no public IPv4 address at all.
_DS_LITE_NETWORK = IPv4Network("192.0.0.0/29")


class WanAddressProblem(StrEnum):
    """Why an address cannot be the tunnel's endpoint."""

    MISSING = "missing"  # empty, or 0.0.0.0: the router has no WAN address
    INVALID = "invalid"  # not an IPv4 address at all
    BEHIND_NAT = "behind_nat"  # private, CGNAT or link-local: another NAT sits upstream
    DS_LITE = "ds_lite"  # DS-Lite: the line has no public IPv4 address at all
    NOT_PUBLIC = "not_public"  # loopback, multicast, reserved, documentation ranges


def wan_address_problem(address: str | None) -> WanAddressProblem | None:
    """Return why `address` cannot be a tunnel endpoint, or None when it can."""
    if not address or address.strip() in ("", "0.0.0.0"):
        return WanAddressProblem.MISSING
    try:
        parsed = ip_address(address.strip())
    except ValueError:
        return WanAddressProblem.INVALID
    if not isinstance(parsed, IPv4Address):
        return WanAddressProblem.INVALID
    if parsed in _DS_LITE_NETWORK:
        return WanAddressProblem.DS_LITE
    if any(parsed in network for network in _BEHIND_NAT_NETWORKS):
        return WanAddressProblem.BEHIND_NAT
    if not parsed.is_global or parsed.is_multicast:
        return WanAddressProblem.NOT_PUBLIC
    return None


def ipv6_host_problem(address: str | None) -> WanAddressProblem | None:
    """Return why `address` cannot be a record's AAAA (a global IPv6 unicast address)."""
    if not address or not address.strip():
        return WanAddressProblem.MISSING
    try:
        parsed = ip_address(address.strip())
    except ValueError:
        return WanAddressProblem.INVALID
    if not isinstance(parsed, IPv6Address):
        return WanAddressProblem.INVALID
    if not parsed.is_global or parsed.is_multicast:
        return WanAddressProblem.NOT_PUBLIC
    return None
