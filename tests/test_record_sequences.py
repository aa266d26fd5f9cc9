"""Seeded random sequences over simulated hours for dns.he.net records, invariants after each step.

A router with the tunnel and two records (home.example.org with an AAAA in the routed /64,
vpn.example.org with an A only). Steps: WAN changes (public, and now and then behind NAT), time
passing, dns.he.net going down, losing replies, answering oddly, with `interval` or `abuse`,
Update record presses, actions (the router's, or one record's; now and then two at once),
reloads through the options flow, restarts, unloads. After every step:
- no record's A or AAAA got two requests within the minimum interval (restarts included;
  the action's force does not shorten it either);
- nothing reaches HE while the entry is unloaded;
- a record's Status says In sync only when dns.he.net holds the router's address.
At the end HE answers again, the router is public and time passes: each record's A holds the
router's address, its AAAA the host's, both In sync.

A failure names the seed and prints the steps up to it; `SEEDS` and `STEPS` bound the run.
"""

from __future__ import annotations

from ipaddress import ip_address
import itertools
from typing import Any, ClassVar

from freezegun.api import FrozenDateTimeFactory
import pytest

from homeassistant.core import HomeAssistant
from simulators.he import AbuseRule, HeSimulator
from simulators.igd import IgdSimulator

from .conftest import (
    OTHER_RECORD_NAME,
    RECORD_NAME,
    find_device,
    records_loaded,
    routed_host,
)
from .support.entity_ids import EXTERNAL_IP, RECORD_IPV6_STATUS, RECORD_STATUS
from .support.sequences import HeModes, SequenceRun, modes_with

SEEDS = range(8)
STEPS = 60

NAMES = (RECORD_NAME, OTHER_RECORD_NAME)
STATUS = {
    RECORD_NAME: RECORD_STATUS,
    OTHER_RECORD_NAME: "sensor.vpn_example_org_status",
}
BUTTONS = {
    RECORD_NAME: "button.home_example_org_update_record",
    OTHER_RECORD_NAME: "button.vpn_example_org_update_record",
}


class Run(SequenceRun):
    """One sequence on the records: the steps, and the invariants after each."""

    he_name = "dns.he.net"
    he_modes: ClassVar[HeModes] = modes_with("interval", ("interval", 200, False))
    weights: ClassVar[dict[str, int]] = SequenceRun.weights | {"press": 8, "reload": 5}

    def __init__(self, *args: Any) -> None:
        """Start a run; home.example.org's AAAA is the routed /64's host."""
        super().__init__(*args)
        self.host = routed_host(self.he)

    def force_reply(self, body: str, status: int, *, taken: bool) -> None:
        self.he.force_dns_reply(body, status, taken=taken)

    def clear_forced_reply(self) -> None:
        self.he.clear_forced_dns_reply()

    def arrived(self) -> int:
        return self.he.state.dns_arrived

    def button(self) -> tuple[str, str]:
        name = self.rand.choice(NAMES)
        return BUTTONS[name], f"Update record of {name}"

    def action_target(self) -> tuple[dict[str, Any], str]:
        if self.rand.random() < 0.5:
            name = self.rand.choice(NAMES)
            device = find_device(self.hass, f"record_{name}")
            assert device is not None
            return {"device_id": device.id}, name
        return super().action_target()

    # -- the invariants ----------------------------------------------------------------------
    def check(self) -> None:
        for name, version in itertools.product(NAMES, (4, 6)):
            times = [
                r.at
                for r in self.he.dns_requests
                if r.hostname == name and ip_address(str(r.myip)).version == version
            ]
            self.assert_spaced(times, f"{name} IPv{version}: ")
        router = self.hass.states.get(EXTERNAL_IP)
        for name in NAMES:
            status = self.hass.states.get(STATUS[name])
            if status is not None and status.state == "in_sync":
                assert router is not None
                held = self.he.record(name).a
                assert held == router.state, self.fail(
                    f"{name} In sync, but HE holds {held} and the router has"
                    f" {router.state}"
                )
        aaaa = self.hass.states.get(RECORD_IPV6_STATUS)
        if aaaa is not None and aaaa.state == "in_sync":
            held = self.he.record(RECORD_NAME).aaaa
            assert held == self.host, self.fail(f"AAAA In sync, but HE holds {held}")

    def check_settled(self) -> None:
        for name in NAMES:
            status = self.hass.states.get(STATUS[name])
            assert status is not None
            assert status.state == "in_sync", self.fail(
                f"{name} settled as {status.state}"
            )
            assert self.he.record(name).a == self.router, self.fail(
                f"{name} holds {self.he.record(name).a}, the router {self.router}"
            )
        aaaa = self.hass.states.get(RECORD_IPV6_STATUS)
        assert aaaa is not None
        assert aaaa.state == "in_sync", self.fail(f"AAAA settled as {aaaa.state}")
        assert self.he.record(RECORD_NAME).aaaa == self.host


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", SEEDS)
async def test_random_sequences_keep_the_invariants(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
    seed: int,
) -> None:
    host = routed_host(he)
    # dns.he.net's own rule too: a client that updated a name too often would be blocked.
    he.state.dns_abuse = AbuseRule()
    entry = await records_loaded(hass, hass_storage, igd, he, ipv6=host)
    await Run(hass, igd, he, entry, freezer, seed).run(STEPS)
