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

from typing import Any, ClassVar

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.core import HomeAssistant
from simulators.he import HeSimulator
from simulators.igd import IgdSimulator

from .conftest import TUNNEL_ID
from .support.entity_ids import BUTTON, EXTERNAL_IP, STATUS
from .support.sequences import HeModes, SequenceRun, modes_with

SEEDS = range(10)
STEPS = 60


class Run(SequenceRun):
    """One sequence on the tunnel: the steps, and the invariants after each."""

    he_name = "HE"
    he_modes: ClassVar[HeModes] = modes_with("redirect", ("", 302, True))

    def force_reply(self, body: str, status: int, *, taken: bool) -> None:
        self.he.force_reply(body, status, taken=taken)

    def clear_forced_reply(self) -> None:
        self.he.clear_forced_reply()

    def arrived(self) -> int:
        return self.he.state.arrived

    def button(self) -> tuple[str, str]:
        return BUTTON, "Update endpoint"

    # -- the invariants ----------------------------------------------------------------------
    def check(self) -> None:
        times = [r.at for r in self.he.requests if r.tunnel_id == TUNNEL_ID]
        self.assert_spaced(times, "")
        status = self.hass.states.get(STATUS)
        router = self.hass.states.get(EXTERNAL_IP)
        if status is not None and status.state == "in_sync":
            assert router is not None
            assert self.he.tunnel(TUNNEL_ID).endpoint == router.state, self.fail(
                f"In sync, but HE holds {self.he.tunnel(TUNNEL_ID).endpoint}"
                f" and the router has {router.state}"
            )

    def check_settled(self) -> None:
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
