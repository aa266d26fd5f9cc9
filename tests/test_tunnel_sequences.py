"""Seeded random sequences over simulated hours, with the invariants checked after every step.

Steps: WAN changes (public, and now and then behind NAT), time passing, HE going down, losing
replies, answering oddly or with `abuse`, reloads through the options flow, restarts, unloads,
button presses and actions (one, or two at once). After every step:
- HE never got two update requests within the minimum interval (restarts included);
- nothing reaches HE while the entry is unloaded;
- Status says In sync only when HE (the simulator's own record) holds the router's address.
At the end HE answers again and time passes: HE then holds the router's address, In sync.

A failure names the seed and prints the steps up to it; `SEEDS` and `STEPS` bound the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
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
from simulators.he import HeSimulator
from simulators.igd import IgdSimulator

from .conftest import TUNNEL_ID, poll, restart, wan_change
from .support.entity_ids import BUTTON, EXTERNAL_IP, STATUS

SEEDS = range(10)
STEPS = 60

PUBLIC = ["84.17.0.10", "84.17.1.1", "84.17.2.2", "84.17.3.3"]
BEHIND_NAT = "10.0.0.2"
# How HE answers, as a step switches it: (body, HTTP status, HE takes the update first).
HE_MODES: dict[str, tuple[str, int, bool] | None] = {
    "normal": None,
    "down": ("", 503, False),
    "lost reply": ("", 502, True),
    "maintenance page": ("<html><body>Maintenance</body></html>", 200, False),
    "redirect": ("", 302, True),
    "abuse": ("abuse", 200, False),
}
WAITS = [
    timedelta(seconds=10),
    timedelta(seconds=40),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
]


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
        self.router = PUBLIC[0]  # the `loaded` fixture's router address

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
        self.log.append(f"HE: {mode}")
        if (reply := HE_MODES[mode]) is None:
            self.he.clear_forced_reply()
        else:
            body, status, taken = reply
            self.he.force_reply(body, status, taken=taken)

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
        arrived = self.he.state.arrived
        self.router = self.rand.choice(PUBLIC)
        self.igd.set_external_ip(self.router)
        await poll(self.hass, self.freezer, timedelta(hours=1))
        assert self.he.state.arrived == arrived, self.fail("sent while unloaded")
        assert await self.hass.config_entries.async_setup(self.entry.entry_id)
        await self.settle()

    async def press(self) -> None:
        self.log.append("Update endpoint pressed")
        await self._refused_in_words(
            self.hass.services.async_call(
                BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: BUTTON}, blocking=True
            )
        )

    def _action(self) -> Awaitable[Any]:
        data: dict[str, Any] = {"config_entry_id": self.entry.entry_id}
        if self.rand.random() < 0.3:
            data["ip"] = self.rand.choice(PUBLIC)
        if self.rand.random() < 0.3:
            data["force"] = True
        self.log.append(f"action {data | {'config_entry_id': '…'}}")
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
        times = [r.at for r in self.he.requests if r.tunnel_id == TUNNEL_ID]
        for earlier, later in itertools.pairwise(times):
            assert later - earlier >= MIN_UPDATE_INTERVAL.total_seconds(), self.fail(
                f"two requests {later - earlier:.0f} s apart"
            )
        status = self.hass.states.get(STATUS)
        router = self.hass.states.get(EXTERNAL_IP)
        if status is not None and status.state == "in_sync":
            assert router is not None
            assert self.he.tunnel(TUNNEL_ID).endpoint == router.state, self.fail(
                f"In sync, but HE holds {self.he.tunnel(TUNNEL_ID).endpoint}"
                f" and the router has {router.state}"
            )

    async def run(self, steps: int) -> None:
        moves: list[tuple[Callable[[], Awaitable[None]], int]] = [
            (self.wan, 30),
            (self.wait, 25),
            (self.he_mode, 15),
            (self.press, 7),
            (self.action, 7),
            (self.two_actions_at_once, 3),
            (self.reload, 6),
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
        self.log.append("HE answers again; the router is public; 30 hours pass")
        self.he.clear_forced_reply()
        if self.router not in PUBLIC:
            self.router = PUBLIC[0]
            await wan_change(self.hass, self.igd, self.freezer, self.router)
        for _ in range(30):
            await poll(self.hass, self.freezer, timedelta(hours=1))
        self.check()
        status = self.hass.states.get(STATUS)
        assert status is not None
        assert status.state == "in_sync", self.fail(f"settled as {status.state}")
        assert self.he.tunnel(TUNNEL_ID).endpoint == self.router


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", SEEDS)
async def test_random_sequences_keep_the_invariants(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    seed: int,
) -> None:
    await Run(hass, igd, he, loaded, freezer, seed).run(STEPS)
