"""A DSL router with two WAN connection devices, found and followed across a real network.

miniupnpd has one connection device; firmwares with several (one per PVC/VLAN: internet,
IPTV) are the simulator's `dsl-two-connections` shape. Here it runs in the router's namespace
in miniupnpd's place, answering SSDP on the LAN: a real `hass` in the client namespace finds
it, the user confirms it in the flow, the internet connection (the first; the last is IPTV,
disconnected) is read and its events cross the namespaces.
"""

from __future__ import annotations

from collections.abc import Generator
import json
from pathlib import Path
import time
from typing import Any

import pytest

from simulators.igd import RouterShape
from tests.support.igd_router import IgdRouter
from tests.support.real_stack import (
    PUSH_DEADLINE,
    HeInNamespace,
    add_integration_from_ssdp,
    external_ip,
    hass_next_to_he,
    wait_until,
)
from tests.support.simulator_process import ROUTER_BANNER, SimulatorProcess

pytestmark = pytest.mark.router
ROUTER_PORT = 5000


class SimulatedRouter(SimulatorProcess):
    """The simulator, bound to the router's LAN address, in the router namespace."""

    def __init__(self, router: IgdRouter, shape: RouterShape) -> None:
        """Start it in miniupnpd's place; return once it serves and announces itself."""
        router.stop_miniupnpd()
        self._router = router
        self.url = f"http://{router.router_ip}:{ROUTER_PORT}"
        super().__init__(
            [
                *("--no-he", "--ssdp"),
                *("--host", router.router_ip),
                *("--router-port", str(ROUTER_PORT)),
                *("--shape", shape),
            ],
            ROUTER_BANNER,
            router.exec_in_router,
        )

    def state(self, **changes: str) -> dict[str, Any]:
        """Return the router's state, after `changes` (e.g. external_ip=...)."""
        data = [
            arg for key, value in changes.items() for arg in ("-d", f"{key}={value}")
        ]
        result = self._router.run_in_router(
            ["curl", "-sf", *data, f"{self.url}/sim/state"]
        )
        return dict(json.loads(result.stdout))


@pytest.fixture
def dsl_router(igd_router: IgdRouter) -> Generator[SimulatedRouter]:
    with SimulatedRouter(igd_router, RouterShape.DSL_TWO_CONNECTIONS) as router:
        yield router


def test_two_connection_devices_found_read_and_followed(
    igd_router: IgdRouter, dsl_router: SimulatedRouter, tmp_path: Path
) -> None:
    with (
        HeInNamespace(igd_router) as he,
        hass_next_to_he(
            igd_router, tmp_path / "hass-config", TUNNELBROKER_MIN_UPDATE_INTERVAL="0"
        ) as hass,
    ):
        add_integration_from_ssdp(hass, he)
        # The internet connection (first) is read, not the last (IPTV, 0.0.0.0).
        assert [r["myip"] for r in he.requests()] == ["84.17.0.10"]
        wait_until(lambda: external_ip(hass) == "84.17.0.10", 10, "the WAN sensor")
        assert dsl_router.state()["subscriptions"] == ["/upnp/event/WANPPPConn1"]
        time.sleep(6)  # past the wait for the router's initial NOTIFY
        (entry,) = hass.config_entries("tunnelbroker")
        diagnostics = hass.api(
            "GET", f"/api/diagnostics/config_entry/{entry['entry_id']}"
        )
        assert diagnostics["data"]["events"]["trusted"] is True  # NOTIFYs arrive

        # A change is pushed across the namespaces and reaches HE.
        dsl_router.state(external_ip="84.17.0.20")
        he.wait_for("84.17.0.20", PUSH_DEADLINE)
        wait_until(
            lambda: external_ip(hass) == "84.17.0.20", 10, "the sensor following"
        )
