"""The demo's control page: the simulated router's state, a WAN change button, HE's requests.

Served by the router simulator (GET `/`, e.g. http://127.0.0.1:8125/ in scripts/develop): its WAN
address and connection status, a plain HTML form "Change WAN address" (POST `/sim/change-wan`,
no JavaScript) and the last requests the simulated HE server received, with the endpoint it holds
for each tunnel. Everything shown is HTML-escaped; no secret is shown (requests are listed by
tunnel, address and reply only).
"""

from __future__ import annotations

from html import escape
from ipaddress import IPv4Address
import time

from aiohttp import web

from .he import HeSimulator, UpdateRequest
from .igd import IgdSimulator

CONTROL_PATH = "/"
CHANGE_WAN_PATH = "/sim/change-wan"
FALLBACK_WAN_IP = "84.17.0.10"  # the demo router's first address
SHOWN_REQUESTS = 10

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 60em; color: #212121; }}
dt {{ font-weight: bold; }}
dd {{ margin: 0 0 .6em 0; font-family: monospace; font-size: 1.2em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #bbb; padding: .3em .6em; text-align: left; }}
form {{ margin: 1.5em 0; }}
</style>
</head>
<body>
<h1>{title}</h1>
<dl>
<dt>WAN address</dt><dd id="wan-address">{wan_ip}</dd>
<dt>Connection status</dt><dd id="connection-status">{status}</dd>
<dt>Description URL</dt><dd>{location}</dd>
</dl>
<form method="post" action="{change_path}">
<label for="external_ip">New WAN address (empty: the next one, {next_ip})</label>
<input id="external_ip" name="external_ip" autocomplete="off">
<button type="submit">Change WAN address</button>
</form>
<p><a href="{control_path}">Refresh</a></p>
<h2>Simulated Hurricane Electric</h2>
<table id="he-tunnels">
<thead><tr><th>Tunnel</th><th>Endpoint HE holds</th></tr></thead>
<tbody>
{tunnels}</tbody>
</table>
<h3>Last update requests (newest first, {count} in all)</h3>
<table id="he-requests">
<thead><tr><th>#</th><th>When</th><th>Tunnel</th><th>Address sent</th><th>Reply</th></tr></thead>
<tbody>
{requests}</tbody>
</table>
</body>
</html>
"""


def next_wan_address(current: str) -> str:
    """Return the public IPv4 address after `current`; FALLBACK_WAN_IP when there is none."""
    try:
        candidate = IPv4Address(current.strip()) + 1
    except ValueError:  # not an address, or past 255.255.255.255
        return FALLBACK_WAN_IP
    if not candidate.is_global or candidate.is_multicast:
        return FALLBACK_WAN_IP
    return str(candidate)


def add_control_page(router: IgdSimulator, he: HeSimulator) -> None:
    """Serve the control page on the router simulator's app (before it starts)."""
    page = _ControlPage(router, he)
    router.app.router.add_get(CONTROL_PATH, page.handle_page)
    router.app.router.add_post(CHANGE_WAN_PATH, page.handle_change_wan)


class _ControlPage:
    """The page's two handlers, over the two simulators."""

    def __init__(self, router: IgdSimulator, he: HeSimulator) -> None:
        self._router = router
        self._he = he

    async def handle_page(self, request: web.Request) -> web.Response:
        state = self._router.state
        requests = self._he.requests
        shown = list(enumerate(requests, 1))[-SHOWN_REQUESTS:][::-1]
        now = time.monotonic()
        body = _PAGE.format(
            title=escape(self._router.friendly_name),
            wan_ip=escape(state.external_ip),
            status=escape(state.connection_status),
            location=escape(self._router.location),
            change_path=CHANGE_WAN_PATH,
            control_path=CONTROL_PATH,
            next_ip=escape(next_wan_address(state.external_ip)),
            tunnels="".join(
                _row(tunnel.tunnel_id, tunnel.endpoint or "-")
                for tunnels in self._he.state.accounts.values()
                for tunnel in tunnels.values()
            ),
            count=len(requests),
            requests="".join(_request_row(n, r, now) for n, r in shown),
        )
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    async def handle_change_wan(self, request: web.Request) -> web.Response:
        form = await request.post()
        wanted = str(form.get("external_ip", "")).strip()
        self._router.set_external_ip(
            wanted or next_wan_address(self._router.state.external_ip)
        )
        raise web.HTTPSeeOther(location=CONTROL_PATH)


def _request_row(number: int, request: UpdateRequest, now: float) -> str:
    return _row(
        str(number),
        f"{max(now - request.at, 0.0):.0f} s ago",
        request.tunnel_id or "-",
        request.myip or "-",
        request.reply
        if request.status == 200
        else f"HTTP {request.status} {request.reply}".strip(),
    )


def _row(*cells: str) -> str:
    return "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in cells) + "</tr>\n"
