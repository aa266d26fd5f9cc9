"""One sender per tunnel, between states: lost replies, two callers at once, reloads mid-request.

Each test drives the public surface (router events, the action, the button, the options flow,
unload) against the simulated HE, which can take an update and lose its reply, or keep a
request in flight; what the user sees (Status, errors) and every request HE got are asserted.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import itertools
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.tunnelbroker.const import (
    CONF_AUTOMATIC_UPDATE,
    CONF_TUNNEL_ID,
    CONF_UPDATE_KEY,
    DOMAIN,
    ROUTER_POLL_INTERVAL,
    SERVICE_UPDATE_ENDPOINT,
)
from custom_components.tunnelbroker.protocol.update_policy import (
    MIN_UPDATE_INTERVAL,
    RETRY_MAX,
)
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from simulators.he import HeSimulator, InfoFault
from simulators.igd import IgdSimulator

from .conftest import TUNNEL_ID, USERNAME, WAN_IP, poll, wan_change
from .support.entity_ids import BUTTON, STATUS

# A regression here tends to hang (a reload waiting on a request in flight): fail instead.
pytestmark = pytest.mark.timeout(60)

NEW_IP = "84.17.1.20"


def status(hass: HomeAssistant) -> str:
    """Return the tunnel's Status as the user sees it."""
    state = hass.states.get(STATUS)
    assert state is not None
    return state.state


async def action(hass: HomeAssistant, **data: Any) -> Any:
    """Call tunnelbroker.update_endpoint as an automation does."""
    return await hass.services.async_call(
        DOMAIN, SERVICE_UPDATE_ENDPOINT, data, blocking=True, return_response=True
    )


async def press(hass: HomeAssistant) -> None:
    """Press the tunnel's Update endpoint button."""
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: BUTTON}, blocking=True
    )


async def change_options(
    hass: HomeAssistant, entry: MockConfigEntry, **options: Any
) -> None:
    """Change the router's options in the options flow (the entry reloads)."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_AUTOMATIC_UPDATE: True, **options}
    )


def router_moves(
    hass: HomeAssistant, igd: IgdSimulator, freezer: FrozenDateTimeFactory, ip: str
) -> None:
    """Move the router's address and let the next poll find it, without waiting for what follows."""
    igd.set_external_ip(ip)
    freezer.tick(ROUTER_POLL_INTERVAL)
    async_fire_time_changed(hass)


@pytest.mark.parametrize(
    ("body", "http_status"),
    [("", 502), ("<html>Down for maintenance</html>", 200)],
)
async def test_a_lost_reply_then_a_flap_back_is_not_in_sync(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    body: str,
    http_status: int,
) -> None:
    """HE takes B but its reply is lost; the router goes back to A: A is sent."""
    he.force_reply(body, http_status, taken=True)
    await wan_change(hass, igd, freezer, NEW_IP)
    assert he.tunnel(TUNNEL_ID).endpoint == NEW_IP  # HE took it
    he.clear_forced_reply()
    await wan_change(hass, igd, freezer, WAN_IP)
    # Not "In sync": whether HE holds A is open.
    assert status(hass) == "retrying"
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert he.tunnel(TUNNEL_ID).endpoint == WAN_IP
    assert [r.myip for r in he.requests] == [NEW_IP, WAN_IP]
    assert status(hass) == "in_sync"


