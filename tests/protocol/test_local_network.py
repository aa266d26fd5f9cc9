"""Where the router is, as this host sees it: the default gateway and which location to follow."""

from __future__ import annotations

from pathlib import Path

from custom_components.tunnelbroker.protocol.local_network import (
    default_gateway,
    followed_location,
)

ROUTE_TABLE = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    "eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
)


def test_default_gateway_is_read_from_the_route_table(tmp_path: Path) -> None:
    table = tmp_path / "route"
    table.write_text(ROUTE_TABLE)
    assert default_gateway(str(table)) == "192.168.1.1"
    table.write_text(ROUTE_TABLE.splitlines()[0] + "\n" + ROUTE_TABLE.splitlines()[1])
    assert default_gateway(str(table)) is None  # no default route
    assert default_gateway(str(tmp_path / "missing")) is None


def test_a_new_location_is_followed_only_on_the_routers_host_or_the_gateway() -> None:
    current = "http://192.168.1.1:5000/rootDesc.xml"
    # The router restarted its UPnP server on another port.
    moved = "http://192.168.1.1:40123/rootDesc.xml"
    assert followed_location(current, {moved}, None) == moved
    # Another host names the router's UDN: not followed...
    rogue = "http://192.168.1.66:5000/rootDesc.xml"
    assert followed_location(current, {rogue}, "192.168.1.1") is None
    # ...unless this host's default route goes through it (a new lease).
    assert followed_location(current, {rogue}, "192.168.1.66") == rogue
    # Of several, the router's own host first, IPv4 before IPv6.
    v6 = "http://[fe80::1]:5000/rootDesc.xml"
    assert followed_location(current, {v6, rogue, moved}, "192.168.1.66") == moved
    gateway_v4 = "http://10.0.0.1:1900/d.xml"
    assert followed_location(current, {v6, gateway_v4}, "10.0.0.1") == gateway_v4
