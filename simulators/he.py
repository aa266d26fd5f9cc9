"""A simulated Hurricane Electric Tunnelbroker server, answering as HE does, on loopback.

`GET /nic/update?hostname=<tunnel id>&myip=<IPv4>` with HTTP basic auth (username, update key),
answered with HE's plain-text replies (see ../shared/reference/tunnelbroker-api.md): good, nochg,
badauth, nohost, badip, abuse, the ICMP `-ERROR:` text, 911. Every request is recorded, so tests
can count updates and check that no secret ever appears in a URL. A forced reply (any body, any
HTTP status, or a delay) can be switched on while it runs. Used by the tests, the benchmarks and
the demo (scripts/develop).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass, field
from ipaddress import IPv4Address, ip_address
import time

from aiohttp import web

from .loopback_server import LoopbackServer

ICMP_ERROR = (
    "-ERROR: IP is not ICMP pingable. Please make sure ICMP is not blocked. "
    "If you are blocking ICMP, please allow 66.220.2.74 through your firewall."
)


@dataclass
class Tunnel:
    """One tunnel of one account."""

    tunnel_id: str
    update_key: str
    endpoint: str | None = None


@dataclass(frozen=True)
class UpdateRequest:
    """One request as the server saw it."""

    at: float
    path_qs: str
    username: str | None
    authorized: bool
    tunnel_id: str | None
    myip: str | None
    reply: str
    status: int
    client_port: int | None = None  # tells reused connections from new ones


@dataclass
class ForcedReply:
    """What to answer instead of the real outcome."""

    body: str = ""
    status: int = 200
    delay: float = 0.0


@dataclass
class AbuseRule:
    """HE's block: more than `limit` updates of a tunnel within `window` s → `abuse` for `block` s.

    HE publishes no numbers; one user was blocked after three updates within a minute. Times are
    wall-clock (time.time), so a test's frozen clock is the simulator's clock too.
    """

    limit: int = 3
    window: float = 60.0
    block: float = 3600.0
    updates: dict[str, list[float]] = field(default_factory=dict)
    blocked_until: dict[str, float] = field(default_factory=dict)

    def check(self, tunnel_id: str) -> bool:
        """Count one update of the tunnel; return whether it is (now) blocked."""
        now = time.time()
        if self.blocked_until.get(tunnel_id, 0.0) > now:
            return True
        recent = [t for t in self.updates.get(tunnel_id, []) if t > now - self.window]
        recent.append(now)
        self.updates[tunnel_id] = recent
        if len(recent) > self.limit:
            self.blocked_until[tunnel_id] = now + self.block
            return True
        return False


@dataclass
class HeState:
    """Accounts, tunnels and what was asked."""

    accounts: dict[str, dict[str, Tunnel]] = field(default_factory=dict)
    unpingable: set[str] = field(default_factory=set)
    forced: ForcedReply | None = None
    abuse: AbuseRule | None = None
    requests: list[UpdateRequest] = field(default_factory=list)


class HeSimulator(LoopbackServer):
    """The simulated server, an aiohttp app on loopback."""

    def __init__(self) -> None:
        """Start with no accounts; add_tunnel() adds them."""
        super().__init__()
        self.state = HeState()
        self.app.router.add_get("/nic/update", self._handle_update)
        self.app.router.add_get("/sim/state", self._handle_state)

    def add_tunnel(
        self,
        username: str,
        tunnel_id: str,
        update_key: str,
        endpoint: str | None = None,
    ) -> Tunnel:
        """Create a tunnel for `username` (the account is created as needed)."""
        tunnel = Tunnel(tunnel_id=tunnel_id, update_key=update_key, endpoint=endpoint)
        self.state.accounts.setdefault(username, {})[tunnel_id] = tunnel
        return tunnel

    def tunnel(self, tunnel_id: str) -> Tunnel:
        """Return a tunnel by id, whichever account holds it."""
        for tunnels in self.state.accounts.values():
            if tunnel_id in tunnels:
                return tunnels[tunnel_id]
        raise KeyError(tunnel_id)

    def force_reply(
        self, body: str = "", status: int = 200, delay: float = 0.0
    ) -> None:
        """Answer every request with this reply until clear_forced_reply()."""
        self.state.forced = ForcedReply(body=body, status=status, delay=delay)

    def clear_forced_reply(self) -> None:
        """Answer as HE again."""
        self.state.forced = None

    @property
    def requests(self) -> list[UpdateRequest]:
        """Return every update request received, oldest first."""
        return self.state.requests

    async def _handle_update(self, request: web.Request) -> web.Response:
        username, password = _basic_auth(request.headers.get("Authorization", ""))
        tunnel_id = request.query.get("hostname")
        myip = request.query.get("myip")
        forced = self.state.forced
        if forced is not None:
            if forced.delay:
                await asyncio.sleep(forced.delay)
            body, status, authorized = forced.body, forced.status, False
        else:
            body, authorized = self._reply(username, password, tunnel_id, myip, request)
            status = 200
        self.state.requests.append(
            UpdateRequest(
                at=time.monotonic(),
                path_qs=request.path_qs,
                username=username,
                authorized=authorized,
                tunnel_id=tunnel_id,
                myip=myip,
                reply=body,
                status=status,
                client_port=_peer_port(request),
            )
        )
        return web.Response(text=body, status=status, content_type="text/plain")

    def _reply(
        self,
        username: str | None,
        password: str | None,
        tunnel_id: str | None,
        myip: str | None,
        request: web.Request,
    ) -> tuple[str, bool]:
        tunnels = self.state.accounts.get(username or "")
        if tunnels is None:
            return "badauth", False
        if (
            tunnel_id
            and tunnel_id.startswith("tunnel")
            and tunnel_id.endswith(".tunnelbroker.net")
        ):
            tunnel_id = tunnel_id.removeprefix("tunnel").removesuffix(
                ".tunnelbroker.net"
            )
        tunnel = tunnels.get(tunnel_id or "")
        if tunnel is None:
            # HE checks the key against the tunnel; an unknown tunnel is reported as such.
            return "nohost", False
        if password != tunnel.update_key:
            return "badauth", False
        if self.state.abuse is not None and self.state.abuse.check(tunnel.tunnel_id):
            return "abuse", True
        address = myip or (request.remote or "")
        try:
            parsed = ip_address(address)
        except ValueError:
            return "badip", True
        if not isinstance(parsed, IPv4Address) or not parsed.is_global:
            return "badip", True
        if address == tunnel.endpoint:
            return f"nochg {address}", True
        if address in self.state.unpingable:
            return ICMP_ERROR, True
        tunnel.endpoint = address
        return f"good {address}", True

    async def _handle_state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "tunnels": {
                    tunnel.tunnel_id: tunnel.endpoint
                    for tunnels in self.state.accounts.values()
                    for tunnel in tunnels.values()
                },
                "requests": [
                    {
                        "tunnel_id": r.tunnel_id,
                        "myip": r.myip,
                        "reply": r.reply,
                        "at": r.at,
                        "client_port": r.client_port,
                    }
                    for r in self.state.requests
                ],
            }
        )


def _peer_port(request: web.Request) -> int | None:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return int(peer[1]) if peer else None


def _basic_auth(header: str) -> tuple[str | None, str | None]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else (None, None)
