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

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from ipaddress import ip_address
import itertools
import random
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tunnelbroker.const import (
    CONF_AUTOMATIC_UPDATE,
    DOMAIN,
    SERVICE_UPDATE_ENDPOINT,
)
from custom_components.tunnelbroker.protocol.update_policy import MIN_UPDATE_INTERVAL
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from simulators.he import AbuseRule, HeSimulator
from simulators.igd import IgdSimulator

from .conftest import (
    OTHER_RECORD_KEY,
    OTHER_RECORD_NAME,
    RECORD_NAME,
    TUNNEL_ID,
    WAN_IP,
    find_device,
    poll,
    record_subentry,
    restart,
    router_entry,
    seed_endpoint,
    seed_record,
    setup_entry,
    tunnel_subentry,
    wan_change,
)
from .support.entity_ids import EXTERNAL_IP, RECORD_IPV6_STATUS, RECORD_STATUS

SEEDS = range(8)
STEPS = 60

PUBLIC = [WAN_IP, "84.17.1.1", "84.17.2.2", "84.17.3.3"]
BEHIND_NAT = "10.0.0.2"
NAMES = (RECORD_NAME, OTHER_RECORD_NAME)
STATUS = {
    RECORD_NAME: RECORD_STATUS,
    OTHER_RECORD_NAME: "sensor.vpn_example_org_status",
}
BUTTONS = {
    RECORD_NAME: "button.home_example_org_update_record",
    OTHER_RECORD_NAME: "button.vpn_example_org_update_record",
}
# How dns.he.net answers, as a step switches it: (body, HTTP status, HE takes it first).
HE_MODES: dict[str, tuple[str, int, bool] | None] = {
    "normal": None,
    "down": ("", 503, False),
    "lost reply": ("", 502, True),
    "maintenance page": ("<html><body>Maintenance</body></html>", 200, False),
    "interval": ("interval", 200, False),
    "abuse": ("abuse", 200, False),
}
WAITS = [
    timedelta(seconds=10),
    timedelta(seconds=40),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
]


def routed_host(he: HeSimulator) -> str:
    """Return an address of the tunnel's routed /64 (home.example.org's AAAA)."""
    return he.tunnel(TUNNEL_ID).routed_64.split("/")[0].rstrip(":") + "::10"


