"""The integration in a real Home Assistant against a real router (miniupnpd), end to end.

In the router's client namespace run a `hass` process with this integration and the simulated
HE server; the router is miniupnpd in its own namespace. Nothing else is reachable.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
import time

import pytest

from tests.support.hass_process import HassProcess
from tests.support.igd_router import IgdRouter
from tests.support.real_stack import (
    HeInNamespace,
    add_integration_from_ssdp,
    external_ip,
    hass_next_to_he,
    reboot_router_then_change,
    wait_until,
)

# While subscribed the safety poll is 10 minutes: anything seen within a minute was pushed.
PUSH_DEADLINE = 60.0
# Without events the router is polled every 30 s.
POLL_DEADLINE = 75.0

pytestmark = pytest.mark.router


@pytest.fixture
def he_in_client(igd_router: IgdRouter) -> Generator[HeInNamespace]:
    with HeInNamespace(igd_router) as he:
        yield he


@pytest.fixture
def hass_with_he(
    igd_router: IgdRouter, he_in_client: HeInNamespace, tmp_path: Path
) -> Generator[HassProcess]:
    with hass_next_to_he(
        igd_router,
        tmp_path / "hass-config",
        # Changes seconds apart: the event path is what is measured here.
        TUNNELBROKER_MIN_UPDATE_INTERVAL="0",
    ) as hass:
        yield hass


def test_discovered_router_pushes_changes_to_he(
    igd_router: IgdRouter,
    he_in_client: HeInNamespace,
    hass_with_he: HassProcess,
    record_property: Callable[[str, object], None],
) -> None:
    hass = hass_with_he

    # SSDP found miniupnpd and started the flow: confirm it, give the tunnel's credentials.
    add_integration_from_ssdp(hass, he_in_client)
    assert [r["myip"] for r in he_in_client.requests()] == ["84.17.0.10"]
    wait_until(
        lambda: external_ip(hass) == "84.17.0.10", 10, "the sensor showing 84.17.0.10"
    )
    time.sleep(6)  # past the wait for the router's initial NOTIFY

    # 1. A change is pushed: exactly one update, with the new address.
    igd_router.set_wan("84.17.0.20")
    took = he_in_client.wait_for("84.17.0.20", PUSH_DEADLINE)
    record_property("event_reaction_s", round(took, 3))
    time.sleep(2)  # miniupnpd's repeated NOTIFYs must not cause a second update
    assert [r["myip"] for r in he_in_client.requests()] == ["84.17.0.10", "84.17.0.20"]
    assert external_ip(hass) == "84.17.0.20"

    # 2. Router reboot (new SIDs): its SSDP announcement leads to a new subscription.
    took = reboot_router_then_change(
        igd_router, he_in_client, "84.17.0.21", PUSH_DEADLINE
    )
    record_property("after_reboot_s", round(took, 3))

    # 3. Events refused by a firewall: polling every 30 s still delivers the change (the
    # new subscription's initial NOTIFY is refused; polling takes over).
    igd_router.block_event_port(reject=True)
    took = reboot_router_then_change(
        igd_router, he_in_client, "84.17.0.22", POLL_DEADLINE
    )
    record_property("polled_s", round(took, 3))
    igd_router.unblock_event_port()

    # 4. Behind another NAT: miniupnpd reports no address; nothing is sent.
    count = len(he_in_client.requests())
    igd_router.set_wan("10.0.0.5")
    wait_until(
        lambda: external_ip(hass) in ("unknown", ""),
        POLL_DEADLINE,
        "the address going away",
    )
    assert len(he_in_client.requests()) == count
    print(f"timings: {hass.log_path}")  # noqa: T201
