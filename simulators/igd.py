"""A simulated UPnP Internet Gateway Device: real device descriptions, real SOAP, on loopback.

Used by the tests, the benchmarks and the demo (scripts/develop). It serves a router's device
description in one of several shapes taken from real routers, the services' SCPDs, and answers
the SOAP actions GetExternalIPAddress and GetStatusInfo on the WAN connection service. Its WAN
address, link state and faults can be changed while it runs (from Python, or over HTTP under
/sim/ for the demo).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
import re
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from aiohttp import web
import defusedxml.ElementTree as DET

from .gena import GenaPublisher
from .loopback_server import LoopbackServer

DESCRIPTIONS = Path(__file__).parent / "descriptions"
DEVICE_NS = "{urn:schemas-upnp-org:device-1-0}"
SOAP_ENVELOPE = (
    '<?xml version="1.0"?>\n'
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>{body}</s:Body>'
    "</s:Envelope>"
)
SOAP_FAULT = (
    "<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>"
    '<UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>{code}</errorCode>'
    "<errorDescription>{description}</errorDescription></UPnPError></detail></s:Fault>"
)
WAN_SERVICE = re.compile(r"urn:schemas-upnp-org:service:WAN(IP|PPP)Connection:\d")
LAYER3_FORWARDING = "urn:schemas-upnp-org:service:Layer3Forwarding:"
DESCRIPTION_PATH = "/rootDesc.xml"
EXTERNAL_ENTITY_PATH = "/sim/external-entity"
# Ten levels of ten references each: 10^9 "lol"s (3 GB) once expanded.
ENTITY_BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE root [\n<!ENTITY lol0 "lol">\n'
    + "".join(
        f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">\n' for level in range(1, 10)
    )
    + ']>\n<root xmlns="urn:schemas-upnp-org:device-1-0">&lol9;</root>'
)
HUGE_BODY_CHUNK = b" " * 65536
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RouterShape(StrEnum):
    """Device descriptions of real routers, as they describe themselves."""

    IGD1_WANIP = "igd1-wanip"  # IGD:1 with WANIPConnection:1 (cable/fibre routers)
    IGD1_WANPPP = "igd1-wanppp"  # IGD:1 DSL router with WANPPPConnection:1 only
    IGD2_MINIUPNPD = "igd2-miniupnpd"  # IGD:2 with WANIPConnection:2, as miniupnpd says
    # DSL router listing both WANIPConnection:1 (unused) and WANPPPConnection:1 (the link)
    IGD1_DSL_DUAL = "igd1-dsl-dual"
    # FRITZ!Box 7590, pretty-printed: line breaks and tabs inside values, one UDN throughout,
    # eventSubURL = controlURL, a vendor service beside WANIPConnection:1
    FRITZBOX_7590 = "fritzbox-7590"
    # DSL router with two WANConnectionDevice:1, internet (PPP, first) and IPTV (IP, no
    # address): async-upnp-client alone sees only the last
    DSL_TWO_CONNECTIONS = "dsl-two-connections"
    # Dual-WAN router (IGD:2): two connection devices, both up with public addresses;
    # Layer3Forwarding names the second the default connection
    MULTI_WAN = "multi-wan"
    # Orange Livebox (Sagemcom): WANPPPConnection:2, a version the standard never had
    LIVEBOX_4 = "livebox-4"
    # Actiontec GT784WN (DSL): HTTP/1.0 replies as application/octet-stream with no
    # Content-Length; `:` inside the URL paths; WANPPPConnection:1 only
    ACTIONTEC_GT784WN = "actiontec-gt784wn"
    # D-Link DIR-890L: one CGI for every service, told apart by a query string
    DLINK_DIR_890L = "dlink-dir-890l"
    # D-Link DIR-655: absolute SCPD, control and event URLs on three other ports
    DLINK_DIR_655 = "dlink-dir-655"


# Services (by control URL) that a shape's router reports Disconnected with no address.
IDLE_CONNECTIONS: dict[RouterShape, frozenset[str]] = {
    RouterShape.DSL_TWO_CONNECTIONS: frozenset({"/upnp/control/WANIPConn2"}),
}
# Connections (by control URL) with an address of their own, and the shape's default one.
SECOND_WAN_IP = "62.220.0.20"
CONNECTION_IPS: dict[RouterShape, dict[str, str]] = {
    RouterShape.MULTI_WAN: {"/upnp/control/WAN2": SECOND_WAN_IP},
}
DEFAULT_CONNECTIONS: dict[RouterShape, str] = {
    RouterShape.MULTI_WAN: "/upnp/control/WAN2",
}
# Shapes whose firmware answers over HTTP/1.0, as octet-stream, without Content-Length.
LEGACY_HTTP: frozenset[RouterShape] = frozenset({RouterShape.ACTIONTEC_GT784WN})
# Shapes whose SOAP replies end in a bare CR (miniupnpd's do).
BARE_CR_SOAP: frozenset[RouterShape] = frozenset({RouterShape.IGD2_MINIUPNPD})
# The ports (besides the description's) a shape's absolute URLs point to, by placeholder.
EXTRA_PORTS: dict[RouterShape, tuple[str, ...]] = {
    RouterShape.DLINK_DIR_655: ("port_scpd", "port_control", "port_event"),
}


class Fault(StrEnum):
    """Ways the router can misbehave, switched on while it runs."""

    NONE = "none"
    HTTP_500 = "http_500"  # every request answers 500 with no SOAP body
    SOAP_FAULT = "soap_fault"  # actions answer a UPnP 501 Action Failed fault
    MALFORMED_SOAP = "malformed_soap"  # actions answer 200 with a body that is not XML
    SLOW = "slow"  # actions take `slow_seconds` before answering
    HTTP_404 = "http_404"  # every request answers 404 Not Found
    HANG_UP = "hang_up"  # connections are closed before an answer (a crashing router)
    # Hostile replies, to the description request and to actions alike:
    ENTITY_BOMB = "entity_bomb"  # "billion laughs": entities nested to expand to 3 GB
    EXTERNAL_ENTITY = "external_entity"  # XXE: an entity read from this simulator's URL
    HUGE_BODY = "huge_body"  # `huge_bytes` of XML, streamed, with no Content-Length
    HUGE_BODY_ANNOUNCED = "huge_body_announced"  # the same, announced in Content-Length


@dataclass
class IgdState:
    """What the router reports, and how it misbehaves."""

    external_ip: str = "84.17.0.10"
    connection_status: str = "Connected"
    fault: Fault = Fault.NONE
    slow_seconds: float = 30.0
    uptime: str = "3600"  # GetStatusInfo's NewUptime, a ui4 (garbage breaks its type)
    huge_bytes: int = 50 * 1024 * 1024
    # Bytes of hostile bodies actually written to the socket (backpressure stops the rest).
    huge_bytes_sent: int = 0
    # Requests for the external entity: anything but 0 means a client fetched it (XXE).
    external_entity_fetches: int = 0
    # Services (by name, e.g. "WANIPConnection", or control URL) that report Disconnected
    # and no address.
    idle_services: set[str] = field(default_factory=set)
    soap_requests: Counter[str] = field(default_factory=Counter)
    # SCPDs (by URL path) that do not load: answered 404, or 200 with a body that is not XML.
    broken_scpds: dict[str, int] = field(default_factory=dict)
    # Per connection (control URL): its own WAN address; HTTP status it fails every action
    # with (500: no body; 401: a SOAP fault, as on the "wrong" service of some gateways).
    connection_ips: dict[str, str] = field(default_factory=dict)
    connection_faults: dict[str, int] = field(default_factory=dict)
    # The next this many actions answer a SOAP 501 Action Failed (a busy DSL router).
    fail_next: int = 0
    # The connection (control URL) Layer3Forwarding names the default (None: the first).
    default_connection: str | None = None
    # Seconds each action takes to answer (a slow router CPU); 0: at once.
    action_delay: float = 0.0
    # Actions being answered now, and the most ever answered at once.
    in_flight: int = 0
    max_in_flight: int = 0
    # Raw bytes GetExternalIPAddress answers instead of the address (non-UTF-8 garbage, as
    # some firmwares send while the WAN is down); None: the address.
    external_ip_bytes: bytes | None = None


@dataclass(frozen=True)
class _Service:
    """A service of the description; its URLs as requested (path and query, no host)."""

    service_type: str
    service_id: str
    device_udn: str  # as the template writes it ({udn}...)
    scpd_url: str
    control_url: str
    event_url: str


class IgdSimulator(LoopbackServer):
    """One simulated router served by an aiohttp app on loopback."""

    def __init__(
        self,
        shape: RouterShape = RouterShape.IGD2_MINIUPNPD,
        *,
        udn: str = "uuid:3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b",
        friendly_name: str = "Simulated router",
        external_ip: str = "84.17.0.10",
    ) -> None:
        """Prepare the router; start() serves it."""
        self.shape = shape
        self.udn = udn
        self.friendly_name = friendly_name
        self.state = IgdState(
            external_ip=external_ip,
            idle_services=set(IDLE_CONNECTIONS.get(shape, ())),
            connection_ips=dict(CONNECTION_IPS.get(shape, {})),
            default_connection=DEFAULT_CONNECTIONS.get(shape),
        )
        self._template = (DESCRIPTIONS / f"{shape}.xml").read_text()
        self._services = _services_of(self._template)
        self._raw_description: str | bytes | None = None
        self.gena = GenaPublisher(self._evented_variables)
        self.extra_ports: dict[str, int] = {}
        super().__init__()
        if shape in LEGACY_HTTP:
            self.app.middlewares.append(_legacy_http)
        if shape in EXTRA_PORTS:
            self.app.middlewares.append(self._on_its_own_port)
        self._add_routes()

    # -- control ---------------------------------------------------------------------------
    def set_external_ip(self, ip: str) -> None:
        """Change the WAN address the router reports, and tell its event subscribers."""
        self.state.external_ip = ip
        for service in self._services:
            if WAN_SERVICE.fullmatch(service.service_type):
                self.gena.publish(service.event_url, {"ExternalIPAddress": ip})

    def default_connection(self) -> str:
        """Return GetDefaultConnectionService's answer: `<UDN>:<device type>,<serviceId>`."""
        wan = [s for s in self._services if WAN_SERVICE.fullmatch(s.service_type)]
        chosen = next(
            (s for s in wan if s.control_url == self.state.default_connection), wan[0]
        )
        udn = chosen.device_udn.format(udn=self.udn)
        return f"{udn}:WANConnectionDevice:1,{chosen.service_id}"

    def _evented_variables(self, event_url: str) -> dict[str, str]:
        for service in self._services:
            if service.event_url == event_url and WAN_SERVICE.fullmatch(
                service.service_type
            ):
                return {
                    "PortMappingNumberOfEntries": "0",
                    "ExternalIPAddress": self.state.external_ip,
                    "ConnectionStatus": self.state.connection_status,
                }
        return {}

    def edit_description(self, old: str, new: str) -> None:
        """Serve the shape's description with `old` replaced (a foreign or broken device)."""
        if old not in self._template:
            raise ValueError(f"{old!r} is not in the {self.shape} description")
        self._template = self._template.replace(old, new)

    def serve_raw_description(self, body: str | bytes | None) -> None:
        """Serve `body`, as is, as the device description (None: the real one again).

        Bytes are sent with no charset named, exactly as given (wrong encodings).
        """
        self._raw_description = body

    def set_fault(self, fault: Fault) -> None:
        """Make the router misbehave (Fault.NONE: behave)."""
        self.state.fault = fault

    @property
    def location(self) -> str:
        """Return the description URL (what SSDP announces as LOCATION)."""
        return f"{self.url}{DESCRIPTION_PATH}"

    @property
    def device_type(self) -> str:
        """Return the root device's type (what SSDP announces)."""
        device = DET.fromstring(self._template.encode()).find(f"{DEVICE_NS}device")
        assert device is not None
        return _text(device, "deviceType")

    @property
    def soap_requests(self) -> Counter[str]:
        """Return how many times each action was called."""
        return self.state.soap_requests

    # -- serving ---------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (port 0: any free one); return the description URL."""
        await super().start(host, port)
        for name in EXTRA_PORTS.get(self.shape, ()):
            self.extra_ports[name] = await self.serve_on_another_port()
        return self.location

    async def stop(self) -> None:
        """Stop serving; subscriptions are lost, as in a router reboot."""
        await self.gena.close()
        self.gena.subscriptions.clear()
        await super().stop()

    @web.middleware
    async def _on_its_own_port(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """Serve each absolute URL only on the port it names (404 on any other port)."""
        ports = self._ports_of(request.path_qs) or {self.port}
        assert request.transport is not None
        if request.transport.get_extra_info("sockname")[1] not in ports:
            return web.Response(status=404)
        return await handler(request)

    def _ports_of(self, path: str) -> set[int]:
        """Return the ports the description's absolute URLs give `path` on."""
        return {
            self.extra_ports[name]
            for name, url_path in re.findall(
                r">http://\{ip\}:\{(\w+)\}([^<]*)<", self._template
            )
            if url_path == path
        }

    def _add_routes(self) -> None:
        app = self.app
        app.router.add_get(DESCRIPTION_PATH, self._handle_description)
        scpds = {s.scpd_url: self._scpd_handler(s) for s in self._services}
        controls = {s.control_url: self._control_handler(s) for s in self._services}
        for path, handler in _by_path(scpds).items():
            app.router.add_get(path, handler)
        for path, handler in _by_path(controls).items():
            app.router.add_post(path, handler)
        for path in {urlsplit(s.event_url).path for s in self._services}:
            for method in ("SUBSCRIBE", "UNSUBSCRIBE"):
                app.router.add_route(method, path, self.gena.handle)
        app.router.add_get(EXTERNAL_ENTITY_PATH, self._handle_external_entity)
        app.router.add_get("/sim/state", self._handle_get_state)
        app.router.add_post("/sim/state", self._handle_set_state)

    def description(self) -> str:
        """Return the device description as served."""
        return self._template.format(
            udn=self.udn,
            friendly_name=self.friendly_name,
            host=f"{self.host}:{self.port}",
            ip=self.host,
            **self.extra_ports,
        )

    async def _handle_description(self, request: web.Request) -> web.StreamResponse:
        if (hostile := await self._hostile_reply(request)) is not None:
            return hostile
        if isinstance(self._raw_description, bytes):
            return web.Response(body=self._raw_description, content_type="text/xml")
        if self._raw_description is not None:
            return _xml(self._raw_description)
        return _xml(self.description())

    def _scpd_handler(self, service: _Service):  # type: ignore[no-untyped-def]
        if WAN_SERVICE.fullmatch(service.service_type):
            name = "wan-connection-scpd"
        elif service.service_type.startswith(LAYER3_FORWARDING):
            name = "layer3-scpd"
        else:
            name = "other-scpd"
        scpd = (DESCRIPTIONS / f"{name}.xml").read_text()

        async def handle(request: web.Request) -> web.Response:
            if (status := self.state.broken_scpds.get(service.scpd_url)) == 404:
                return web.Response(status=404)
            if status is not None:
                return _xml("<scpd><actionList><not-closed>")
            return _xml(scpd)

        return handle

    def _control_handler(self, service: _Service):  # type: ignore[no-untyped-def]
        async def handle(request: web.Request) -> web.StreamResponse:
            action = request.headers.get("SOAPACTION", "").strip('"').partition("#")[2]
            await request.read()
            state = self.state
            state.soap_requests[action] += 1
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                await asyncio.sleep(state.action_delay)
                response = await self._answer(request, service, action)
            finally:
                state.in_flight -= 1
            body = getattr(response, "body", None)
            if self.shape in BARE_CR_SOAP and isinstance(body, bytes) and body:
                assert isinstance(response, web.Response)
                response.body = body.rstrip(b"\n") + b"\r"
            return response

        return handle

    async def _answer(
        self, request: web.Request, service: _Service, action: str
    ) -> web.StreamResponse:
        state = self.state
        if (hostile := await self._hostile_reply(request)) is not None:
            return hostile
        if state.fault is Fault.SLOW:
            await asyncio.sleep(state.slow_seconds)
        if state.fault is Fault.MALFORMED_SOAP:
            return _xml("<s:Envelope><not-closed>")
        if state.fault is Fault.SOAP_FAULT:
            return _soap_fault(501, "Action Failed")
        if state.fail_next > 0:
            state.fail_next -= 1
            return _soap_fault(501, "Action Failed")
        if (status := state.connection_faults.get(service.control_url)) == 401:
            return _soap_fault(401, "Invalid Action")
        if status is not None:
            return web.Response(status=status)
        if action == "GetDefaultConnectionService" and service.service_type.startswith(
            LAYER3_FORWARDING
        ):
            return _soap_reply(
                service,
                action,
                {"NewDefaultConnectionService": self.default_connection()},
            )
        if match := WAN_SERVICE.fullmatch(service.service_type):
            idle = not state.idle_services.isdisjoint(
                {f"WAN{match.group(1)}Connection", service.control_url}
            )
            if action == "GetExternalIPAddress" and state.external_ip_bytes:
                return _soap_reply_bytes(service, action, state.external_ip_bytes)
            if action == "GetExternalIPAddress":
                return _soap_reply(
                    service,
                    action,
                    {
                        "NewExternalIPAddress": ""
                        if idle
                        else state.connection_ips.get(
                            service.control_url, state.external_ip
                        )
                    },
                )
            if action == "GetStatusInfo":
                return _soap_reply(
                    service,
                    action,
                    {
                        "NewConnectionStatus": "Disconnected"
                        if idle
                        else state.connection_status,
                        "NewLastConnectionError": "ERROR_NONE",
                        "NewUptime": state.uptime,
                    },
                )
        return _soap_fault(401, "Invalid Action")

    async def _hostile_reply(self, request: web.Request) -> web.StreamResponse | None:
        """Answer as the fault says for every request (None: no such fault now)."""
        fault = self.state.fault
        if fault is Fault.HTTP_500:
            return web.Response(status=500)
        if fault is Fault.HTTP_404:
            return web.Response(status=404)
        if fault is Fault.HANG_UP:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)  # never sent: the connection is gone
        if fault is Fault.ENTITY_BOMB:
            return _xml(ENTITY_BOMB)
        if fault is Fault.EXTERNAL_ENTITY:
            return _xml(self._external_entity_document())
        if fault in (Fault.HUGE_BODY, Fault.HUGE_BODY_ANNOUNCED):
            return await self._stream_huge_body(
                request, announced=fault is Fault.HUGE_BODY_ANNOUNCED
            )
        return None

    def _external_entity_document(self) -> str:
        return (
            '<?xml version="1.0"?>\n<!DOCTYPE root [\n<!ENTITY xxe SYSTEM '
            f'"{self.url}{EXTERNAL_ENTITY_PATH}">\n]>\n'
            '<root xmlns="urn:schemas-upnp-org:device-1-0">&xxe;</root>'
        )

    async def _handle_external_entity(self, request: web.Request) -> web.Response:
        self.state.external_entity_fetches += 1
        return web.Response(text="fetched", content_type="text/plain")

    async def _stream_huge_body(
        self, request: web.Request, *, announced: bool
    ) -> web.StreamResponse:
        """Send `huge_bytes` of well-formed XML, generated chunk by chunk as it is read.

        The body is never held whole: one 64 KiB chunk of whitespace is written again and
        again, and socket backpressure stops the writing when the client stops reading.
        """
        total = self.state.huge_bytes
        head = b'<?xml version="1.0"?>\n<root xmlns="urn:schemas-upnp-org:device-1-0">'
        tail = b"</root>"
        response = web.StreamResponse(headers={"Content-Type": "text/xml"})
        if announced:
            response.content_length = total
        await response.prepare(request)
        padding = total - len(head) - len(tail)
        try:
            await self._send(response, head)
            while padding > 0:
                chunk = HUGE_BODY_CHUNK[:padding]
                await self._send(response, chunk)
                padding -= len(chunk)
            await self._send(response, tail)
            await response.write_eof()
        except ConnectionError:
            pass  # the client hung up, as it should
        return response

    async def _send(self, response: web.StreamResponse, data: bytes) -> None:
        await response.write(data)
        self.state.huge_bytes_sent += len(data)

    async def _handle_get_state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "external_ip": self.state.external_ip,
                "connection_status": self.state.connection_status,
                "fault": self.state.fault,
                "soap_requests": dict(self.state.soap_requests),
                "subscriptions": [
                    sub.event_url for sub in self.gena.subscriptions.values()
                ],
            }
        )

    async def _handle_set_state(self, request: web.Request) -> web.Response:
        data = (
            await request.post()
            if request.content_type != "application/json"
            else await request.json()
        )
        if "external_ip" in data:
            self.set_external_ip(str(data["external_ip"]))
        if "connection_status" in data:
            self.state.connection_status = str(data["connection_status"])
        if "fault" in data:
            try:
                self.set_fault(Fault(str(data["fault"])))
            except ValueError:
                return web.json_response({"error": "unknown fault"}, status=400)
        return await self._handle_get_state(request)


