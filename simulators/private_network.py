"""Run a command in a network of its own that holds only loopback: the demo's private network.

    python -m simulators.private_network --forward 8123 --forward 8125 -- CMD [ARG...]

scripts/develop runs the demo this way, the simulators and Home Assistant side by side. What
they send stays inside: Home Assistant's SSDP and mDNS, the tunnel check's echoes, and the
demo's tunnel switch (tunnel_switch.py), which may silence echoes in there and nowhere else.
Each `--forward PORT` stays reachable from this machine's loopback: the launcher listens on
127.0.0.1:PORT here before it leaves, and hands every connection on to 127.0.0.1:PORT inside.

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
import fcntl
import os
from pathlib import Path
import signal
import socket
import struct
import sys

LOOPBACK = "127.0.0.1"
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
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
    except OSError as err:
        raise PrivateNetworkUnavailable(
            "Linux refused a network namespace of its own "
            f"({err.strerror or err}; as a user that is not root it needs unprivileged user "
            "namespaces)"
        ) from err


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack(_IFREQ, b"lo", 0)
        flags = struct.unpack(_IFREQ, fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP))


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


async def forward(listener: socket.socket, port: int) -> asyncio.Server:
    """Hand each connection to `listener` on to 127.0.0.1:`port` of the current network."""

    async def handle(
        outer_reader: asyncio.StreamReader, outer_writer: asyncio.StreamWriter
    ) -> None:
        try:
            inner_reader, inner_writer = await asyncio.open_connection(LOOPBACK, port)
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


async def run(command: list[str], listeners: dict[int, socket.socket]) -> int:
    """Start `command` here (in the private network), forward the ports, return its status."""
    servers = [await forward(listener, port) for port, listener in listeners.items()]
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
        type=int,
        action="append",
        default=[],
        metavar="PORT",
        help="make 127.0.0.1:PORT inside reachable at 127.0.0.1:PORT here",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only tell whether a private network can be made (exit status 0) or why not",
    )
    parser.add_argument("command", nargs="*", help="the command to run inside")
    args = parser.parse_args()
    if not args.check and not args.command:
        parser.error("give the command to run inside (after --)")
    try:
        listeners = {} if args.check else listen_here(args.forward)
        enter_private_network()
    except PrivateNetworkUnavailable as err:
        print(f"private network: {err}", file=sys.stderr)
        sys.exit(1)
    if args.check:
        return
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(run(args.command, listeners)))


if __name__ == "__main__":
    main()
