"""The demo's control page: the simulated router's state, a WAN change button, HE's requests, the tunnel.

Served by the router simulator (GET `/`, e.g. http://127.0.0.1:8125/ in scripts/develop): its WAN
address and connection status, a plain HTML form "Change WAN address" (POST `/sim/change-wan`,
answered with a redirect back to the page: Post/Redirect/Get) and the last requests the simulated
HE server received, with the endpoint it holds for each tunnel, and its dns.he.net records (what
each name's A and AAAA records hold, how many DNS updates came). "Break the tunnel" / "Mend the
tunnel" (POST `/sim/tunnel`) make the tunnel health check's echoes go unanswered, and answered
again, through the TunnelSwitch (tunnel_switch.py): in a private network only, the page says why
not elsewhere.

The page keeps itself current: a small inline script (no external resources) fetches
`/sim/control-state` every REFRESH_SECONDS -- the same values the page shows, as JSON, from the
router and HE simulators together (HE's own /sim/state is on another port, another origin) -- and
puts them in place with textContent. Without JavaScript the "Refresh" link does it. Everything
shown is HTML-escaped; no secret is shown (requests are listed by tunnel, address and reply only).
"""

from __future__ import annotations

from html import escape
from ipaddress import IPv4Address
import time
from typing import Any

from aiohttp import web

from .he import HeSimulator, UpdateRequest
from .igd import IgdSimulator
from .tunnel_switch import TunnelSwitch, TunnelSwitchUnavailable

CONTROL_PATH = "/"
CHANGE_WAN_PATH = "/sim/change-wan"
CONTROL_STATE_PATH = "/sim/control-state"
TUNNEL_PATH = "/sim/tunnel"
TUNNEL_PASSING = "passing: the far end answers echoes"
TUNNEL_BROKEN = "broken: echoes go unanswered"
REFRESH_SECONDS = 1.5
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
<dt>WAN address</dt><dd id="wan-address">{wan_address}</dd>
<dt>Connection status</dt><dd id="connection-status">{connection_status}</dd>
<dt>Description URL</dt><dd>{location}</dd>
</dl>
<form method="post" action="{change_path}">
<label for="external_ip">New WAN address (empty: the next one, \
<span id="next-wan-address">{next_wan_address}</span>)</label>
<input id="external_ip" name="external_ip" autocomplete="off">
<button type="submit">Change WAN address</button>
</form>
<p><a href="{control_path}">Refresh</a> <span id="refresh-note"></span></p>
<h2>Simulated Hurricane Electric</h2>
<table id="he-tunnels">
<thead><tr><th>Tunnel</th><th>Endpoint HE holds</th></tr></thead>
<tbody>
{tunnels}</tbody>
</table>
<h3>dns.he.net records (<span id="dns-request-count">{dns_request_count}</span> update \
requests in all)</h3>
<table id="he-records">
<thead><tr><th>Name</th><th>A</th><th>AAAA</th></tr></thead>
<tbody>
{records}</tbody>
</table>
<h3>Last update requests (newest first, <span id="request-count">{request_count}</span> \
in all)</h3>
<table id="he-requests">
<thead><tr><th>#</th><th>When</th><th>Tunnel</th><th>Address sent</th><th>Reply</th></tr></thead>
<tbody>
{requests}</tbody>
</table>
<h2>Tunnel</h2>
<dl>
<dt>IPv6 through the tunnel</dt><dd id="tunnel-state">{tunnel_state}</dd>
</dl>
<form method="post" action="{tunnel_path}">
<button type="submit" name="broken" value="1"{disabled}>Break the tunnel</button>
<button type="submit" name="broken" value="0"{disabled}>Mend the tunnel</button>
</form>
<p id="tunnel-note">{tunnel_note}</p>
<script>
{script}</script>
</body>
</html>
"""


# Fetches CONTROL_STATE_PATH and shows it; reads only `state.<field>` of _ControlPage.view().
_SCRIPT = """"use strict";
const byId = (id) => document.getElementById(id);
function fillRows(tableId, rows) {{
  const cells = rows.map((row) => {{
    const tr = document.createElement("tr");
    for (const cell of row) {{
      const td = document.createElement("td");
      td.textContent = cell;
      tr.append(td);
    }}
    return tr;
  }});
  byId(tableId).querySelector("tbody").replaceChildren(...cells);
}}
async function refresh() {{
  if (document.hidden) return;
  try {{
    const answer = await fetch("{state_path}", {{ cache: "no-store" }});
    if (!answer.ok) throw new Error(`HTTP ${{answer.status}}`);
    const state = await answer.json();
    byId("wan-address").textContent = state.wan_address;
    byId("connection-status").textContent = state.connection_status;
    byId("next-wan-address").textContent = state.next_wan_address;
    byId("request-count").textContent = state.request_count;
    byId("dns-request-count").textContent = state.dns_request_count;
    byId("tunnel-state").textContent = state.tunnel;
    fillRows("he-tunnels", state.tunnels);
    fillRows("he-requests", state.requests);
    fillRows("he-records", state.records);
    byId("refresh-note").textContent = "(updates itself every {seconds} s)";
  }} catch (error) {{
    byId("refresh-note").textContent = "(the simulator does not answer; trying again)";
  }}
}}
setInterval(refresh, {interval_ms});
refresh();
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


