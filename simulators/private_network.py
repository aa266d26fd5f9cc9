"""Run a command in a network of its own that holds only loopback: the demo's private network.

    python -m simulators.private_network --forward 8123 --forward 192.0.2.1:8125 -- CMD [ARG...]

scripts/develop runs the demo this way, the simulators and Home Assistant side by side. What
they send stays inside: Home Assistant's SSDP and mDNS, the tunnel check's echoes, and the
demo's tunnel switch (tunnel_switch.py), which may silence echoes in there and nowhere else.
Each `--forward [HOST:]PORT` stays reachable from this machine's loopback: the launcher listens
on 127.0.0.1:PORT here before it leaves, and hands every connection on to HOST:PORT inside
(127.0.0.1 unless given).

Inside, loopback also carries the demo's LAN (`DEMO_LAN_IP`, a documentation address that exists
only in there) with multicast on: Home Assistant's SSDP ignores loopback addresses, so the
simulated router answers SSDP on that address and Home Assistant discovers it as it does a real
router on a real LAN. `--lan-up` sets that up in the network it runs in (a test's own namespace).

As root it makes a network namespace; otherwise it makes a user namespace as well, where Linux
allows unprivileged ones, in which the command is root of that namespace only (the files it
writes still belong to whoever started it). `--check` says whether it can, and why not.
The command runs in a process group of its own: Ctrl-C and SIGTERM are passed on to that group,
whatever is left of it when the command ends is stopped, and its exit status is the launcher's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import fcntl
import os
from pathlib import Path
import signal
import socket
import struct
import sys

LOOPBACK = "127.0.0.1"
# TEST-NET-1 (RFC 5737): an address no real network uses, given to loopback inside only.
DEMO_LAN_IP = "192.0.2.1"
DEMO_LAN_PREFIX = 24
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFF_MULTICAST = 0x1000
# rtnetlink, to add an address (linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h).
_RTM_NEWADDR, _RTM_NEWROUTE = 20, 24
_NLM_F_REQUEST, _NLM_F_ACK, _NLM_F_EXCL, _NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
_NLMSG_ERROR = 2
_IFA_ADDRESS, _IFA_LOCAL = 1, 2
_RTA_DST, _RTA_OIF = 1, 4
_RT_TABLE_MAIN, _RTPROT_BOOT, _RT_SCOPE_LINK, _RTN_UNICAST = 254, 3, 253, 1
_ROUTED_TO_LOOPBACK = (("224.0.0.0", 4), ("255.255.255.255", 32))
_IFREQ = (
    "16sh22x"  # struct ifreq: the name, then the flags (a short) in a 24-byte union
)
_CHUNK = 65536


class PrivateNetworkUnavailable(Exception):
    """No network namespace of its own can be had here."""


def enter_private_network() -> None:
    """Move this (single-threaded) process into a new network namespace, loopback up.

    Sockets opened before stay where they were opened; everything opened or started after
    lives in the new namespace.
    """
    uid, gid = os.getuid(), os.getgid()
    try:
        if os.geteuid() == 0:
            os.unshare(os.CLONE_NEWNET)
        else:
            os.unshare(os.CLONE_NEWUSER | os.CLONE_NEWNET)
            Path("/proc/self/setgroups").write_text("deny")
            Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
            Path("/proc/self/gid_map").write_text(f"0 {gid} 1")
        _loopback_up()
        demo_lan_up()
    except OSError as err:
        raise PrivateNetworkUnavailable(
            "Linux refused a network namespace of its own "
            f"({err.strerror or err}; as a user that is not root it needs unprivileged user "
            "namespaces)"
        ) from err


def _loopback_up(extra_flags: int = 0) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack(_IFREQ, b"lo", 0)
        flags = struct.unpack(_IFREQ, fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        flags |= _IFF_UP | extra_flags
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags))


def demo_lan_up() -> None:
    """Give loopback, in the network this process is in, the demo's LAN address and multicast.

    Only ever inside a network namespace of the demo's or a test's own: the address exists
    nowhere else, and what is sent to it or to SSDP's group stays in there. Multicast and the
    broadcast address are routed to loopback too: Home Assistant searches both ways, from any
    address, and there is no default route in there.
    """
    _loopback_up(_IFF_MULTICAST)
    index = socket.if_nametoindex("lo")
    address = socket.inet_aton(DEMO_LAN_IP)
    _netlink(
        _RTM_NEWADDR,
        struct.pack("BBBBI", socket.AF_INET, DEMO_LAN_PREFIX, 0, 0, index)
        + _attribute(_IFA_LOCAL, address)
        + _attribute(_IFA_ADDRESS, address),
    )
    for destination, prefix in _ROUTED_TO_LOOPBACK:
        _netlink(
            _RTM_NEWROUTE,
            struct.pack(
                "BBBBBBBBI",
                socket.AF_INET,
                prefix,
                0,
                0,
                _RT_TABLE_MAIN,
                _RTPROT_BOOT,
                _RT_SCOPE_LINK,
                _RTN_UNICAST,
                0,
            )
            + _attribute(_RTA_DST, socket.inet_aton(destination))
            + _attribute(_RTA_OIF, struct.pack("I", index)),
        )


def _attribute(kind: int, value: bytes) -> bytes:
    return struct.pack("HH", 4 + len(value), kind) + value


def _netlink(kind: int, body: bytes) -> None:
    """Send one rtnetlink request that creates something; raise what the kernel refuses."""
    flags = _NLM_F_REQUEST | _NLM_F_ACK | _NLM_F_CREATE | _NLM_F_EXCL
    header = struct.pack("IHHII", 16 + len(body), kind, flags, 1, 0)
    with socket.socket(
        socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE
    ) as link:
        link.send(header + body)
        answer = link.recv(4096)
    answered = struct.unpack_from("H", answer, 4)[0]
    error = -struct.unpack_from("i", answer, 16)[0] if answered == _NLMSG_ERROR else 0
    if error not in (0, errno.EEXIST):  # EEXIST: set up already
        raise OSError(error, os.strerror(error))


def listen_here(ports: list[int]) -> dict[int, socket.socket]:
    """Listen on 127.0.0.1:PORT for each port, in the network this process is in now."""
    listeners: dict[int, socket.socket] = {}
    try:
        for port in ports:
            try:
                listeners[port] = socket.create_server((LOOPBACK, port))
            except OSError as err:
                raise PrivateNetworkUnavailable(
                    f"cannot listen on {LOOPBACK}:{port} ({err.strerror}): "
                    "is something else using that port?"
                ) from err
    except BaseException:
        for listener in listeners.values():
            listener.close()
        raise
    return listeners


async def forward(
    listener: socket.socket, port: int, host: str = LOOPBACK
) -> asyncio.Server:
    """Hand each connection to `listener` on to `host`:`port` of the current network."""

    async def handle(
        outer_reader: asyncio.StreamReader, outer_writer: asyncio.StreamWriter
    ) -> None:
        try:
            inner_reader, inner_writer = await asyncio.open_connection(host, port)
        except (
            OSError
        ):  # nothing listens inside (yet): the client sees the connection close
            outer_writer.close()
            return
        writers = (outer_writer, inner_writer)
        await asyncio.gather(
            _pipe(outer_reader, inner_writer, writers),
            _pipe(inner_reader, outer_writer, writers),
        )
        for writer in writers:
            writer.close()

    return await asyncio.start_server(handle, sock=listener)


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    both: tuple[asyncio.StreamWriter, ...],
) -> None:
    """Copy until end of stream, then half-close; on an error close both directions."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        for each in both:
            each.close()


