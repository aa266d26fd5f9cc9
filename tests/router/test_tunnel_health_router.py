"""The tunnel health check end to end: a real hass, real ICMPv6, namespaces the test creates.

Home Assistant runs in the router's client namespace, found the router by SSDP and was set up
in the flows; a "HE tunnel server" namespace joined to it by a veth holds the tunnel server's
IPv6 address from HE's (simulated) tunnel information, which is what the check echoes by
default. This kernel has no `sit` module, so no real 6in4 tunnel can be built: the echo path is
what is tested. The repair issue's window is shortened by the developer setting.
"""

from __future__ import annotations

from ipaddress import ip_interface
from pathlib import Path
import time
from typing import Any

import pytest

from tests.support.hass_process import HassError, HassProcess
from tests.support.igd_router import IgdRouter
from tests.support.ipv6_path import EchoPeer
from tests.support.real_stack import (
    HE_PORT,
    HeInNamespace,
    add_integration_from_ssdp,
    wait_until,
)

pytestmark = pytest.mark.router

REACHABLE = "binary_sensor.tunnel_100000_tunnel_reachable"
ROUND_TRIP = "sensor.tunnel_100000_round_trip"
SERVER_V6 = "sensor.tunnel_100000_server_ipv6"
ISSUE_AFTER_S = 5


def _check(hass: HassProcess) -> str | None:
    """Press Check tunnel, as in the UI (WebSocket API); return the error shown, if any."""
    try:
        hass.ws_command(
            "call_service",
            domain="button",
            service="press",
            target={"entity_id": "button.tunnel_100000_check_tunnel"},
        )
    except HassError as err:
        return str(err)
    return None


def _issues(hass: HassProcess) -> list[str]:
    answer: dict[str, Any] = hass.ws_command("repairs/list_issues")
    return [i["issue_id"] for i in answer["issues"] if i["domain"] == "tunnelbroker"]


# An automation on each event, as a user writes it: it leaves a notification behind.
AUTOMATIONS = "".join(
    f"""
automation {kind}:
  - alias: Tunnel {kind}
    triggers:
      - trigger: event
        event_type: tunnelbroker_event
        event_data:
          type: {kind}
    actions:
      - action: persistent_notification.create
        data:
          notification_id: {kind}
          message: "{{{{ trigger.event.data.target }}}}"
"""
    for kind in ("tunnel_down", "tunnel_up")
)


def _notified(hass: HassProcess) -> set[str]:
    answer: list[dict[str, Any]] = hass.ws_command("persistent_notification/get")
    return {n["notification_id"] for n in answer} & {"tunnel_down", "tunnel_up"}


def test_the_tunnel_answers_then_goes_silent_then_comes_back(
    igd_router: IgdRouter, tmp_path: Path
) -> None:
    with (
        HeInNamespace(igd_router) as he,
        HassProcess(
            tmp_path / "hass-config",
            netns=igd_router.client_ns,
            env={
                "TUNNELBROKER_API_URL": f"http://127.0.0.1:{HE_PORT}",
                "TUNNELBROKER_HEALTH_ISSUE_AFTER": str(ISSUE_AFTER_S),
                # Not ::1 (the unit tests' target): HE's server, as in a real home.
                "TUNNELBROKER_HEALTH_TARGET": "",
            },
            extra_yaml=AUTOMATIONS,
        ) as hass,
    ):
        add_integration_from_ssdp(hass, he)
        wait_until(
            lambda: (
                hass.state_of(SERVER_V6, missing="")
                not in ("", "unavailable", "unknown")
            ),
            30,
            "HE's tunnel information",
        )
        server = str(ip_interface(hass.state_of(SERVER_V6)).ip)
        client = str(ip_interface(hass.state_of("sensor.tunnel_100000_client_ipv6")).ip)
        # Before the path exists: no IPv6 route from Home Assistant's host to HE's server.
        error = _check(hass)
        assert error is not None and "no IPv6 route" in error, error
        assert hass.state_of(REACHABLE) == "unavailable"

        with EchoPeer(igd_router.client_ns, server=server, client=client) as peer:
            _check(hass)
            assert hass.state_of(REACHABLE) == "on"
            assert float(hass.state_of(ROUND_TRIP)) > 0
            assert _issues(hass) == []

            # HE's side drops the echoes: off at once, the issue after the window.
            peer.block_echo()
            _check(hass)
            assert hass.state_of(REACHABLE) == "off"
            assert hass.state_of(ROUND_TRIP) == "unavailable"
            assert _issues(hass) == []
            wait_until(
                lambda: _notified(hass) == {"tunnel_down"}, 10, "Tunnel went down"
            )
            time.sleep(ISSUE_AFTER_S + 1)
            _check(hass)
            assert _issues(hass) == ["tunnel_unreachable_100000"]

            # Echoes come back: on, the issue gone by itself.
            peer.unblock_echo()
            _check(hass)
            assert hass.state_of(REACHABLE) == "on"
            assert _issues(hass) == []
        assert _notified(hass) == {"tunnel_down", "tunnel_up"}
