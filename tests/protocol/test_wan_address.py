"""Which router addresses can be a 6in4 endpoint (or a record's A); which hosts an AAAA."""

from __future__ import annotations

import pytest

from custom_components.tunnelbroker.protocol.wan_address import (
    WanAddressProblem,
    ipv6_host_problem,
    wan_address_problem,
)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("84.17.0.10", None),
        (" 84.17.0.10 ", None),
        (None, WanAddressProblem.MISSING),
        ("", WanAddressProblem.MISSING),
        ("0.0.0.0", WanAddressProblem.MISSING),
        ("10.1.2.3", WanAddressProblem.BEHIND_NAT),
        ("172.16.0.1", WanAddressProblem.BEHIND_NAT),
        ("172.31.255.254", WanAddressProblem.BEHIND_NAT),
        ("192.168.0.10", WanAddressProblem.BEHIND_NAT),
        ("100.64.0.1", WanAddressProblem.BEHIND_NAT),
        ("100.127.255.254", WanAddressProblem.BEHIND_NAT),
        ("169.254.3.4", WanAddressProblem.BEHIND_NAT),
        # DS-Lite's B4 addresses (RFC 6333): no public IPv4 on the line at all.
        ("192.0.0.2", WanAddressProblem.DS_LITE),
        ("192.0.0.7", WanAddressProblem.DS_LITE),
        ("192.0.0.8", WanAddressProblem.NOT_PUBLIC),
        ("127.0.0.1", WanAddressProblem.NOT_PUBLIC),
        ("224.0.0.1", WanAddressProblem.NOT_PUBLIC),
        ("192.0.2.1", WanAddressProblem.NOT_PUBLIC),
        ("2001:db8::1", WanAddressProblem.INVALID),
        ("999.1.1.1", WanAddressProblem.INVALID),
        ("<script>", WanAddressProblem.INVALID),
    ],
)
def test_wan_address_problem(
    address: str | None, problem: WanAddressProblem | None
) -> None:
    assert wan_address_problem(address) is problem


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("2001:470:1f0b:1234::10", None),  # a host of an HE routed /64
        (" 2001:470:1f0b:1234::10 ", None),
        (None, WanAddressProblem.MISSING),
        ("", WanAddressProblem.MISSING),
        ("84.17.0.10", WanAddressProblem.INVALID),  # IPv4 goes to the A
        ("fe80::1", WanAddressProblem.NOT_PUBLIC),  # link-local
        ("fd00::1", WanAddressProblem.NOT_PUBLIC),  # unique local
        ("::1", WanAddressProblem.NOT_PUBLIC),
        ("ff02::1", WanAddressProblem.NOT_PUBLIC),
        ("2001:db8::1", WanAddressProblem.NOT_PUBLIC),  # documentation
        ("2001:470::1::2", WanAddressProblem.INVALID),
    ],
)
def test_ipv6_host_problem(
    address: str | None, problem: WanAddressProblem | None
) -> None:
    assert ipv6_host_problem(address) is problem
