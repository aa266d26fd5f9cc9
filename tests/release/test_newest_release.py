"""The newest Home Assistant release, as a real `hass`, with the integration and the simulators.

Newer than any test plugin's pin (requirements/release.txt), so this runs without
pytest-homeassistant-custom-component and without tests/conftest.py:

    VENV=.venv-release HA_LINE=release PYTHON=python3.14 scripts/setup
    .venv-release/bin/python -m pytest tests/release --confcutdir=tests/release -p no:cacheprovider

(.ci/run does so inside py314, in a network namespace of its own with only loopback: this
Home Assistant fetches the HACS catalogue at start-up, and nothing may leave the machine.)
A user's first minutes on the release they run: the entry is added through the config flow
(REST, as the UI does), the sensor shows the router's address, one WAN change reaches HE, and
the log holds no warning or error from the integration or about it.
"""

from __future__ import annotations

from collections.abc import Generator
import json
from pathlib import Path
from typing import Any
import urllib.request

import pytest

from homeassistant.const import __version__ as HA_VERSION
from tests.support.hass_process import REPO, HassProcess, free_loopback_port
from tests.support.real_stack import DEMO_TUNNEL_FORM, external_ip, wait_until
from tests.support.simulator_process import HE_BANNER, ROUTER_BANNER, SimulatorProcess

WAN_IP = "84.17.0.10"
NEW_IP = "84.17.3.4"
ICON = REPO / "custom_components" / "tunnelbroker" / "brand" / "icon.png"
# Logged by design: every custom integration gets HA's first line; the developer setting that
# points us at the simulated HE is announced as a warning so that nobody runs it unknowingly.
EXPECTED_WARNINGS = (
    "We found a custom integration tunnelbroker which has not been tested",
    "TUNNELBROKER_API_URL is set",
    "TUNNELBROKER_MIN_UPDATE_INTERVAL is set",
)


class Simulators(SimulatorProcess):
    """`python -m simulators`: the demo's router and HE server on loopback ports."""

    def __init__(self) -> None:
        """Start both; return once they serve."""
        self.router_port = free_loopback_port()
        self.he_port = free_loopback_port()
        super().__init__(
            [
                *("--router-port", str(self.router_port)),
                *("--he-port", str(self.he_port)),
                *("--wan-ip", WAN_IP),
            ],
            (*ROUTER_BANNER, *HE_BANNER),
        )
        self.location = f"http://127.0.0.1:{self.router_port}/rootDesc.xml"
        self.he_url = f"http://127.0.0.1:{self.he_port}"

    def he_updates(self) -> list[str]:
        """The addresses HE was sent, oldest first."""
        return [r["myip"] for r in self._state(self.he_port)["requests"]]

    def set_wan(self, ip: str) -> None:
        """Change the router's WAN address (it tells its subscribers)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.router_port}/sim/state",
            data=f"external_ip={ip}".encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()

    @staticmethod
    def _state(port: int) -> dict[str, Any]:
        url = f"http://127.0.0.1:{port}/sim/state"
        with urllib.request.urlopen(url, timeout=10) as response:
            state: dict[str, Any] = json.load(response)
            return state


@pytest.fixture
def simulators() -> Generator[Simulators]:
    with Simulators() as sims:
        yield sims


@pytest.fixture
def hass(simulators: Simulators, tmp_path: Path) -> Generator[HassProcess]:
    with HassProcess(
        tmp_path / "config",
        env={
            "TUNNELBROKER_API_URL": simulators.he_url,
            # The change follows the setup's update at once (the setup starts the minimum
            # interval, which this smoke test does not wait out).
            "TUNNELBROKER_MIN_UPDATE_INTERVAL": "0",
        },
    ) as process:
        yield process


def test_newest_release_end_to_end(
    hass: HassProcess, simulators: Simulators, record_property: Any
) -> None:
    record_property("home_assistant", HA_VERSION)
    hass.onboard()
    hass.wait_running()

    # Added as a user does when nothing was discovered: description URL, then the tunnel.
    result = hass.flow_start("tunnelbroker")
    assert result["step_id"] == "manual", result
    result = hass.flow_configure(result["flow_id"], {"location": simulators.location})
    assert result["step_id"] == "tunnel", result
    result = hass.flow_configure(result["flow_id"], DEMO_TUNNEL_FORM)
    assert result["type"] == "create_entry", result
    (entry,) = hass.config_entries("tunnelbroker")
    assert entry["state"] == "loaded", entry

    wait_until(lambda: external_ip(hass) == WAN_IP, 30, f"the sensor showing {WAN_IP}")
    assert simulators.he_updates() == [WAN_IP]  # the setup's check

    simulators.set_wan(NEW_IP)
    wait_until(
        lambda: simulators.he_updates() == [WAN_IP, NEW_IP], 30, "the change at HE"
    )
    wait_until(lambda: external_ip(hass) == NEW_IP, 30, f"the sensor showing {NEW_IP}")

    # The integration's own icon, served from its brand/ folder (HA 2026.3 and newer).
    status, body = hass.download("/api/brands/integration/tunnelbroker/icon.png")
    assert status == 200
    assert body == ICON.read_bytes()

    problems = [
        line
        for line in hass.log_text().splitlines()
        if (" WARNING " in line or " ERROR " in line or " CRITICAL " in line)
        and "tunnelbroker" in line.lower()
        and not any(expected in line for expected in EXPECTED_WARNINGS)
    ]
    assert not problems, "\n".join(problems)
