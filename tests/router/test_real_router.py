"""The integration in a real Home Assistant against a real router (miniupnpd), end to end.

In the router's client namespace run a `hass` process with this integration and the simulated
HE server; the router is miniupnpd in its own namespace. Nothing else is reachable.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
import time

import pytest

from simulators.__main__ import demo_record_names
from tests.support.hass_process import HassProcess
from tests.support.igd_router import IgdRouter
from tests.support.real_stack import (
    HeInNamespace,
    add_integration_from_ssdp,
    add_record,
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


@pytest.fixture
def he_with_records(igd_router: IgdRouter) -> Generator[HeInNamespace]:
    with HeInNamespace(igd_router, records=2) as he:
        yield he


@pytest.fixture
def hass_with_records_he(
    igd_router: IgdRouter, he_with_records: HeInNamespace, tmp_path: Path
) -> Generator[HassProcess]:
    with hass_next_to_he(
        igd_router, tmp_path / "hass-config", TUNNELBROKER_MIN_UPDATE_INTERVAL="0"
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


def test_records_added_in_the_ui_follow_the_router(
    igd_router: IgdRouter,
    he_with_records: HeInNamespace,
    hass_with_records_he: HassProcess,
    record_property: Callable[[str, object], None],
) -> None:
    he, hass = he_with_records, hass_with_records_he
    names = demo_record_names(2)
    add_integration_from_ssdp(hass, he)

    # Two records added as the UI adds them: each checked by one request with the router's
    # address, which points its A at home.
    for name in names:
        add_record(hass, name)
    assert [(r["hostname"], r["myip"], r["reply"]) for r in he.dns_requests()] == [
        (name, "84.17.0.10", "good 84.17.0.10") for name in names
    ]
    assert he.records() == {name: {"A": "84.17.0.10", "AAAA": None} for name in names}
    # The reloads that adding them caused sent the tunnel nothing.
    assert [r["myip"] for r in he.requests()] == ["84.17.0.10"]

    # One change on the router: one tunnel update and one request per record, pushed.
    igd_router.set_wan("84.17.0.20")
    start = time.monotonic()
    he.wait_for("84.17.0.20", PUSH_DEADLINE)
    he.wait_for_records("84.17.0.20", names, PUSH_DEADLINE)
    record_property("records_reaction_s", round(time.monotonic() - start, 3))
    time.sleep(2)  # miniupnpd's repeated NOTIFYs must not cause a second request
    assert [r["myip"] for r in he.requests()] == ["84.17.0.10", "84.17.0.20"]
    assert sorted(
        (r["hostname"], r["myip"], r["reply"]) for r in he.dns_requests()[len(names) :]
    ) == [(name, "84.17.0.20", "good 84.17.0.20") for name in sorted(names)]
    assert he.records() == {name: {"A": "84.17.0.20", "AAAA": None} for name in names}