class Run:
    """One sequence: the steps, and the invariants after each."""

    def __init__(
        self,
        hass: HomeAssistant,
        igd: IgdSimulator,
        he: HeSimulator,
        entry: MockConfigEntry,
        freezer: FrozenDateTimeFactory,
        seed: int,
    ) -> None:
        """Start a run of `seed` on a loaded entry."""
        self.hass, self.igd, self.he, self.entry, self.freezer = (
            hass,
            igd,
            he,
            entry,
            freezer,
        )
        self.rand = random.Random(seed)  # noqa: S311 (a seeded, repeatable sequence)
        self.seed = seed
        self.log: list[str] = []
        self.router = WAN_IP  # the address HE holds for everything at the start
        self.host = routed_host(he)

    def fail(self, why: str) -> str:
        """Return the failure message: the seed, the steps so far, why."""
        steps = "\n".join(f"  {n}. {step}" for n, step in enumerate(self.log, 1))
        return f"seed {self.seed}, after:\n{steps}\n{why}"

    async def settle(self) -> None:
        await self.hass.async_block_till_done(wait_background_tasks=True)

    # -- the steps ---------------------------------------------------------------------------
    async def wan(self) -> None:
        address = BEHIND_NAT if self.rand.random() < 0.1 else self.rand.choice(PUBLIC)
        self.log.append(f"WAN address {address}")
        self.router = address
        await wan_change(self.hass, self.igd, self.freezer, address)

    async def wait(self) -> None:
        delta = self.rand.choice(WAITS)
        self.log.append(f"{delta} pass")
        await poll(self.hass, self.freezer, delta)

    async def he_mode(self) -> None:
        mode = self.rand.choices(list(HE_MODES), weights=[6, 2, 2, 1, 1, 1])[0]
        self.log.append(f"dns.he.net: {mode}")
        if (reply := HE_MODES[mode]) is None:
            self.he.clear_forced_dns_reply()
        else:
            body, status, taken = reply
            self.he.force_dns_reply(body, status, taken=taken)

    async def reload(self) -> None:
        self.log.append("options changed (reload)")
        result = await self.hass.config_entries.options.async_init(self.entry.entry_id)
        await self.hass.config_entries.options.async_configure(
            result["flow_id"],
            {CONF_AUTOMATIC_UPDATE: True, "health_interval": self.rand.randint(1, 60)},
        )
        await self.settle()

    async def restart(self) -> None:
        self.log.append("Home Assistant restarts")
        await restart(self.hass, self.entry)
        await self.settle()

    async def unloaded_for_a_while(self) -> None:
        self.log.append("entry unloaded, router changes, an hour passes, loaded again")
        assert await self.hass.config_entries.async_unload(self.entry.entry_id)
        arrived = self.he.state.dns_arrived
        self.router = self.rand.choice(PUBLIC)
        self.igd.set_external_ip(self.router)
        await poll(self.hass, self.freezer, timedelta(hours=1))
        assert self.he.state.dns_arrived == arrived, self.fail("sent while unloaded")
        assert await self.hass.config_entries.async_setup(self.entry.entry_id)
        await self.settle()

    async def press(self) -> None:
        name = self.rand.choice(NAMES)
        self.log.append(f"Update record of {name} pressed")
        await self._refused_in_words(
            self.hass.services.async_call(
                BUTTON_DOMAIN,
                SERVICE_PRESS,
                {ATTR_ENTITY_ID: BUTTONS[name]},
                blocking=True,
            )
        )

    def _action(self) -> Awaitable[Any]:
        data: dict[str, Any] = {"config_entry_id": self.entry.entry_id}
        target = "the router"
        if self.rand.random() < 0.5:
            name = self.rand.choice(NAMES)
            device = find_device(self.hass, f"record_{name}")
            assert device is not None
            data = {"device_id": device.id}
            target = name
        if self.rand.random() < 0.3:
            data["ip"] = self.rand.choice(PUBLIC)
        if self.rand.random() < 0.3:
            data["force"] = True
        shown = {k: v for k, v in data.items() if k in ("ip", "force")}
        self.log.append(f"action for {target} {shown}")
        return self.hass.services.async_call(
            DOMAIN, SERVICE_UPDATE_ENDPOINT, data, blocking=True, return_response=True
        )

    async def action(self) -> None:
        await self._refused_in_words(self._action())

    async def two_actions_at_once(self) -> None:
        first, second = self._action(), self._action()
        self.log.append("(the last two at once)")
        await asyncio.gather(
            self._refused_in_words(first), self._refused_in_words(second)
        )

    async def _refused_in_words(self, call: Awaitable[Any]) -> None:
        error: HomeAssistantError | None = None
        try:
            await call
        except HomeAssistantError as err:
            error = err
        assert error is None or error.translation_key, self.fail(f"no words: {error!r}")
        await self.settle()

    # -- the invariants ----------------------------------------------------------------------
    def check(self) -> None:
        for name, version in itertools.product(NAMES, (4, 6)):
            times = [
                r.at
                for r in self.he.dns_requests
                if r.hostname == name and ip_address(str(r.myip)).version == version
            ]
            for earlier, later in itertools.pairwise(times):
                assert later - earlier >= MIN_UPDATE_INTERVAL.total_seconds(), (
                    self.fail(
                        f"{name} IPv{version}: two requests {later - earlier:.0f} s apart"
                    )
                )
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

    async def run(self, steps: int) -> None:
        moves: list[tuple[Callable[[], Awaitable[None]], int]] = [
            (self.wan, 30),
            (self.wait, 25),
            (self.he_mode, 15),
            (self.press, 8),
            (self.action, 7),
            (self.two_actions_at_once, 3),
            (self.reload, 5),
            (self.restart, 4),
            (self.unloaded_for_a_while, 3),
        ]
        for _ in range(steps):
            move = self.rand.choices(
                [m for m, _ in moves], weights=[w for _, w in moves]
            )[0]
            await move()
            self.check()
        # HE answers again, the router is public, and time passes (an abuse block ends).
        self.log.append("dns.he.net answers again; the router is public; 30 hours pass")
        self.he.clear_forced_dns_reply()
        if self.router not in PUBLIC:
            self.router = PUBLIC[0]
            await wan_change(self.hass, self.igd, self.freezer, self.router)
        for _ in range(30):
            await poll(self.hass, self.freezer, timedelta(hours=1))
        self.check()
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
    seed_endpoint(hass_storage, WAN_IP, he=he)
    seed_record(hass_storage, RECORD_NAME, aaaa=host, he=he)
    seed_record(hass_storage, OTHER_RECORD_NAME, he=he)
    entry = router_entry(
        igd.location,
        tunnel_subentry(),
        record_subentry(ipv6=host),
        record_subentry(OTHER_RECORD_NAME, OTHER_RECORD_KEY),
    )
    await setup_entry(hass, entry)
    await hass.async_block_till_done(wait_background_tasks=True)
    await Run(hass, igd, he, entry, freezer, seed).run(STEPS)
