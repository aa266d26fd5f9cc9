"""The tunnel health check's echo: real ICMPv6, on loopback and in namespaces the tests create.

This kernel has no `sit` module: no real 6in4 tunnel can be built, so the echo path is what
is tested, over a veth pair between a namespace Home Assistant's side runs in and a "HE tunnel
server" namespace (tests/support/ipv6_path.py).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from custom_components.tunnelbroker.protocol.icmp_echo import (
    EchoOutcome,
    async_echo,
    async_icmp_privilege,
)
from tests.support.ipv6_path import EchoPeer, echo_check


async def test_loopback_answers_with_a_round_trip() -> None:
    privileged = await async_icmp_privilege()
    assert privileged is not None, "the tests run where ICMP sockets are allowed"
    result = await async_echo("::1", privileged, count=2, wait=1.0)
    assert result.outcome is EchoOutcome.ANSWERED
    assert result.rtt_ms is not None and 0 <= result.rtt_ms < 1000
    assert (result.sent, result.received) == (2, 2)


async def test_not_an_ipv6_address_is_refused() -> None:
    with pytest.raises(ValueError):
        await async_echo("192.0.2.1", True)


async def test_no_icmp_socket_allowed_is_said() -> None:
    result = await async_echo("::1", None)
    assert result.outcome is EchoOutcome.NOT_PERMITTED
    assert result.detail


@pytest.mark.router
def test_unprivileged_user_without_ping_sockets_is_told() -> None:
    """As a user without CAP_NET_RAW, where ping_group_range excludes it: neither socket."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    with open("/proc/sys/net/ipv4/ping_group_range", encoding="ascii") as ranges:
        low, high = (int(x) for x in ranges.read().split())
    if low <= 65534 <= high:
        pytest.skip("this machine allows unprivileged ICMP sockets for nobody")
    result = echo_check(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"], "::1"
    )
    assert result["privileged"] is None
    assert result["outcome"] == "not_permitted"


@pytest.mark.router
def test_echo_through_a_namespace_path() -> None:
    """Answered, then dropped by the HE side's firewall (no answer), and an unrouted target."""
    with EchoPeer() as peer:
        prefix = ["ip", "netns", "exec", peer.local_ns]
        answered = echo_check(prefix, peer.server)
        assert answered["outcome"] == "answered"
        assert isinstance(answered["rtt_ms"], float)
        assert answered["received"] == 2

        peer.block_echo()
        dropped = echo_check(prefix, peer.server)
        assert dropped["outcome"] == "no_answer"
        assert (dropped["sent"], dropped["received"]) == (2, 0)
        peer.unblock_echo()
        assert echo_check(prefix, peer.server)["outcome"] == "answered"

        # Another IPv6 network: the namespace has no route to it (no default route).
        unrouted = echo_check(prefix, "2001:470:ffff::1")
        assert unrouted["outcome"] == "no_route"
        assert unrouted["sent"] == 0

        # A host with IPv6 switched off: no route either, never a false "no answer".
        subprocess.run(  # noqa: S603 - fixed arguments
            [*prefix, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"], check=True
        )
        assert echo_check(prefix, peer.server)["outcome"] == "no_route"
