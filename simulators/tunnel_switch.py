"""The demo's tunnel switch: make the tunnel's far end stop answering, and answer again.

In the demo the tunnel health check echoes `::1` (developer setting TUNNELBROKER_HEALTH_TARGET):
there is no real 6in4 tunnel to break. What a broken tunnel looks like from Home Assistant is
echo requests that go unanswered, and that is what the switch makes: it sets the kernel's
`net.ipv6.icmp.echo_ignore_all` of the network namespace the simulators run in, so that nothing
in it answers an ICMPv6 echo any more.

That setting belongs to a whole network namespace. The switch therefore works only in a
namespace that holds nothing but loopback: one made for the demo (scripts/develop's private
network, `python -m simulators.private_network`) or by a test. In any other -- this machine's
own network, where the setting would silence `::1` for everyone -- it refuses, and says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
import socket

ECHO_IGNORE_ALL = Path("/proc/sys/net/ipv6/icmp/echo_ignore_all")


def interface_names() -> list[str]:
    """Return the network interfaces of the namespace this process runs in."""
    return [name for _index, name in socket.if_nameindex()]


@dataclass
class TunnelSwitch:
    """Whether the demo's tunnel carries echoes; switchable in a loopback-only namespace."""

    sysctl: Path = ECHO_IGNORE_ALL
    interfaces: Callable[[], list[str]] = interface_names

    def unavailable_reason(self) -> str | None:
        """Why the tunnel cannot be broken here, or None when it can."""
        others = [name for name in self.interfaces() if name != "lo"]
        if others:
            return (
                "the simulators share a network with other interfaces "
                f"({', '.join(sorted(others))}): breaking the tunnel would silence ::1 for "
                "the whole machine. Start the demo in a private network (scripts/develop does "
                "so where Linux allows it) to break the tunnel here."
            )
        if not self.sysctl.exists():
            return f"this kernel has no {self.sysctl} (IPv6 switched off)"
        return None

    @property
    def broken(self) -> bool:
        """Whether echoes go unanswered (False where the switch cannot be read)."""
        try:
            return self.sysctl.read_text().strip() == "1"
        except OSError:
            return False

    def set_broken(self, broken: bool) -> None:
        """Break the tunnel (echoes unanswered) or mend it; refused outside a private network."""
        if (reason := self.unavailable_reason()) is not None:
            raise TunnelSwitchUnavailable(reason)
        try:
            self.sysctl.write_text("1\n" if broken else "0\n")
        except OSError as err:
            raise TunnelSwitchUnavailable(
                f"cannot write {self.sysctl}: {err.strerror}"
            ) from err


class TunnelSwitchUnavailable(Exception):
    """The tunnel cannot be broken in this network namespace."""
