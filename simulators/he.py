"""A simulated Hurricane Electric Tunnelbroker server, answering as HE does, on loopback.

`GET /nic/update?hostname=<tunnel id>&myip=<IPv4>` with HTTP basic auth (username, update key),
answered with HE's plain-text replies (README, "What each answer from HE leads to"): good, nochg,
badauth, nohost, badip, abuse, the ICMP `-ERROR:` text, 911. A forced reply (any body, any HTTP
status, or a delay; with `taken`, after HE took the update, as a lost reply) can be switched on
while it runs.

`GET /tunnelInfo.php[?tid=<tunnel id>]` with the same basic auth answers HE's XML description of
the account's tunnels; `clientv4` is the endpoint the last update set. An `InfoFault` makes it
misbehave (refuse, garbage, entity bomb, huge body, an HTTP error status, slow).

dns.he.net's dynamic DNS, under DNS_PATH_PREFIX (the integration's DNS base URL is this
server's URL + `/dyn.dns.he.net` when TUNNELBROKER_API_URL points here): GET or POST
`/dyn.dns.he.net/nic/update?hostname=<name>&myip=<address>` (a POST may carry them in its form
body) with basic auth (the name as the user, the record's key as the password; `password=<key>`
in the query or body is accepted too, as at HE). One key per name, shared by its A and AAAA
records; an IPv4 address goes to the A record, an IPv6 one to the AAAA record, each its own
request. The answers, checked in this order: notfqdn, badagent (no User-Agent, or a blocked
one), nohost (unknown name, or a record not marked dynamic), badauth, abuse (a `dns_abuse`
rule), interval (more than 10 updates of a name within 2 minutes), badip (not one global
address: `myip=v4,v6` included), then good or nochg. A forced DNS reply works as the tunnel one,
on its own.

Every request is recorded (updates in `requests`, tunnel information in `info_requests`,
dynamic DNS in `dns_requests`), so tests can count them and check that no secret ever appears
in a URL. Used by the tests, the benchmarks and the demo (scripts/develop).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Address, ip_address
import time
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

from .loopback_server import LoopbackServer

ICMP_ERROR = (
    "-ERROR: IP is not ICMP pingable. Please make sure ICMP is not blocked. "
    "If you are blocking ICMP, please allow 66.220.2.74 through your firewall."
)


# HE's tunnel servers sit in 216.66.0.0/18 and friends; the tunnel and routed prefixes come from
# HE's 2001:470::/32. Public-looking values, the same for every run (the demo shows them).
DEFAULT_SERVER_V4 = "216.66.80.26"

# What the faults send.
REFUSED_INFO_BODY = "badauth"
GARBAGE_INFO_BODY = "<html><body>Please log in</body></html"
BOMB_INFO_BODY = (
    '<?xml version="1.0"?>\n'
    '<!DOCTYPE tunnels [<!ENTITY a "aaaaaaaaaa">'
    + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
    )
    + ']>\n<tunnels><tunnel id="1"><description>&i;</description></tunnel></tunnels>'
)
HUGE_INFO_SIZE = 1_000_000

# dns.he.net's dynamic DNS, served under this path (HE serves it on its own host).
DNS_PATH_PREFIX = "/dyn.dns.he.net"
DNS_UPDATE_PATH = DNS_PATH_PREFIX + "/nic/update"
# More than this many updates of one name within the window (wall clock, s) → `interval`.
DNS_INTERVAL_LIMIT = 10
DNS_INTERVAL_WINDOW = 120.0


class InfoFault(StrEnum):
    """Ways tunnelInfo.php can misbehave, switched on while the server runs."""

    NONE = "none"
    REFUSE = "refuse"  # 401 with a badauth body, whatever the credentials
    GARBAGE = "garbage"  # 200 with a body that is not XML
    BOMB = "bomb"  # 200 with a billion-laughs entity expansion
    HUGE = "huge"  # 200 with valid XML of about 1 MB
    HTTP_ERROR = "http_error"  # `info_error_status` (500 unless set), no body
    SLOW = "slow"  # answers correctly after `info_slow_seconds`


@dataclass
class Tunnel:
    """One tunnel of one account, with the addresses tunnelInfo.php reports."""

    tunnel_id: str
    update_key: str
    endpoint: str | None = None
    description: str = ""
    server_v4: str = DEFAULT_SERVER_V4
    server_v6: str = ""  # default: worked out from the tunnel id
    client_v6: str = ""
    routed_64: str = ""
    routed_48: str | None = None  # HE allocates a /48 only on request

    def __post_init__(self) -> None:
        """Give the tunnel its own /64s, derived from its id, unless set."""
        hextet = (
            f"{int(self.tunnel_id) % 0x10000:x}" if self.tunnel_id.isdigit() else "1"
        )
        self.server_v6 = self.server_v6 or f"2001:470:1f0a:{hextet}::1/64"
        self.client_v6 = self.client_v6 or f"2001:470:1f0a:{hextet}::2/64"
        self.routed_64 = self.routed_64 or f"2001:470:1f0b:{hextet}::/64"

    def info_xml(self) -> str:
        """Return the tunnel's <tunnel> element as tunnelInfo.php writes it."""
        fields = {
            "description": self.description,
            "serverv4": self.server_v4,
            "clientv4": self.endpoint or "",
            "serverv6": self.server_v6,
            "clientv6": self.client_v6,
            "routed64": self.routed_64,
        }
        if self.routed_48:
            fields["routed48"] = self.routed_48
        inner = "".join(
            f"<{tag}>{escape(value)}</{tag}>" for tag, value in fields.items()
        )
        return f"<tunnel id={quoteattr(self.tunnel_id)}>{inner}</tunnel>"


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
class DnsRecord:
    """One dynamic name at dns.he.net: its key and what its A and AAAA records hold."""

    hostname: str
    key: str
    a: str | None = None
    aaaa: str | None = None
    dynamic: bool = True  # marked dynamic in dns.he.net (else HE answers `nohost`)


