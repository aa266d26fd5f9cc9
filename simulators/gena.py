"""GENA eventing for the simulated router: SUBSCRIBE, renewal, UNSUBSCRIBE and NOTIFY.

As a UPnP device does it (UPnP Device Architecture 1.1, section 4): a subscriber gets a SID, an
initial NOTIFY (SEQ 0) with every evented variable, then one NOTIFY per change, each with the next
SEQ. Subscriptions can be refused on demand (as routers with eventing disabled do).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
import time
import uuid
from xml.sax.saxutils import escape

import aiohttp
from aiohttp import web

PROPERTYSET = (
    '<?xml version="1.0"?>\n'
    '<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0">{properties}</e:propertyset>'
)
DEFAULT_TIMEOUT = 1800


@dataclass
class Subscription:
    """One subscriber of one service."""

    sid: str
    event_url: str
    callback: str
    expires: float
    seq: int = 0


class GenaPublisher:
    """Subscriptions of all the router's services, and the NOTIFYs sent to them."""

    def __init__(self, evented: Callable[[str], dict[str, str]]) -> None:
        """`evented(event_url)` returns the current evented variables of that service."""
        self._evented = evented
        self.subscriptions: dict[str, Subscription] = {}
        self.refuse = False  # answer SUBSCRIBE with `refuse_status` (eventing off)
        self.refuse_status = 503  # 412 (Technicolor), 500 (some DSL routers), ...
        self.drop_notifies = False  # send no NOTIFY at all (a firewall in between)
        self.omit_sid = False  # answer SUBSCRIBE 200 without a SID (a broken device)
        self.notifies_sent = 0
        # While set, SUBSCRIBEs (new and renewals) wait here: a subscription under way.
        self.gate: asyncio.Event | None = None
        self.subscribes_arrived = 0
        self.requests: Counter[str] = (
            Counter()
        )  # SUBSCRIBE, RENEW, UNSUBSCRIBE received
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        """Finish pending NOTIFYs and close the HTTP session."""
        await self.drain()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def hold_subscribes(self) -> None:
        """Keep every SUBSCRIBE (and renewal) that arrives waiting until release_subscribes()."""
        self.gate = asyncio.Event()

    def release_subscribes(self) -> None:
        """Answer the SUBSCRIBEs held (and later ones) again."""
        if self.gate is not None:
            self.gate.set()
            self.gate = None

    async def wait_subscribes(self, count: int) -> None:
        """Return once `count` SUBSCRIBEs in all have arrived (bounded wait)."""
        for _ in range(100_000):
            if self.subscribes_arrived >= count:
                return
            await asyncio.sleep(0)
        raise TimeoutError(f"{self.subscribes_arrived} of {count} SUBSCRIBEs arrived")

    async def drain(self) -> None:
        """Wait until every NOTIFY sent so far was answered (or failed)."""
        for _ in range(
            10
        ):  # NOTIFYs may start others (an initial event after SUBSCRIBE)
            pending = {task for task in self._tasks if not task.done()}
            if not pending:
                return
            await asyncio.wait(pending)

    async def handle(self, request: web.Request) -> web.Response:
        """Answer SUBSCRIBE (new or renewal) and UNSUBSCRIBE on an event URL."""
        renewal = request.method == "SUBSCRIBE" and "SID" in request.headers
        self.requests["RENEW" if renewal else request.method] += 1
        if request.method == "SUBSCRIBE":
            self.subscribes_arrived += 1
            if (gate := self.gate) is not None:
                await gate.wait()
        if request.method == "UNSUBSCRIBE":
            sub = self.subscriptions.pop(request.headers.get("SID", ""), None)
            return web.Response(status=200 if sub else 412)
        if self.refuse:
            return web.Response(status=self.refuse_status)
        if self.omit_sid:
            return web.Response(status=200)
        timeout = _timeout(request.headers.get("TIMEOUT", ""))
        if sid := request.headers.get("SID"):  # renewal
            sub = self.subscriptions.get(sid)
            if sub is None or sub.event_url != request.path_qs:
                return web.Response(status=412)
            sub.expires = time.monotonic() + timeout
            return _subscribed(sid, timeout)
        callback = request.headers.get("CALLBACK", "").strip()
        if request.headers.get("NT") != "upnp:event" or not callback.startswith("<"):
            return web.Response(status=412)
        sid = f"uuid:{uuid.uuid4()}"
        self.subscriptions[sid] = Subscription(
            sid=sid,
            event_url=request.path_qs,
            callback=callback.strip("<>").split("><")[0],
            expires=time.monotonic() + timeout,
        )
        # The initial event follows the response, as on a real device.
        asyncio.get_running_loop().call_soon(
            self._send, self.subscriptions[sid], self._evented(request.path_qs)
        )
        return _subscribed(sid, timeout)

    def publish(self, event_url: str, changes: dict[str, str]) -> None:
        """Send `changes` to every live subscriber of the service at `event_url`."""
        now = time.monotonic()
        for sub in list(self.subscriptions.values()):
            if sub.event_url == event_url and sub.expires > now:
                self._send(sub, changes)

    def _send(self, sub: Subscription, changes: dict[str, str]) -> None:
        if sub.sid not in self.subscriptions or not changes or self.drop_notifies:
            return
        task = asyncio.get_running_loop().create_task(
            self._notify(sub, sub.seq, changes)
        )
        sub.seq += 1
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(
        self, sub: Subscription, seq: int, changes: dict[str, str]
    ) -> None:
        if self._session is None:
            # Routers close the connection after each NOTIFY (miniupnpd does).
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True)
            )
        body = PROPERTYSET.format(
            properties="".join(
                f"<e:property><{name}>{escape(value)}</{name}></e:property>"
                for name, value in changes.items()
            )
        )
        headers = {
            "NT": "upnp:event",
            "NTS": "upnp:propchange",
            "SID": sub.sid,
            "SEQ": str(seq),
            "Content-Type": 'text/xml; charset="utf-8"',
        }
        try:
            async with self._session.request(
                "NOTIFY",
                sub.callback,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=5),
            ) as response:
                await response.read()
            self.notifies_sent += 1
        except (aiohttp.ClientError, TimeoutError):
            pass  # a subscriber that went away; its subscription simply expires


def _timeout(header: str) -> int:
    value = header.strip().lower().removeprefix("second-")
    return int(value) if value.isdigit() else DEFAULT_TIMEOUT


def _subscribed(sid: str, timeout: int) -> web.Response:
    return web.Response(
        status=200, headers={"SID": sid, "TIMEOUT": f"Second-{timeout}"}
    )