async def test_a_lost_reply_is_settled_by_an_update_when_he_gives_no_information(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.set_info_fault(InfoFault.HTTP_ERROR)
    he.force_reply("", 504, taken=True)
    await wan_change(hass, igd, freezer, NEW_IP)
    he.clear_forced_reply()
    await wan_change(hass, igd, freezer, WAN_IP)
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert [r.reply for r in he.requests] == ["", f"good {WAN_IP}"]
    assert status(hass) == "in_sync"


async def test_two_automations_at_once_cost_one_request(
    hass: HomeAssistant, he: HeSimulator, loaded: MockConfigEntry
) -> None:
    """Both ask for the same address: the second, in its turn, finds HE holds it."""
    first, second = await asyncio.gather(
        action(hass, config_entry_id=loaded.entry_id, ip=NEW_IP),
        action(hass, config_entry_id=loaded.entry_id, ip=NEW_IP),
    )
    assert [r.reply for r in he.requests] == [f"good {NEW_IP}"]
    results = sorted([first["tunnels"][0]["result"], second["tunnels"][0]["result"]])
    assert results == ["good", "unchanged"]


async def test_two_forced_actions_at_once_cost_one_request(
    hass: HomeAssistant, he: HeSimulator, loaded: MockConfigEntry
) -> None:
    outcomes = await asyncio.gather(
        action(hass, config_entry_id=loaded.entry_id, force=True),
        action(hass, config_entry_id=loaded.entry_id, force=True),
        return_exceptions=True,
    )
    assert len(he.requests) == 1
    refused = [o for o in outcomes if isinstance(o, HomeAssistantError)]
    assert [e.translation_key for e in refused] == ["update_too_soon"]


async def test_a_press_during_an_automatic_update_waits_and_sends_nothing_more(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.hold_updates()
    router_moves(hass, igd, freezer, NEW_IP)
    await he.wait_arrived(1)  # the automatic update is on its way
    pressed = hass.async_create_task(press(hass))
    await asyncio.sleep(0)
    he.release_updates()
    with pytest.raises(HomeAssistantError) as err:
        await pressed
    # Decided in its turn, after HE's answer: within the minimum interval.
    assert err.value.translation_key == "update_too_soon"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert [r.reply for r in he.requests] == [f"good {NEW_IP}"]
    assert status(hass) == "in_sync"


async def test_a_reload_during_a_failing_update_leaves_one_sender(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Options changed while HE is down and an update is on its way: only the new one sends."""
    he.force_reply("", 503)
    he.hold_updates()
    router_moves(hass, igd, freezer, NEW_IP)
    await he.wait_arrived(1)
    runtime_before = loaded.runtime_data
    await change_options(hass, loaded, health_interval=10)
    await hass.async_block_till_done()
    assert loaded.state is ConfigEntryState.LOADED
    assert loaded.runtime_data is not runtime_before
    he.release_updates()
    await hass.async_block_till_done(wait_background_tasks=True)
    # HE still fails for a while, then answers again.
    for _ in range(6):
        await poll(hass, freezer, RETRY_MAX / 6)
    he.clear_forced_reply()
    await poll(hass, freezer, RETRY_MAX)
    await poll(hass, freezer, RETRY_MAX)
    times = [r.at for r in he.requests]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(gap >= MIN_UPDATE_INTERVAL.total_seconds() for gap in gaps), gaps
    assert he.requests[-1].reply == f"good {NEW_IP}"
    assert status(hass) == "in_sync"
    # Once in sync, nobody sends again (no stray timer of the unloaded updater).
    count = len(he.requests)
    await poll(hass, freezer, RETRY_MAX * 3)
    assert len(he.requests) == count


async def test_a_press_in_flight_at_unload_ends_in_words_and_nothing_follows(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.hold_updates()
    pressed = hass.async_create_task(press(hass))
    await he.wait_arrived(1)
    assert await hass.config_entries.async_unload(loaded.entry_id)
    with pytest.raises(HomeAssistantError) as err:
        await pressed
    assert err.value.translation_key == "tunnel_stopped"
    assert "reloaded or unloaded" in str(err.value)
    he.release_updates()
    await hass.async_block_till_done(wait_background_tasks=True)
    igd.set_external_ip(NEW_IP)
    await poll(hass, freezer, RETRY_MAX)
    assert he.state.arrived == 1  # the unloaded entry sends nothing more
    # Loaded again: whether HE took the cancelled request is asked, not assumed.
    reads = len(he.info_requests)
    assert await hass.config_entries.async_setup(loaded.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(he.info_requests) == reads + 1
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert he.tunnel(TUNNEL_ID).endpoint == NEW_IP
    assert status(hass) == "in_sync"


async def test_an_automatic_update_in_flight_at_unload_has_no_effect(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Unloaded mid-request, HE failing: no retry timer, no issue, no event afterwards."""
    he.force_reply("abuse")
    he.hold_updates()
    router_moves(hass, igd, freezer, NEW_IP)
    await he.wait_arrived(1)
    assert await hass.config_entries.async_unload(loaded.entry_id)
    he.release_updates()
    await hass.async_block_till_done(wait_background_tasks=True)
    he.clear_forced_reply()
    await poll(hass, freezer, timedelta(hours=30))
    assert he.state.arrived == 1
    # The answer came after the stop: no repair issue was raised for it.
    assert (
        ir.async_get(hass).async_get_issue(DOMAIN, f"abuse_blocked_{TUNNEL_ID}") is None
    )


async def test_a_forced_send_failing_during_a_block_keeps_the_block(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.force_reply("abuse")
    await wan_change(hass, igd, freezer, NEW_IP)
    assert status(hass) == "blocked"
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    he.force_reply("", 503)
    with pytest.raises(HomeAssistantError):
        await action(hass, config_entry_id=loaded.entry_id, force=True)
    he.clear_forced_reply()
    # Nothing goes out automatically before HE's block (an hour at least) is over.
    await poll(hass, freezer, timedelta(minutes=50))
    assert len(he.requests) == 2
    assert status(hass) == "blocked"
    await poll(hass, freezer, timedelta(hours=2))
    assert he.requests[-1].reply == f"good {NEW_IP}"


async def test_a_reconfigure_that_meets_an_outage_shows_on_the_loaded_tunnel(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The flow's request was lost: the tunnel is not In sync any more, and is retried."""
    he.tunnel(TUNNEL_ID).endpoint = "198.51.100.9"  # HE's tunnel page moved it
    he.force_reply("", 503, taken=True)
    subentry_id = next(iter(loaded.subentries))
    result = await loaded.start_subentry_reconfigure_flow(hass, subentry_id)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_USERNAME: USERNAME,
            CONF_UPDATE_KEY: "typed-again",
            CONF_TUNNEL_ID: TUNNEL_ID,
        },
    )
    assert result["errors"] == {"base": "cannot_connect"}
    await hass.async_block_till_done(wait_background_tasks=True)
    assert status(hass) == "retrying"
    he.clear_forced_reply()
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert status(hass) == "in_sync"
    assert he.tunnel(TUNNEL_ID).endpoint == WAN_IP