@dataclass(frozen=True)
class DnsRequest:
    """One dynamic DNS request as the server saw it."""

    at: float
    path_qs: str
    hostname: str | None
    myip: str | None
    authorized: bool
    reply: str
    status: int
    client_port: int | None = None
    username: str | None = None  # the basic auth user (HE wants the name)


@dataclass(frozen=True)
class InfoRequest:
    """One tunnelInfo.php request as the server saw it."""

    at: float
    path_qs: str
    username: str | None
    authorized: bool
    tunnel_id: str | None
    status: int


@dataclass
class ForcedReply:
    """What to answer instead of the real outcome."""

    body: str = ""
    status: int = 200
    delay: float = 0.0
    # HE takes the update first (a reply lost on its way back: HE holds the address, the
    # client hears only this).
    taken: bool = False


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
    # The network between client and HE: half of it before HE handles a request, half
    # before the answer reaches the client (every endpoint; 0: loopback as is).
    rtt_seconds: float = 0.0
    unpingable: set[str] = field(default_factory=set)
    forced: ForcedReply | None = None
    abuse: AbuseRule | None = None
    requests: list[UpdateRequest] = field(default_factory=list)
    info_fault: InfoFault = InfoFault.NONE
    info_slow_seconds: float = 3.0
    info_error_status: int = 500
    info_requests: list[InfoRequest] = field(default_factory=list)
    # While set, updates that arrive wait here before HE handles them (a request in flight).
    gate: asyncio.Event | None = None
    arrived: int = 0  # tunnel updates that reached the server, handled or not yet
    # dns.he.net: the records by (lower-case) name, and how it answers.
    records: dict[str, DnsRecord] = field(default_factory=dict)
    blocked_agents: set[str] = field(default_factory=set)  # User-Agent parts → badagent
    dns_forced: ForcedReply | None = None
    dns_abuse: AbuseRule | None = None
    # Wall-clock times of each name's updates within DNS_INTERVAL_WINDOW (the `interval`
    # check); an update refused (with interval, or before it) is not counted.
    dns_updates: dict[str, list[float]] = field(default_factory=dict)
    dns_requests: list[DnsRequest] = field(default_factory=list)
    dns_arrived: int = 0  # DNS updates that reached the server, handled or not yet


