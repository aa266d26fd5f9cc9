"""Whether IPv6 passes through the tunnel: ICMPv6 echo to HE's tunnel server (icmplib).

The route is looked up first (a UDP socket's connect sends nothing): without an IPv6 route to
the target, the host cannot use the tunnel at all, which is not the same as the tunnel not
answering. icmplib sends with a raw socket where allowed (root, CAP_NET_RAW), else with an
unprivileged ICMP socket (Linux's ping_group_range); where neither is allowed, that is said.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
import errno
from ipaddress import IPv6Address
import socket
import statistics

from icmplib import ICMPLibError, SocketPermissionError, async_ping

# Errors of a route lookup that mean "no route from this host".
_NO_ROUTE_ERRNOS = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT}
)
ECHO_COUNT = 3
ECHO_TIMEOUT = 2.0  # seconds to wait for each answer


class EchoOutcome(StrEnum):
    """What a check came to."""

    ANSWERED = "answered"  # at least one echo came back
    NO_ANSWER = "no_answer"  # sent, nothing came back: the tunnel does not carry IPv6
    NO_ROUTE = "no_route"  # this host has no IPv6 route to the target
    NOT_PERMITTED = "not_permitted"  # neither raw nor unprivileged ICMP sockets allowed


@dataclass(frozen=True, slots=True)
class EchoResult:
    """One check: its outcome, the round trip, the echoes sent and answered, the detail."""

    target: str
    outcome: EchoOutcome
    rtt_ms: float | None = None
    sent: int = 0
    received: int = 0
    detail: str | None = None


async def async_icmp_privilege() -> bool | None:
    """Return True for raw ICMP sockets, False for unprivileged ones, None for neither.

    A host without IPv6 at all (no ICMPv6 socket of any kind) counts as neither.
    """
    for privileged in (True, False):
        try:
            await async_ping("::1", count=0, timeout=0, privileged=privileged)
        except SocketPermissionError:
            continue
        except (ICMPLibError, OSError):
            return None
        return privileged
    return None


def route_problem(target: str) -> str | None:
    """Return why this host has no route to `target` (None when it has one).

    Nothing is sent: connecting a UDP socket only looks the route up.
    """
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.connect((target, 9))
    except OSError as err:
        if err.errno in _NO_ROUTE_ERRNOS:
            return err.strerror or str(err)
        raise
    return None


async def async_echo(
    target: str,
    privileged: bool | None,
    *,
    count: int = ECHO_COUNT,
    wait: float = ECHO_TIMEOUT,
) -> EchoResult:
    """Send `count` ICMPv6 echo requests to `target` at once; return what came of them.

    Each answer is awaited `wait` seconds, all side by side: a tunnel that answers nothing is
    told in `wait` seconds, not `count` times that (a person pressing *Check tunnel* waits).
    Each echo has its own socket and identifier, so no answer is counted twice.
    """
    address = str(IPv6Address(target))
    if privileged is None:
        return EchoResult(
            address,
            EchoOutcome.NOT_PERMITTED,
            detail="neither raw nor unprivileged ICMP sockets are allowed",
        )
    try:
        if (problem := route_problem(address)) is not None:
            return EchoResult(address, EchoOutcome.NO_ROUTE, detail=problem)
        hosts = await asyncio.gather(
            *(
                async_ping(address, count=1, timeout=wait, privileged=privileged)
                for _ in range(count)
            )
        )
    except SocketPermissionError as err:
        return EchoResult(address, EchoOutcome.NOT_PERMITTED, detail=str(err))
    except (ICMPLibError, OSError) as err:
        return EchoResult(address, EchoOutcome.NO_ROUTE, detail=str(err))
    sent = sum(host.packets_sent for host in hosts)
    rtts = [rtt for host in hosts for rtt in host.rtts]
    if sent == 0:
        # Every send failed: the kernel refused the route after all.
        return EchoResult(address, EchoOutcome.NO_ROUTE, detail="no echo could be sent")
    if not rtts:
        return EchoResult(address, EchoOutcome.NO_ANSWER, sent=sent, received=0)
    return EchoResult(
        address,
        EchoOutcome.ANSWERED,
        rtt_ms=round(statistics.fmean(rtts), 3),
        sent=sent,
        received=len(rtts),
    )
