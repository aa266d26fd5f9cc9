"""SSDP for the simulated router: answers M-SEARCH and announces itself, as a router does.

Only for a simulator bound inside a network namespace the test created (multicast on loopback
reaches nothing): it joins 239.255.255.250 on the router's LAN address, answers searches for
its root device, device type and UDN, and sends `ssdp:alive` on start.
"""

from __future__ import annotations

import asyncio
import socket
import struct

SSDP_GROUP = "239.255.255.250"
SSDP_PORT = 1900
MAX_AGE = 1800
SERVER = "Linux/6 UPnP/1.1 TunnelbrokerSimulator/1.0"


class SsdpResponder(asyncio.DatagramProtocol):
    """Makes one device description URL discoverable on one interface address."""

    def __init__(
        self, interface_ip: str, location: str, udn: str, device_type: str
    ) -> None:
        """Prepare; start() binds and announces."""
        self._interface_ip = interface_ip
        self._location = location
        self._udn = udn
        self._targets = ("upnp:rootdevice", device_type, udn)
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self) -> None:
        """Join the SSDP group on the interface and send one `ssdp:alive` per target."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("", SSDP_PORT))
        membership = struct.pack(
            "4s4s",
            socket.inet_aton(SSDP_GROUP),
            socket.inet_aton(self._interface_ip),
        )
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        sock.setsockopt(
            socket.IPPROTO_IP,
            socket.IP_MULTICAST_IF,
            socket.inet_aton(self._interface_ip),
        )
        sock.setblocking(False)
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: self, sock=sock
        )
        self._transport = transport
        for target in self._targets:
            self._send(
                "NOTIFY * HTTP/1.1",
                {
                    "HOST": f"{SSDP_GROUP}:{SSDP_PORT}",
                    "NT": target,
                    "NTS": "ssdp:alive",
                },
                target,
                (SSDP_GROUP, SSDP_PORT),
            )

    def close(self) -> None:
        """Stop answering."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        """Answer an M-SEARCH for any of the device's targets (or ssdp:all)."""
        lines = data.decode("utf-8", "replace").split("\r\n")
        if not lines or not lines[0].upper().startswith("M-SEARCH"):
            return
        headers = {
            name.strip().upper(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:])
        }
        wanted = headers.get("ST", "")
        for target in self._targets:
            if wanted in ("ssdp:all", target):
                self._send("HTTP/1.1 200 OK", {"ST": target, "EXT": ""}, target, addr)

    def _send(
        self,
        start_line: str,
        headers: dict[str, str],
        target: str,
        addr: tuple[str, int],
    ) -> None:
        if self._transport is None:
            return
        usn = self._udn if target == self._udn else f"{self._udn}::{target}"
        fields = {
            **headers,
            "CACHE-CONTROL": f"max-age={MAX_AGE}",
            "LOCATION": self._location,
            "SERVER": SERVER,
            "USN": usn,
        }
        message = "\r\n".join(
            [start_line, *(f"{name}: {value}" for name, value in fields.items())]
        )
        self._transport.sendto(f"{message}\r\n\r\n".encode(), addr)
