"""A rogue host on the router's LAN announces the router's UDN: nothing reaches HE from it.

The router is miniupnpd in its namespace; Home Assistant runs in the client namespace, found
the router by SSDP and set it up. A second address on the client's LAN is the rogue host: it
serves an IGD description with the router's UDN and a WAN address of its own, and multicasts
ssdp:alive announcements for it, as any device on a home network can.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from tests.support.hass_process import HassProcess
from tests.support.igd_router import IgdRouter
from tests.support.real_stack import (
    HeInNamespace,
    add_integration_from_ssdp,
    external_ip,
    hass_next_to_he,
    wait_until,
)
from tests.support.simulator_process import ROUTER_BANNER, SimulatorProcess

pytestmark = pytest.mark.router

ROGUE_WAN = "84.17.66.66"
ROGUE_PORT = 8126
ANNOUNCE = """
import socket, sys, time
host, location, udn, boot = sys.argv[1:5]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((host, 0))
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(host))
for n in range(3):
    for nt in ("upnp:rootdevice", "urn:schemas-upnp-org:device:InternetGatewayDevice:2"):
        usn = f"{udn}::{nt}"
        packet = (
            "NOTIFY * HTTP/1.1\\r\\nHOST: 239.255.255.250:1900\\r\\nCACHE-CONTROL: max-age=1800\\r\\n"
            f"LOCATION: {location}\\r\\nNT: {nt}\\r\\nNTS: ssdp:alive\\r\\nUSN: {usn}\\r\\n"
            f"BOOTID.UPNP.ORG: {int(boot) + n}\\r\\nSERVER: Linux UPnP/1.1 MiniUPnPd/2.3.1\\r\\n\\r\\n"
        )
        sock.sendto(packet.encode(), ("239.255.255.250", 1900))
    time.sleep(0.5)
"""


@pytest.fixture
def hass_with_he(
    igd_router: IgdRouter, tmp_path: Path
) -> Generator[tuple[HassProcess, HeInNamespace]]:
    with (
        HeInNamespace(igd_router) as he,
        hass_next_to_he(
            igd_router,
            tmp_path / "hass-config",
            # The real router's change follows the setup's update at once.
            TUNNELBROKER_MIN_UPDATE_INTERVAL="0",
        ) as hass,
    ):
        yield hass, he


def test_a_rogue_host_with_the_routers_udn_is_not_followed(
    igd_router: IgdRouter, hass_with_he: tuple[HassProcess, HeInNamespace]
) -> None:
    hass, he = hass_with_he
    add_integration_from_ssdp(hass, he)
    wait_until(lambda: external_ip(hass) == "84.17.0.10", 30, "the router's address")
    rogue_ip = f"{igd_router.lan_prefix}.66"
    igd_router.run_in_client(["ip", "addr", "add", f"{rogue_ip}/24", "dev", "eth0"])
    with SimulatorProcess(
        [
            "--no-he",
            *("--host", rogue_ip),
            *("--router-port", str(ROGUE_PORT)),
            *("--udn", igd_router.udn),
            *("--wan-ip", ROGUE_WAN),
        ],
        ROUTER_BANNER,
        igd_router.exec_in_client,
    ):
        location = f"http://{rogue_ip}:{ROGUE_PORT}/rootDesc.xml"
        wait_until(
            lambda: (
                igd_router.run_in_client(
                    ["curl", "-sf", "-o", "/dev/null", location], check=False
                ).returncode
                == 0
            ),
            15,
            "the rogue host serving",
        )
        igd_router.run_in_client(
            ["python3", "-c", ANNOUNCE, rogue_ip, location, igd_router.udn, "100"]
        )
        # Home Assistant's SSDP heard it: the rogue location is one of the router's now.
        wait_until(
            lambda: location in hass.log_text(), 30, "the announcement being heard"
        )
        (entry,) = hass.config_entries("tunnelbroker")
        diagnostics = hass.api(
            "GET", f"/api/diagnostics/config_entry/{entry['entry_id']}"
        )
        assert diagnostics["data"]["entry"]["data"]["location"] == (
            f"http://{igd_router.router_ip}:5000/rootDesc.xml"
        )
        # The real router still speaks for the WAN: its change reaches HE, the rogue's never.
        igd_router.set_wan("84.17.0.77")
        he.wait_for("84.17.0.77", 60.0)
        assert external_ip(hass) == "84.17.0.77"
        assert ROGUE_WAN not in [r["myip"] for r in he.requests()]