class HeSimulator(LoopbackServer):
    """The simulated server, an aiohttp app on loopback."""

    def __init__(self) -> None:
        """Start with no accounts; add_tunnel() adds them."""
        super().__init__()
        self.state = HeState()
        self.app.middlewares.append(self._network_round_trip)
        self.app.router.add_get("/nic/update", self._handle_update)
        self.app.router.add_get("/tunnelInfo.php", self._handle_info)
        self.app.router.add_get(DNS_UPDATE_PATH, self._handle_dns_update)
        self.app.router.add_post(DNS_UPDATE_PATH, self._handle_dns_update)
        self.app.router.add_get("/sim/state", self._handle_state)

    @web.middleware
    async def _network_round_trip(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Model the path to HE: RTT/2 until HE sees the request, RTT/2 back (not /sim/)."""
        half = 0.0 if request.path.startswith("/sim/") else self.state.rtt_seconds / 2
        if half:
            await asyncio.sleep(half)
        response = await handler(request)
        if half:
            await asyncio.sleep(half)
        return response

    def add_tunnel(
        self,
        username: str,
        tunnel_id: str,
        update_key: str,
        endpoint: str | None = None,
        **addresses: str,
    ) -> Tunnel:
        """Create a tunnel for `username` (the account is created as needed).

        `addresses` sets the Tunnel fields tunnelInfo.php reports (server_v4, routed_48, ...).
        """
        tunnel = Tunnel(
            tunnel_id=tunnel_id, update_key=update_key, endpoint=endpoint, **addresses
        )
        self.state.accounts.setdefault(username, {})[tunnel_id] = tunnel
        return tunnel

    def tunnel(self, tunnel_id: str) -> Tunnel:
        """Return a tunnel by id, whichever account holds it."""
        for tunnels in self.state.accounts.values():
            if tunnel_id in tunnels:
                return tunnels[tunnel_id]
        raise KeyError(tunnel_id)

    def add_record(
        self,
        hostname: str,
        key: str,
        *,
        a: str | None = None,
        aaaa: str | None = None,
        dynamic: bool = True,
    ) -> DnsRecord:
        """Create (or replace) a dynamic name at dns.he.net, its A and AAAA holding `a`, `aaaa`.

        The name is kept as dns.he.net shows it: lower case, without a trailing dot.
        """
        record = DnsRecord(
            hostname=_record_name(hostname), key=key, a=a, aaaa=aaaa, dynamic=dynamic
        )
        self.state.records[record.hostname] = record
        return record

    def record(self, hostname: str) -> DnsRecord:
        """Return a name's record (any case, a trailing dot or not); KeyError if none."""
        return self.state.records[_record_name(hostname)]

    def force_reply(
        self,
        body: str = "",
        status: int = 200,
        delay: float = 0.0,
        *,
        taken: bool = False,
    ) -> None:
        """Answer every request with this reply until clear_forced_reply().

        `taken`: HE handles the update as usual first, and only the reply is this one.
        """
        self.state.forced = ForcedReply(
            body=body, status=status, delay=delay, taken=taken
        )

    def clear_forced_reply(self) -> None:
        """Answer as HE again."""
        self.state.forced = None

    def force_dns_reply(
        self,
        body: str = "",
        status: int = 200,
        delay: float = 0.0,
        *,
        taken: bool = False,
    ) -> None:
        """Answer every dynamic DNS update with this reply until clear_forced_dns_reply().

        As force_reply(), for dns.he.net only (tunnel updates are answered as before).
        `taken`: HE handles the update as usual first, and only the reply is this one.
        """
        self.state.dns_forced = ForcedReply(
            body=body, status=status, delay=delay, taken=taken
        )

    def clear_forced_dns_reply(self) -> None:
        """Answer dynamic DNS updates as HE again."""
        self.state.dns_forced = None

    def set_info_fault(self, fault: InfoFault) -> None:
        """Make tunnelInfo.php misbehave (InfoFault.NONE: answer as HE again)."""
        self.state.info_fault = fault

    @property
    def requests(self) -> list[UpdateRequest]:
        """Return every update request received, oldest first."""
        return self.state.requests

    @property
    def info_requests(self) -> list[InfoRequest]:
        """Return every tunnelInfo.php request received, oldest first."""
        return self.state.info_requests

    @property
    def dns_requests(self) -> list[DnsRequest]:
        """Return every dynamic DNS update request received, oldest first."""
        return self.state.dns_requests

    def hold_updates(self) -> None:
        """Keep every update that arrives in flight until release_updates().

        Tunnel updates and dynamic DNS updates alike.
        """
        self.state.gate = asyncio.Event()

    def release_updates(self) -> None:
        """Let the updates held in flight (and later ones) be handled."""
        if self.state.gate is not None:
            self.state.gate.set()
            self.state.gate = None

    async def wait_arrived(self, count: int) -> None:
        """Return once `count` tunnel updates in all have reached the server (bounded wait)."""
        await _wait_count(lambda: self.state.arrived, count, "updates")

    async def wait_dns_arrived(self, count: int) -> None:
        """Return once `count` dynamic DNS updates in all have reached the server (bounded)."""
        await _wait_count(lambda: self.state.dns_arrived, count, "DNS updates")

    async def _handle_update(self, request: web.Request) -> web.Response:
        self.state.arrived += 1
        if (gate := self.state.gate) is not None:
            await gate.wait()
        username, password = _basic_auth(request.headers.get("Authorization", ""))
        tunnel_id = request.query.get("hostname")
        myip = request.query.get("myip")
        forced = self.state.forced
        if forced is not None:
            if forced.taken:
                self._reply(username, password, tunnel_id, myip, request)
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

    async def _handle_dns_update(self, request: web.Request) -> web.Response:
        self.state.dns_arrived += 1
        if (gate := self.state.gate) is not None:
            await gate.wait()
        params: dict[str, str] = dict(request.query)
        if request.method == "POST":
            form = await request.post()
            params.update((k, v) for k, v in form.items() if isinstance(v, str))
        username, password = _basic_auth(request.headers.get("Authorization", ""))
        forced = self.state.dns_forced
        if forced is not None:
            if forced.taken:
                self._dns_reply(params, username, password, request)
            if forced.delay:
                await asyncio.sleep(forced.delay)
            body, status, authorized = forced.body, forced.status, False
        else:
            body, authorized = self._dns_reply(params, username, password, request)
            status = 200
        self.state.dns_requests.append(
            DnsRequest(
                at=time.monotonic(),
                path_qs=request.path_qs,
                hostname=params.get("hostname"),
                myip=params.get("myip"),
                authorized=authorized,
                reply=body,
                status=status,
                client_port=_peer_port(request),
                username=username,
            )
        )
        # A redirect points at a login page, as a web site asking for a session would.
        headers = {"Location": "/login"} if 300 <= status < 400 else None
        return web.Response(
            text=body, status=status, content_type="text/plain", headers=headers
        )

    def _dns_reply(
        self,
        params: dict[str, str],
        username: str | None,
        password: str | None,
        request: web.Request,
    ) -> tuple[str, bool]:
        """Return (body, authorized) as dns.he.net answers; set the record on good."""
        name = _record_name(params.get("hostname", ""))
        if "." not in name:
            return "notfqdn", False
        agent = request.headers.get("User-Agent", "").strip()
        if not agent or any(part in agent for part in self.state.blocked_agents):
            return "badagent", False
        record = self.state.records.get(name)
        if record is None or not record.dynamic:
            return "nohost", False
        by_header = (
            username is not None
            and _record_name(username) == name
            and password == record.key
        )
        if not by_header and params.get("password") != record.key:
            return "badauth", False
        if self.state.dns_abuse is not None and self.state.dns_abuse.check(name):
            return "abuse", True
        if self._dns_too_often(name):
            return "interval", True
        address = params.get("myip") or (request.remote or "")
        try:
            parsed = ip_address(address)
        except ValueError:  # garbage, or `v4,v6` in one request
            return "badip", True
        if not parsed.is_global or parsed.is_multicast:
            return "badip", True
        held = str(parsed)
        if isinstance(parsed, IPv4Address):
            if record.a == held:
                return f"nochg {held}", True
            record.a = held
        else:
            if record.aaaa == held:
                return f"nochg {held}", True
            record.aaaa = held
        return f"good {held}", True

    def _dns_too_often(self, name: str) -> bool:
        """Count one update of the name; return whether it is one too many (`interval`)."""
        now = time.time()
        recent = [
            t
            for t in self.state.dns_updates.get(name, [])
            if t > now - DNS_INTERVAL_WINDOW
        ]
        too_often = len(recent) >= DNS_INTERVAL_LIMIT
        if not too_often:
            recent.append(now)
        self.state.dns_updates[name] = recent
        return too_often

    async def _handle_info(self, request: web.Request) -> web.Response:
        username, password = _basic_auth(request.headers.get("Authorization", ""))
        tunnel_id = request.query.get("tid")
        fault = self.state.info_fault
        if fault is InfoFault.SLOW:
            await asyncio.sleep(self.state.info_slow_seconds)
        body, status, authorized = self._info_reply(username, password, tunnel_id)
        if fault is InfoFault.REFUSE:
            body, status, authorized = REFUSED_INFO_BODY, 401, False
        elif fault is InfoFault.GARBAGE:
            body, status = GARBAGE_INFO_BODY, 200
        elif fault is InfoFault.BOMB:
            body, status = BOMB_INFO_BODY, 200
        elif fault is InfoFault.HUGE:
            padding = "x" * HUGE_INFO_SIZE
            body, status = f"<tunnels><!-- {padding} --></tunnels>", 200
        elif fault is InfoFault.HTTP_ERROR:
            body, status = "", self.state.info_error_status
        self.state.info_requests.append(
            InfoRequest(
                at=time.monotonic(),
                path_qs=request.path_qs,
                username=username,
                authorized=authorized,
                tunnel_id=tunnel_id,
                status=status,
            )
        )
        content_type = "text/xml" if body.startswith("<") else "text/plain"
        # A redirect points at a login page, as a web site asking for a session would.
        headers = {"Location": "/login"} if 300 <= status < 400 else None
        return web.Response(
            text=body, status=status, content_type=content_type, headers=headers
        )

    def _info_reply(
        self, username: str | None, password: str | None, tunnel_id: str | None
    ) -> tuple[str, int, bool]:
        """Return (body, HTTP status, authorized) as HE would answer tunnelInfo.php.

        HE documents basic auth with the account password; this account has none of its own,
        so the update key of any of its tunnels is accepted.
        """
        tunnels = self.state.accounts.get(username or "", {})
        if not any(password == tunnel.update_key for tunnel in tunnels.values()):
            return REFUSED_INFO_BODY, 401, False
        selected = [
            tunnel
            for tunnel in tunnels.values()
            if tunnel_id is None or tunnel.tunnel_id == tunnel_id
        ]
        body = "<tunnels>" + "".join(t.info_xml() for t in selected) + "</tunnels>"
        return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}', 200, True

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
                "info_requests": [
                    {"tunnel_id": r.tunnel_id, "status": r.status, "at": r.at}
                    for r in self.state.info_requests
                ],
                "records": {
                    record.hostname: {"A": record.a, "AAAA": record.aaaa}
                    for record in self.state.records.values()
                },
                "dns_requests": [
                    {
                        "hostname": r.hostname,
                        "myip": r.myip,
                        "reply": r.reply,
                        "at": r.at,
                        "client_port": r.client_port,
                    }
                    for r in self.state.dns_requests
                ],
            }
        )


def _record_name(name: str) -> str:
    """Return a name as dns.he.net keeps it: lower case, without a trailing dot."""
    return name.strip().rstrip(".").lower()


async def _wait_count(current: Callable[[], int], count: int, what: str) -> None:
    """Return once current() reaches `count`, letting other tasks run (bounded wait)."""
    for _ in range(100_000):
        if current() >= count:
            return
        await asyncio.sleep(0)
    raise TimeoutError(f"{current()} of {count} {what} arrived")


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