async def run(
    command: list[str],
    listeners: dict[int, socket.socket],
    hosts: dict[int, str] | None = None,
) -> int:
    """Start `command` here (in the private network), forward the ports, return its status.

    `hosts`: the address inside each port is handed on to (127.0.0.1 where none is given).
    """
    hosts = hosts or {}
    servers = [
        await forward(listener, port, hosts.get(port, LOOPBACK))
        for port, listener in listeners.items()
    ]
    # A process group of its own, so that whatever the command starts ends with it.
    process = await asyncio.create_subprocess_exec(*command, process_group=0)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, _signal_group, process.pid, signum)
    try:
        status = await process.wait()
    finally:
        _signal_group(process.pid, signal.SIGTERM)  # what it left running
        for server in servers:
            server.close()
    return (
        status if status >= 0 else 128 - status
    )  # killed by a signal: as a shell says


def _only_loopback_here() -> bool:
    """Whether the network this process is in holds loopback and nothing else."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def _forward_spec(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    try:
        return host or LOOPBACK, int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not [HOST:]PORT: {text}") from None


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)


def main() -> None:
    """Parse the command line; run the command in a private network, or say why not."""
    parser = argparse.ArgumentParser(
        prog="python -m simulators.private_network",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--forward",
        type=_forward_spec,
        action="append",
        default=[],
        metavar="[HOST:]PORT",
        help="make HOST:PORT inside (HOST 127.0.0.1 by default) reachable at 127.0.0.1:PORT here",
    )
    parser.add_argument(
        "--lan-up",
        action="store_true",
        help="only give the network this runs in the demo's LAN (a test's own namespace)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only tell whether a private network can be made (exit status 0) or why not",
    )
    parser.add_argument("command", nargs="*", help="the command to run inside")
    args = parser.parse_args()
    if args.lan_up:
        if not _only_loopback_here():
            parser.error("--lan-up runs only in a network that holds loopback alone")
        demo_lan_up()
        return
    if not args.check and not args.command:
        parser.error("give the command to run inside (after --)")
    hosts = {port: host for host, port in args.forward}
    try:
        listeners = {} if args.check else listen_here(list(hosts))
        enter_private_network()
    except PrivateNetworkUnavailable as err:
        print(f"private network: {err}", file=sys.stderr)
        sys.exit(1)
    if args.check:
        return
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(run(args.command, listeners, hosts)))


if __name__ == "__main__":
    main()