def add_control_page(
    router: IgdSimulator, he: HeSimulator, tunnel: TunnelSwitch | None = None
) -> None:
    """Serve the control page on the router simulator's app (before it starts)."""
    page = _ControlPage(router, he, tunnel or TunnelSwitch())
    router.app.router.add_get(CONTROL_PATH, page.handle_page)
    router.app.router.add_get(CONTROL_STATE_PATH, page.handle_state)
    router.app.router.add_post(CHANGE_WAN_PATH, page.handle_change_wan)
    router.app.router.add_post(TUNNEL_PATH, page.handle_tunnel)


class _ControlPage:
    """The page's handlers, over the two simulators."""

    def __init__(
        self, router: IgdSimulator, he: HeSimulator, tunnel: TunnelSwitch
    ) -> None:
        self._router = router
        self._he = he
        self._tunnel = tunnel

    def view(self) -> dict[str, Any]:
        """Return what the page shows that changes, unescaped (for the page and its script)."""
        state = self._router.state
        requests = self._he.requests
        shown = list(enumerate(requests, 1))[-SHOWN_REQUESTS:][::-1]
        now = time.monotonic()
        return {
            "wan_address": state.external_ip,
            "connection_status": state.connection_status,
            "next_wan_address": next_wan_address(state.external_ip),
            "request_count": len(requests),
            "tunnels": [
                [tunnel.tunnel_id, tunnel.endpoint or "-"]
                for tunnels in self._he.state.accounts.values()
                for tunnel in tunnels.values()
            ],
            "requests": [_request_cells(n, r, now) for n, r in shown],
            "records": [
                [record.hostname, record.a or "-", record.aaaa or "-"]
                for record in self._he.state.records.values()
            ],
            "dns_request_count": len(self._he.dns_requests),
            "tunnel": TUNNEL_BROKEN if self._tunnel.broken else TUNNEL_PASSING,
        }

    async def handle_page(self, request: web.Request) -> web.Response:
        view = self.view()
        unavailable = self._tunnel.unavailable_reason()
        body = _PAGE.format(
            title=escape(self._router.friendly_name),
            wan_address=escape(view["wan_address"]),
            connection_status=escape(view["connection_status"]),
            location=escape(self._router.location),
            change_path=CHANGE_WAN_PATH,
            control_path=CONTROL_PATH,
            next_wan_address=escape(view["next_wan_address"]),
            tunnels="".join(_row(*cells) for cells in view["tunnels"]),
            request_count=view["request_count"],
            requests="".join(_row(*cells) for cells in view["requests"]),
            records="".join(_row(*cells) for cells in view["records"]),
            dns_request_count=view["dns_request_count"],
            tunnel_state=escape(view["tunnel"]),
            tunnel_path=TUNNEL_PATH,
            disabled="" if unavailable is None else " disabled",
            tunnel_note=escape(
                "Home Assistant sees it at its next check (every 5 minutes) or at once "
                "when you press Check tunnel on the tunnel's device page."
                if unavailable is None
                else f"The tunnel cannot be broken here: {unavailable}"
            ),
            script=_SCRIPT.format(
                state_path=CONTROL_STATE_PATH,
                seconds=f"{REFRESH_SECONDS:g}",
                interval_ms=round(REFRESH_SECONDS * 1000),
            ),
        )
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    async def handle_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.view(), headers={"Cache-Control": "no-store"})

    async def handle_change_wan(self, request: web.Request) -> web.Response:
        form = await request.post()
        wanted = str(form.get("external_ip", "")).strip()
        self._router.set_external_ip(
            wanted or next_wan_address(self._router.state.external_ip)
        )
        raise web.HTTPSeeOther(location=CONTROL_PATH)

    async def handle_tunnel(self, request: web.Request) -> web.Response:
        form = await request.post()
        if (wanted := form.get("broken")) not in ("0", "1"):
            raise web.HTTPBadRequest(text="broken must be 1 (break) or 0 (mend)")
        try:
            self._tunnel.set_broken(wanted == "1")
        except TunnelSwitchUnavailable as err:
            raise web.HTTPConflict(
                text=f"The tunnel cannot be broken here: {err}"
            ) from err
        raise web.HTTPSeeOther(location=CONTROL_PATH)


def _request_cells(number: int, request: UpdateRequest, now: float) -> list[str]:
    return [
        str(number),
        f"{max(now - request.at, 0.0):.0f} s ago",
        request.tunnel_id or "-",
        request.myip or "-",
        request.reply
        if request.status == 200
        else f"HTTP {request.status} {request.reply}".strip(),
    ]


def _row(*cells: str) -> str:
    return "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in cells) + "</tr>\n"
