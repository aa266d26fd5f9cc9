"""The step machinery of the seeded random sequences (tunnel and dns.he.net records).

A `SequenceRun` holds what both sequences do the same way: WAN changes, time passing, HE
switching how it answers, reloads through the options flow, restarts, unloads, button presses
and actions (one, or two at once), each refused only in words, and the failure message that
names the seed and the steps so far. A sequence fills in what differs: how HE is told to
answer, what counts as a request having arrived, which button and which action target, and
the invariants after each step and at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
import itertools
import random
from typing import Any, ClassVar

from freezegun.api import FrozenDateTimeFactory
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
from tests.conftest import poll, restart, wan_change

from .values import WAN_IP

PUBLIC = [WAN_IP, "84.17.1.1", "84.17.2.2", "84.17.3.3"]
BEHIND_NAT = "10.0.0.2"
WAITS = [
    timedelta(seconds=10),
    timedelta(seconds=40),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
]
# How HE answers, as a step switches it: (body, HTTP status, HE takes the update first).
type HeModes = dict[str, tuple[str, int, bool] | None]


def modes_with(odd: str, reply: tuple[str, int, bool]) -> HeModes:
    """Return the six modes: normal, down, a lost reply, a maintenance page, `odd`, abuse."""
    return {
        "normal": None,
        "down": ("", 503, False),
        "lost reply": ("", 502, True),
        "maintenance page": ("<html><body>Maintenance</body></html>", 200, False),
        odd: reply,
        "abuse": ("abuse", 200, False),
    }


class SequenceRun:
    """One sequence: the steps, and the invariants after each (filled in by a subclass)."""

    he_name: ClassVar[str]  # how the log names HE ("HE", "dns.he.net")
    he_modes: ClassVar[HeModes]  # six modes, as `modes_with` gives them
    # How often each step comes, by the name of its method.
    weights: ClassVar[dict[str, int]] = {
        "wan": 30,
        "wait": 25,
        "he_mode": 15,
        "press": 7,
        "action": 7,
        "two_actions_at_once": 3,
        "reload": 6,
        "restart": 4,
        "unloaded_for_a_while": 3,
    }

    def __init__(
        self,
        hass: HomeAssistant,
        igd: IgdSimulator,
        he: HeSimulator,
        entry: MockConfigEntry,
        freezer: FrozenDateTimeFactory,
        seed: int,
    ) -> None:
        """Start a run of `seed` on a loaded entry whose router has `WAN_IP`."""
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
        self.router = WAN_IP  # the address HE holds at the start

    def fail(self, why: str) -> str:
        """Return the failure message: the seed, the steps so far, why."""
        steps = "\n".join(f"  {n}. {step}" for n, step in enumerate(self.log, 1))
        return f"seed {self.seed}, after:\n{steps}\n{why}"

    async def settle(self) -> None:
        await self.hass.async_block_till_done(wait_background_tasks=True)

    # -- what a sequence fills in ------------------------------------------------------------
    def force_reply(self, body: str, status: int, *, taken: bool) -> None:
        raise NotImplementedError

    def clear_forced_reply(self) -> None:
        raise NotImplementedError

    def arrived(self) -> int:
        """Return how many requests have reached HE."""
        raise NotImplementedError

    def button(self) -> tuple[str, str]:
        """Return the button to press, and what the log calls it."""
        raise NotImplementedError

    def action_target(self) -> tuple[dict[str, Any], str]:
        """Return the action's target data, and what the log calls it."""
        return {"config_entry_id": self.entry.entry_id}, "the router"

    def check(self) -> None:
        """Check the invariants after a step."""
        raise NotImplementedError

    def assert_spaced(self, times: list[float], what: str) -> None:
        """Assert that no two of these requests came within the minimum interval."""
        for earlier, later in itertools.pairwise(times):
            assert later - earlier >= MIN_UPDATE_INTERVAL.total_seconds(), self.fail(
                f"{what}two requests {later - earlier:.0f} s apart"
            )

    def check_settled(self) -> None:
        """Check the end: HE answers again, the router is public, time has passed."""
        raise NotImplementedError

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
        mode = self.rand.choices(list(self.he_modes), weights=[6, 2, 2, 1, 1, 1])[0]
        self.log.append(f"{self.he_name}: {mode}")
        if (reply := self.he_modes[mode]) is None:
            self.clear_forced_reply()
        else:
            body, status, taken = reply
            self.force_reply(body, status, taken=taken)

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
        arrived = self.arrived()
        self.router = self.rand.choice(PUBLIC)
        self.igd.set_external_ip(self.router)
        await poll(self.hass, self.freezer, timedelta(hours=1))
        assert self.arrived() == arrived, self.fail("sent while unloaded")
        assert await self.hass.config_entries.async_setup(self.entry.entry_id)
        await self.settle()

    async def press(self) -> None:
        entity_id, shown = self.button()
        self.log.append(f"{shown} pressed")
        await self._refused_in_words(
            self.hass.services.async_call(
                BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: entity_id}, blocking=True
            )
        )

    def _action(self) -> Awaitable[Any]:
        data, target = self.action_target()
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

    # -- the run -----------------------------------------------------------------------------
    async def run(self, steps: int) -> None:
        """Take `steps` random steps, checking after each; then let it settle and check."""
        moves: list[Callable[[], Awaitable[None]]] = [
            getattr(self, name) for name in self.weights
        ]
        for _ in range(steps):
            move = self.rand.choices(moves, weights=list(self.weights.values()))[0]
            await move()
            self.check()
        # HE answers again, the router is public, and time passes (an abuse block ends).
        self.log.append(
            f"{self.he_name} answers again; the router is public; 30 hours pass"
        )
        self.clear_forced_reply()
        if self.router not in PUBLIC:
            self.router = PUBLIC[0]
            await wan_change(self.hass, self.igd, self.freezer, self.router)
        for _ in range(30):
            await poll(self.hass, self.freezer, timedelta(hours=1))
        self.check()
        self.check_settled()