def _by_path(handlers: dict[str, Handler]) -> dict[str, Handler]:
    """Return one handler per URL path, choosing by the query string where URLs share one."""
    paths: dict[str, dict[str, Handler]] = {}
    for url, handler in handlers.items():
        parts = urlsplit(url)
        paths.setdefault(parts.path, {})[parts.query] = handler

    def dispatch(by_query: dict[str, Handler]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            handler = by_query.get(request.query_string)
            if handler is None:
                return web.Response(status=404)
            return await handler(request)

        return handle

    return {path: dispatch(by_query) for path, by_query in paths.items()}


@web.middleware
async def _legacy_http(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer as an old firmware does: HTTP/1.0, octet-stream, no length, then hang up."""
    response = await handler(request)
    if not isinstance(response, web.Response) or request.transport is None:
        return response
    head = [f"HTTP/1.0 {response.status} {response.reason}"]
    head += [
        f"{name}: {value}"
        for name, value in response.headers.items()
        if name.lower() not in ("content-length", "content-type")
    ]
    head.append("Content-Type: application/octet-stream")
    body = response.body if isinstance(response.body, bytes) else b""
    request.transport.write("\r\n".join(head).encode() + b"\r\n\r\n" + body)
    request.transport.close()
    return response  # never sent: the connection is closed


def _services_of(template: str) -> list[_Service]:
    root = DET.fromstring(template.encode())
    return [
        _Service(
            service_type=_text(service, "serviceType"),
            service_id=_text(service, "serviceId"),
            device_udn=_text(device, "UDN"),
            scpd_url=_path_qs(_text(service, "SCPDURL")),
            control_url=_path_qs(_text(service, "controlURL")),
            event_url=_path_qs(_text(service, "eventSubURL")),
        )
        for device in root.iter(f"{DEVICE_NS}device")
        for service in device.findall(f"{DEVICE_NS}serviceList/{DEVICE_NS}service")
    ]


def _path_qs(url: str) -> str:
    """Return the path and query of a URL as the description writes it (maybe absolute)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _text(element: ET.Element, tag: str) -> str:
    child = element.find(f"{DEVICE_NS}{tag}")
    assert child is not None and child.text, tag
    return child.text.strip()


def _xml(body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=body, status=status, content_type="text/xml", charset="utf-8"
    )


def _soap_reply(service: _Service, action: str, values: dict[str, str]) -> web.Response:
    arguments = "".join(
        f"<{name}>{escape(value)}</{name}>" for name, value in values.items()
    )
    body = (
        f'<u:{action}Response xmlns:u="{service.service_type}">{arguments}'
        f"</u:{action}Response>"
    )
    return _xml(SOAP_ENVELOPE.format(body=body))


def _soap_reply_bytes(service: _Service, action: str, value: bytes) -> web.Response:
    """Return a reply whose address is raw bytes, sent with no charset named."""
    body = SOAP_ENVELOPE.format(
        body=f'<u:{action}Response xmlns:u="{service.service_type}">'
        "<NewExternalIPAddress>\0</NewExternalIPAddress>"
        f"</u:{action}Response>"
    )
    return web.Response(
        body=body.encode().replace(b"\0", value), content_type="text/xml"
    )


def _soap_fault(code: int, description: str) -> web.Response:
    return _xml(
        SOAP_ENVELOPE.format(
            body=SOAP_FAULT.format(code=code, description=description)
        ),
        status=500,
    )
