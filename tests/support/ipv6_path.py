"""An IPv6 path for the tunnel health check: a "HE tunnel server" namespace that answers echoes.

The kernel here has no `sit` module, so no real 6in4 tunnel can be built: what the check
sends and receives is tested over a veth pair instead. The "HE" namespace holds the tunnel
server's IPv6 address and answers ICMPv6 echo (the kernel does), until `block_echo` drops the
requests with nftables; the namespace on the other side (the one Home Assistant runs in) gets
an address on the same /64 and nothing else, so any other IPv6 target has no route.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

from .hass_process import REPO
from .igd_router import _delete_netns, _netns_list, _run
from .lifecycle import Lifecycle

_counter = itertools.count()
TABLE = "tbhealth"
# One check by the integration's own echo code, run by another process: the result as JSON.
_CHECK = """
import asyncio, dataclasses, json, sys
from custom_components.tunnelbroker.protocol.icmp_echo import async_echo, async_icmp_privilege

async def main():
    privileged = await async_icmp_privilege()
    result = await async_echo(sys.argv[1], privileged, count=2, wait=1.0)
    print(json.dumps({**dataclasses.asdict(result), "privileged": privileged}))

asyncio.run(main())
"""


def echo_check(prefix: list[str], target: str) -> dict[str, object]:
    """Echo `target` (2 echoes, 1 s each) as `prefix` runs it: in a namespace, as a user."""
    proc = subprocess.run(  # noqa: S603 - our own module
        [*prefix, sys.executable, "-c", _CHECK, target],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


class EchoPeer(Lifecycle):
    """The HE side of an IPv6 path from namespace `local_ns` (created here when None)."""

    def __init__(
        self,
        local_ns: str | None = None,
        *,
        server: str = "2001:470:1f0a:86a0::1",
        client: str = "2001:470:1f0a:86a0::2",
    ) -> None:
        """Describe the path; `start` (`with`) creates it."""
        name = f"tbh{os.getpid()}n{next(_counter)}"
        self.he_ns = f"{name}-he"
        self._own_local = local_ns is None
        self.local_ns = local_ns or f"{name}-ha"
        self.server = server
        self.client = client

    def start(self) -> None:
        """Create the namespaces (as needed), the veth pair and the addresses."""
        try:
            _run(["ip", "netns", "add", self.he_ns])
            if self._own_local:
                _run(["ip", "netns", "add", self.local_ns])
                _run(["ip", "-n", self.local_ns, "link", "set", "lo", "up"])
            _run(["ip", "-n", self.he_ns, "link", "set", "lo", "up"])
            for ns in (self.he_ns, self.local_ns):
                _run(
                    [
                        "ip",
                        "netns",
                        "exec",
                        ns,
                        "sysctl",
                        "-qw",
                        "net.ipv6.conf.all.disable_ipv6=0",
                    ]
                )
            _run(
                [
                    *("ip", "-n", self.local_ns, "link", "add", "he6"),
                    *("type", "veth", "peer", "name", "tun6", "netns", self.he_ns),
                ]
            )
            _run(
                [
                    "ip",
                    "-n",
                    self.local_ns,
                    "addr",
                    "add",
                    f"{self.client}/64",
                    "dev",
                    "he6",
                    "nodad",
                ]
            )
            _run(
                [
                    "ip",
                    "-n",
                    self.he_ns,
                    "addr",
                    "add",
                    f"{self.server}/64",
                    "dev",
                    "tun6",
                    "nodad",
                ]
            )
            _run(["ip", "-n", self.local_ns, "link", "set", "he6", "up"])
            _run(["ip", "-n", self.he_ns, "link", "set", "tun6", "up"])
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Delete the HE namespace (the veth goes with it), and the local one if it is ours."""
        for ns in (self.he_ns, *([self.local_ns] if self._own_local else [])):
            if ns in _netns_list():
                _delete_netns(ns)

    def block_echo(self) -> None:
        """Drop ICMPv6 echo requests at the HE side: the tunnel carries nothing."""
        rules = (
            f"table inet {TABLE} {{\n  chain input {{\n"
            "    type filter hook input priority 0;\n"
            "    icmpv6 type echo-request drop\n  }\n}\n"
        )
        _run(["ip", "netns", "exec", self.he_ns, "nft", "-f", "-"], input_=rules)

    def unblock_echo(self) -> None:
        """Answer echoes again."""
        _run(
            ["ip", "netns", "exec", self.he_ns, "nft", "delete", "table", "inet", TABLE]
        )
