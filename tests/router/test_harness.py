"""The router harness itself: a real miniupnpd answers, notifies, and is discovered by hass."""

from __future__ import annotations

from collections.abc import Callable
import json
import select
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.support.hass_process import HassProcess
from tests.support.igd_router import IgdRouter

pytestmark = pytest.mark.router

NEW_WAN = "84.17.1.2"


def external_ip(router: IgdRouter, *, discover: bool = False) -> str:
    """What `upnpc -s` in the client namespace reports (via SSDP when `discover`)."""
    argv = ["upnpc", "-s"] if discover else ["upnpc", "-u", router.url, "-s"]
    out = router.run_in_client(argv).stdout
    for line in out.splitlines():
        if line.startswith("ExternalIPAddress = "):
            return line.split(" = ", 1)[1].strip()
    raise AssertionError(f"no ExternalIPAddress in upnpc output:\n{out}")


class Subscriber:
    """async-upnp-client's CLI subscribed to WANIPConnection, in the client namespace."""

    def __init__(self, router: IgdRouter) -> None:
        """Subscribe (the CLI prints each NOTIFY as a JSON line with its arrival time)."""
        cli = [sys.executable, "-u", "-m", "async_upnp_client.cli"]
        self.proc = router.exec_in_client(
            [*cli, "subscribe", router.url, "WANIPConn1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def events(
        self, seconds: float, until_ip: str | None = None
    ) -> list[dict[str, Any]]:
        """The NOTIFYs received within `seconds` (stop early at one reporting `until_ip`)."""
        assert self.proc.stdout is not None
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([self.proc.stdout], [], [], left)[0]:
                break
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("{"):
                events.append(json.loads(line))
                if until_ip and ips(events[-1:]) == [until_ip]:
                    break
        return events

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def ips(events: list[dict[str, Any]]) -> list[str]:
    return [e["state_variables"].get("ExternalIPAddress") for e in events]


def test_upnpc_reports_wan_address(igd_router: IgdRouter) -> None:
    """`upnpc` finds the router by SSDP and reads the WAN address; set_wan changes it."""
    assert external_ip(igd_router, discover=True) == "84.17.0.10"
    igd_router.set_wan(NEW_WAN)
    assert igd_router.wan_addresses() == [f"{NEW_WAN}/24"]
    assert external_ip(igd_router) == NEW_WAN


def test_gena_notify_after_wan_change(
    igd_router: IgdRouter, record_property: Callable[[str, object], None]
) -> None:
    """A subscriber gets a NOTIFY with the new address; blocked, and after a reboot, none."""
    sub = Subscriber(igd_router)
    try:
        # SEQ 0: the current values, right after SUBSCRIBE
        assert ips(sub.events(10, until_ip="84.17.0.10"))[-1:] == ["84.17.0.10"]

        changed_at = igd_router.set_wan(NEW_WAN)
        events = sub.events(5, until_ip=NEW_WAN)
        assert ips(events)[-1:] == [NEW_WAN], igd_router.log_text()[-2000:]
        delay = events[-1]["timestamp"] - changed_at
        record_property("notify_delay_s", round(delay, 3))
        print(f"kernel address change -> NOTIFY: {delay * 1000:.1f} ms")  # noqa: T201
        assert delay < 1.0
        sub.events(1)  # the SIGUSR1 repeat

        igd_router.block_event_port(reject=True)  # the router's NOTIFY is refused
        igd_router.set_wan("84.17.2.3")
        assert sub.events(2) == []
        igd_router.unblock_event_port()
        # miniupnpd dropped the subscriber after the failed NOTIFY: no more events for it
        igd_router.set_wan("84.17.2.4")
        assert sub.events(2) == []
        assert "remove subscriber" in igd_router.log_text()
    finally:
        sub.close()

    sub = Subscriber(igd_router)
    try:
        assert ips(sub.events(10, until_ip="84.17.2.4"))[-1:] == ["84.17.2.4"]
        igd_router.stop_miniupnpd()  # router reboot: subscriptions are gone
        igd_router.start_miniupnpd()
        igd_router.set_wan("84.17.3.5")
        assert sub.events(2) == []
        assert external_ip(igd_router) == "84.17.3.5"
    finally:
        sub.close()


def test_hass_in_client_discovers_router(
    igd_router: IgdRouter,
    hass_in_client: HassProcess,
    record_property: Callable[[str, object], None],
) -> None:
    """Home Assistant in the client namespace answers, onboards, and SSDP starts our config flow."""
    assert hass_in_client.start_seconds is not None
    record_property("hass_start_s", round(hass_in_client.start_seconds, 2))
    print(f"hass answered HTTP after {hass_in_client.start_seconds:.1f} s")  # noqa: T201
    hass_in_client.onboard()
    status, steps = hass_in_client.request("GET", "/api/onboarding", auth=False)
    assert status == 200
    assert all(step["done"] for step in steps)
    hass_in_client.wait_running()

    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while not found and time.monotonic() < deadline:
        found = [
            flow
            for flow in hass_in_client.flow_progress()
            if flow["handler"] == "tunnelbroker" and flow["context"]["source"] == "ssdp"
        ]
        time.sleep(0.5)
    assert found, (
        f"no ssdp flow for tunnelbroker; hass log {hass_in_client.log_path},"
        f" miniupnpd log {igd_router.log_path}"
    )
    print(f"discovered: {found[0]['context']}")  # noqa: T201
    assert found[0]["context"].get("unique_id") in (None, igd_router.udn)

    stopping = time.monotonic()
    assert hass_in_client.stop() == 0
    print(f"hass stopped in {time.monotonic() - stopping:.1f} s")  # noqa: T201
    pids = igd_router.run_in_client(["true"]).returncode, igd_router.ns_pids("client")
    assert pids == (0, [])
