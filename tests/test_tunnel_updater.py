"""Automatic updates: exactly one request per address change, none that is not needed.

Every HE answer is driven through the simulated HE server; what the user sees (repair issues,
reauth flows, stored state) is asserted, and so is every request HE got.
"""

from __future__ import annotations

from datetime import timedelta
import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components import tunnelbroker
from custom_components.tunnelbroker.address_updater import REFUSED_REQUEST
from custom_components.tunnelbroker.const import (
    CONF_AUTOMATIC_UPDATE,
    DOMAIN,
    EVENT_TUNNELBROKER,
    INITIAL_EVENT_TIMEOUT,
    SAFETY_POLL_INTERVAL,
    TUNNEL_INFO_INTERVAL,
)
from custom_components.tunnelbroker.protocol.update_policy import (
    ABUSE_INITIAL,
    JITTER,
    MIN_UPDATE_INTERVAL,
    RETRY_INITIAL,
    USER_REFUSALS,
)
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from simulators.he import AbuseRule, HeSimulator, InfoFault
from simulators.igd import Fault, IgdSimulator

from .conftest import (
    TUNNEL_ID,
    WAN_IP,
    poll,
    restart,
    seed_endpoint,
    setup_entry,
    wan_change,
)
from .support.entity_ids import BUTTON, ENDPOINT, EVENT, NEXT_ATTEMPT, STATUS

NEW_IP = "84.17.1.20"


def shown(hass: HomeAssistant, entity_id: str) -> str:
    """Return what an entity of the tunnel shows."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


async def test_setup_sends_the_router_address_once(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await setup_entry(hass, config_entry)
    assert [(r.tunnel_id, r.myip) for r in he.requests] == [(TUNNEL_ID, WAN_IP)]
    assert he.tunnel(TUNNEL_ID).endpoint == WAN_IP
    assert shown(hass, ENDPOINT) == WAN_IP
    await poll(hass, freezer)
    await poll(hass, freezer)
    assert len(he.requests) == 1


async def test_unchanged_address_sends_nothing(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await poll(hass, freezer)
    assert he.requests == []
    assert shown(hass, STATUS) == "in_sync"


async def test_each_change_sends_exactly_one_update(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    events = async_capture_events(hass, EVENT_TUNNELBROKER)
    await wan_change(hass, igd, freezer, NEW_IP)
    await poll(hass, freezer)
    assert [r.myip for r in he.requests] == [NEW_IP]
    assert he.requests[0].reply == f"good {NEW_IP}"
    assert shown(hass, ENDPOINT) == NEW_IP
    assert [e.data["type"] for e in events] == ["wan_ip_changed", "endpoint_updated"]
    assert events[0].data["ip"] == NEW_IP
    assert events[0].data["previous_ip"] == WAN_IP
    # Back to the old address within the minimum interval: sent when the interval is over.
    await wan_change(hass, igd, freezer, WAN_IP)
    assert [r.myip for r in he.requests] == [NEW_IP]
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert [r.myip for r in he.requests] == [NEW_IP, WAN_IP]


@pytest.mark.parametrize(
    "address",
    [
        "",
        "0.0.0.0",
        "10.0.0.2",
        "192.168.178.20",
        "172.20.1.1",
        "100.72.3.4",
        "169.254.1.1",
    ],
)
async def test_unusable_address_sends_nothing(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    address: str,
) -> None:
    await wan_change(hass, igd, freezer, address)
    assert he.requests == []
    assert shown(hass, STATUS) == "no_public_address"
    assert shown(hass, ENDPOINT) == WAN_IP


async def test_restart_sends_nothing(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    await setup_entry(hass, config_entry)
    assert len(he.requests) == 1
    await restart(hass, config_entry)
    assert len(he.requests) == 1


async def test_automatic_update_off(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    seed_endpoint(hass_storage, WAN_IP)
    await setup_entry(hass, config_entry, options={CONF_AUTOMATIC_UPDATE: False})
    await wan_change(hass, igd, freezer, NEW_IP)
    assert he.requests == []
    assert shown(hass, STATUS) == "automatic_off"


async def test_outage_is_retried_with_capped_jittered_backoff(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    events = async_capture_events(hass, EVENT_TUNNELBROKER)
    he.force_reply("", status=503)
    await wan_change(hass, igd, freezer, NEW_IP)
    assert len(he.requests) == 1
    assert shown(hass, ENDPOINT) == WAN_IP  # not advanced on failure
    assert events[-1].data["type"] == "endpoint_update_failed"
    assert events[-1].data["result"] == "unavailable"
    # The n-th wait lies in [(1 - JITTER) * 2^(n-1) min, 2^(n-1) min], capped at 1 h, and
    # never ends before the minimum interval since the request that failed (HE got it).
    for failures in range(1, 9):
        nominal = min(RETRY_INITIAL * 2 ** (failures - 1), timedelta(hours=1))
        earliest = max(nominal * (1 - JITTER), MIN_UPDATE_INTERVAL)
        latest = max(nominal, MIN_UPDATE_INTERVAL)
        last_attempt = dt_util.parse_datetime(shown(hass, EVENT))
        assert last_attempt is not None
        since = dt_util.utcnow() - last_attempt
        await poll(hass, freezer, earliest - timedelta(seconds=1) - since)
        assert len(he.requests) == failures
        assert shown(hass, STATUS) == "retrying"
        next_attempt = dt_util.parse_datetime(shown(hass, NEXT_ATTEMPT))
        assert next_attempt is not None
        # The poll stopped 1 s short of the earliest attempt: the rest of the wait is at
        # most the jitter's share plus that second.
        left = next_attempt - dt_util.utcnow()
        assert timedelta(0) < left <= latest - earliest + timedelta(seconds=1)
        # (The event entity shows the attempt's time to the millisecond: one more second.)
        await poll(hass, freezer, latest - earliest + timedelta(seconds=2))
        assert len(he.requests) == failures + 1
    # The 9th wait, too, is capped at an hour.
    next_attempt = dt_util.parse_datetime(shown(hass, NEXT_ATTEMPT))
    assert next_attempt is not None
    assert next_attempt - dt_util.utcnow() <= timedelta(hours=1)
    # HE answers again: the pending address goes out at the end of the wait, once.
    he.clear_forced_reply()
    await poll(hass, freezer, timedelta(hours=1))
    assert [r.reply for r in he.requests][-1] == f"good {NEW_IP}"
    assert shown(hass, ENDPOINT) == NEW_IP
    assert (shown(hass, STATUS), shown(hass, NEXT_ATTEMPT)) == ("in_sync", "unknown")
    await poll(hass, freezer, timedelta(hours=3))
    assert len(he.requests) == 10


async def test_pending_update_survives_a_restart(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.force_reply("911")
    await wan_change(hass, igd, freezer, NEW_IP)
    assert [r.reply for r in he.requests] == ["911"]
    he.clear_forced_reply()
    # The new Home Assistant waits out the saved hold, then sends.
    await restart(hass, loaded)
    assert len(he.requests) == 1
    # HE got the failed request: the minimum interval counts from it, across the restart.
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert [r.reply for r in he.requests] == ["911", f"good {NEW_IP}"]
    assert shown(hass, ENDPOINT) == NEW_IP


async def test_flapping_wan_is_rate_limited_and_the_last_address_wins(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    # HE as it behaves: more than three updates within a minute get a tunnel blocked.
    he.state.abuse = AbuseRule()
    # A change every 10 s for a little less than the minimum interval.
    count = (
        int((MIN_UPDATE_INTERVAL - timedelta(seconds=20)) / timedelta(seconds=10)) + 1
    )
    flaps = [f"84.17.2.{n}" for n in range(1, count + 1)]
    assert len(flaps) > 3  # more than HE lets through in a minute
    for address in flaps:
        igd.set_external_ip(address)
        await igd.gena.drain()
        await hass.async_block_till_done(wait_background_tasks=True)
        await poll(hass, freezer, timedelta(seconds=10))
    assert [r.myip for r in he.requests] == [flaps[0]]
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert [r.myip for r in he.requests] == [flaps[0], flaps[-1]]
    assert [r.reply for r in he.requests] == [
        f"good {a}" for a in (flaps[0], flaps[-1])
    ]
    assert he.tunnel(TUNNEL_ID).endpoint == flaps[-1]
    await poll(hass, freezer, timedelta(hours=1))
    assert len(he.requests) == 2


async def test_badauth_starts_reauth_and_stops_sending(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.tunnel(TUNNEL_ID).update_key = "rotated"
    await wan_change(hass, igd, freezer, NEW_IP)
    assert [r.reply for r in he.requests] == ["badauth"]
    flows = loaded.async_get_active_flows(hass, {SOURCE_REAUTH})
    flow = next(flows)
    subentry_id = next(iter(loaded.subentries))
    assert flow["context"]["source"] == SOURCE_REAUTH
    assert shown(hass, STATUS) == "refused"
    # Not the same address, not a new one: nothing until the credentials are fixed.
    await wan_change(hass, igd, freezer, "84.17.1.21")
    await poll(hass, freezer, timedelta(hours=6))
    assert [r.reply for r in he.requests] == ["badauth"]
    assert shown(hass, STATUS) == "refused"
    # The reauth form asks about this tunnel.
    form = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert form["description_placeholders"]["tunnel_id"] == TUNNEL_ID
    assert subentry_id in loaded.subentries


async def test_badip_is_not_retried_for_the_same_address(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.force_reply("badip")
    await wan_change(hass, igd, freezer, NEW_IP)
    await poll(hass, freezer, timedelta(hours=2))
    assert [r.reply for r in he.requests] == ["badip"]
    assert shown(hass, STATUS) == "refused"
    # A new address is a new question.
    he.clear_forced_reply()
    await wan_change(hass, igd, freezer, "84.17.1.21")
    assert [r.reply for r in he.requests] == ["badip", "good 84.17.1.21"]


async def test_abuse_waits_at_least_an_hour_growing_and_raises_a_repair(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    issues = ir.async_get(hass)
    he.force_reply("abuse")
    await wan_change(hass, igd, freezer, NEW_IP)
    assert [r.reply for r in he.requests] == ["abuse"]
    issue = issues.async_get_issue(DOMAIN, f"abuse_blocked_{TUNNEL_ID}")
    assert issue is not None
    assert issue.translation_placeholders["tunnel_id"] == TUNNEL_ID
    assert issue.translation_placeholders["until"]
    assert shown(hass, STATUS) == "blocked"
    # Not even a new address goes out during the block.
    await wan_change(hass, igd, freezer, "84.17.1.21")
    await poll(hass, freezer, ABUSE_INITIAL - timedelta(minutes=2))
    assert len(he.requests) == 1
    await poll(hass, freezer, ABUSE_INITIAL * JITTER + timedelta(minutes=2))
    assert [r.reply for r in he.requests] == ["abuse", "abuse"]
    assert [r.myip for r in he.requests] == [NEW_IP, "84.17.1.21"]
    # The second block is twice as long.
    await poll(hass, freezer, ABUSE_INITIAL * 2 - timedelta(minutes=1))
    assert len(he.requests) == 2
    he.clear_forced_reply()
    await poll(hass, freezer, ABUSE_INITIAL * 2 * JITTER + timedelta(minutes=2))
    assert [r.reply for r in he.requests][-1] == "good 84.17.1.21"
    assert issues.async_get_issue(DOMAIN, f"abuse_blocked_{TUNNEL_ID}") is None
    assert (shown(hass, STATUS), shown(hass, NEXT_ATTEMPT)) == ("in_sync", "unknown")


async def test_nohost_raises_a_repair_and_stops_sending(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.force_reply("nohost")
    await wan_change(hass, igd, freezer, NEW_IP)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"tunnel_not_found_{TUNNEL_ID}")
    assert issue is not None
    assert issue.translation_key == "tunnel_not_found"
    await wan_change(hass, igd, freezer, "84.17.1.21")
    await poll(hass, freezer, timedelta(hours=6))
    assert [r.reply for r in he.requests] == ["nohost"]
    assert shown(hass, STATUS) == "refused"


async def test_icmp_refusal_raises_a_repair_cleared_by_the_next_success(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.state.unpingable.add(NEW_IP)
    await wan_change(hass, igd, freezer, NEW_IP)
    issue_id = f"icmp_blocked_{TUNNEL_ID}"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["probe"] == "66.220.2.74"
    await poll(hass, freezer, timedelta(hours=2))
    assert len(he.requests) == 1  # the same address is not sent again by itself
    # The user opens the firewall and asks again.
    he.state.unpingable.clear()
    await hass.services.async_call(
        "button",
        "press",
        {"entity_id": BUTTON},
        blocking=True,
    )
    assert [r.reply for r in he.requests][-1] == f"good {NEW_IP}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_behind_nat_repair_names_the_address_and_goes_away(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    issue_id = f"behind_nat_{loaded.entry_id}"
    await wan_change(hass, igd, freezer, "100.72.3.4")
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["address"] == "100.72.3.4"
    await wan_change(hass, igd, freezer, "192.168.1.2")
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue.translation_placeholders["address"] == "192.168.1.2"
    assert he.requests == []
    await wan_change(hass, igd, freezer, NEW_IP)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert [r.myip for r in he.requests] == [NEW_IP]


async def test_a_ds_lite_line_is_told_it_has_no_public_ipv4(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """DS-Lite (192.0.0.0/29): no NAT to get out from behind; no public IPv4 at all."""
    await wan_change(hass, igd, freezer, "192.0.0.2")
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"behind_nat_{loaded.entry_id}")
    assert issue is not None
    assert issue.translation_key == "no_public_ipv4"
    assert issue.translation_placeholders["address"] == "192.0.0.2"
    assert he.requests == []


@pytest.mark.parametrize(
    ("connection_status", "raised"), [("Connected", True), ("Disconnected", False)]
)
async def test_no_address_is_behind_nat_only_while_connected(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    connection_status: str,
    raised: bool,
) -> None:
    igd.state.connection_status = connection_status
    await wan_change(hass, igd, freezer, "0.0.0.0")
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"behind_nat_{loaded.entry_id}")
    assert (issue is not None) is raised
    assert he.requests == []


async def test_router_failure_keeps_last_state(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await poll(hass, freezer, INITIAL_EVENT_TIMEOUT + timedelta(seconds=1))
    assert loaded.runtime_data.router.events_trusted  # the safety poll finds the fault
    igd.set_fault(Fault.SOAP_FAULT)
    await poll(hass, freezer, SAFETY_POLL_INTERVAL)
    assert not loaded.runtime_data.router.last_update_success
    assert he.requests == []
    igd.set_fault(Fault.NONE)
    await wan_change(hass, igd, freezer, NEW_IP)
    assert [r.myip for r in he.requests] == [NEW_IP]


async def test_no_update_when_he_already_holds_the_address(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    # Our record is behind HE: something else (the tunnel page, another updater) already
    # moved the endpoint to the router's address.
    seed_endpoint(hass_storage, "84.17.9.1")
    he.tunnel(TUNNEL_ID).endpoint = WAN_IP
    events = async_capture_events(hass, EVENT_TUNNELBROKER)
    await setup_entry(hass, config_entry)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert he.requests == []
    assert len(he.info_requests) >= 1
    assert shown(hass, ENDPOINT) == WAN_IP
    # Nothing was sent: the event says HE held the address already.
    event = hass.states.get(EVENT)
    assert event is not None
    assert event.attributes["event_type"] == "unchanged"
    assert event.attributes["message"] == "already held (tunnel information)"
    assert [e.data["result"] for e in events] == ["nochg"]
    # HE does not hold the next address: that one is sent.
    await wan_change(hass, igd, freezer, NEW_IP)
    assert [r.reply for r in he.requests] == [f"good {NEW_IP}"]


@pytest.mark.parametrize("fault", [InfoFault.REFUSE, InfoFault.HTTP_ERROR])
async def test_update_sent_when_tunnel_information_is_not_given(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    fault: InfoFault,
) -> None:
    seed_endpoint(hass_storage, "84.17.9.1")
    he.tunnel(TUNNEL_ID).endpoint = WAN_IP
    he.set_info_fault(fault)
    await setup_entry(hass, config_entry)
    await hass.async_block_till_done(wait_background_tasks=True)
    # Without HE's word, the update goes out (HE answers nochg: nothing lost but one request).
    assert [r.reply for r in he.requests] == [f"nochg {WAN_IP}"]
    assert shown(hass, ENDPOINT) == WAN_IP


async def test_refused_tunnel_information_is_not_asked_before_updates(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    seed_endpoint(hass_storage, WAN_IP)
    he.set_info_fault(InfoFault.REFUSE)
    await setup_entry(hass, config_entry)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(he.info_requests) == 1
    await wan_change(hass, igd, freezer, NEW_IP)
    assert [r.reply for r in he.requests] == [f"good {NEW_IP}"]
    assert len(he.info_requests) == 1  # HE said no once: not asked again


async def test_abuse_block_and_its_repair_outlive_a_restart(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.force_reply("abuse")
    await wan_change(hass, igd, freezer, NEW_IP)
    he.clear_forced_reply()
    await restart(hass, loaded)
    issue_id = f"abuse_blocked_{TUNNEL_ID}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    assert len(he.requests) == 1  # still blocked: nothing sent at start-up
    await poll(hass, freezer, ABUSE_INITIAL * (1 + JITTER))
    assert [r.reply for r in he.requests] == ["abuse", f"good {NEW_IP}"]
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def reload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Reload the entry as an options change or an added tunnel does."""
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.mark.parametrize(
    ("refuse", "reply"),
    [
        (lambda he: he.state.unpingable.add(NEW_IP), "-ERROR"),
        (lambda he: he.force_reply("badip"), "badip"),
        (lambda he: he.force_reply("nohost"), "nohost"),
        (lambda he: setattr(he.tunnel(TUNNEL_ID), "update_key", "rotated"), "badauth"),
    ],
)
async def test_refusals_outlive_a_reload(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    refuse: Any,
    reply: str,
) -> None:
    refuse(he)
    await wan_change(hass, igd, freezer, NEW_IP)
    assert len(he.requests) == 1
    assert he.requests[0].reply.startswith(reply)
    await reload(hass, loaded)
    await poll(hass, freezer, timedelta(hours=2))
    assert len(he.requests) == 1  # the refused request is not repeated by a reload


async def test_rate_limit_outlives_a_reload(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await wan_change(hass, igd, freezer, NEW_IP)
    await reload(hass, loaded)
    await wan_change(hass, igd, freezer, "84.17.1.21")
    assert [r.myip for r in he.requests] == [NEW_IP]
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert [r.myip for r in he.requests] == [NEW_IP, "84.17.1.21"]


async def test_block_ends_quietly_when_the_router_is_back_at_hes_address(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.force_reply("abuse")
    await wan_change(hass, igd, freezer, NEW_IP)
    issue_id = f"abuse_blocked_{TUNNEL_ID}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    # Back to the address HE holds: nothing to send when the block ends...
    await wan_change(hass, igd, freezer, WAN_IP)
    await poll(hass, freezer, ABUSE_INITIAL * (1 + JITTER))
    assert len(he.requests) == 1
    # ...and nothing left to report.
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert (shown(hass, STATUS), shown(hass, NEXT_ATTEMPT)) == ("in_sync", "unknown")


async def test_icmp_refusal_of_another_address_is_dropped_when_back_in_sync(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.state.unpingable.add(NEW_IP)
    await wan_change(hass, igd, freezer, NEW_IP)
    issue_id = f"icmp_blocked_{TUNNEL_ID}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    await wan_change(hass, igd, freezer, WAN_IP)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert shown(hass, STATUS) == "in_sync"
    assert len(he.requests) == 1


async def test_a_change_costs_one_he_request_and_no_read(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """On the path of a change HE hears the update only: no tunnel information first."""
    reads = len(he.info_requests)
    for ip in (NEW_IP, "84.17.9.3"):
        await wan_change(hass, igd, freezer, ip)
        await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert [r.reply for r in he.requests] == [f"good {NEW_IP}", "good 84.17.9.3"]
    assert len(he.info_requests) == reads


async def test_the_six_hourly_read_finds_another_updater_moved_the_endpoint(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The tunnel page (or another updater) set another address: ours goes out again."""
    he.tunnel(TUNNEL_ID).endpoint = "198.51.100.77"
    await poll(hass, freezer, TUNNEL_INFO_INTERVAL)
    assert [r.reply for r in he.requests] == [f"good {WAN_IP}"]
    assert shown(hass, ENDPOINT) == WAN_IP
    # And when HE holds what we hold, the read sends nothing.
    await poll(hass, freezer, TUNNEL_INFO_INTERVAL)
    assert len(he.requests) == 1


async def test_after_an_outage_he_is_asked_before_the_retry(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The update reached HE but its answer was lost: the retry finds HE holds it."""
    he.force_reply("", status=503)
    await wan_change(hass, igd, freezer, NEW_IP)
    assert len(he.requests) == 1
    reads = len(he.info_requests)
    he.clear_forced_reply()
    he.tunnel(TUNNEL_ID).endpoint = NEW_IP  # it got through after all
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert len(he.requests) == 1  # not sent again
    assert len(he.info_requests) == reads + 1
    assert shown(hass, ENDPOINT) == NEW_IP
    assert (shown(hass, STATUS), shown(hass, NEXT_ATTEMPT)) == ("in_sync", "unknown")
    # Back in certainty: the next change goes out without a read.
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    await wan_change(hass, igd, freezer, "84.17.9.3")
    assert [r.reply for r in he.requests][-1] == "good 84.17.9.3"
    assert len(he.info_requests) == reads + 1


@pytest.mark.parametrize(
    ("body", "http_status"),
    [
        ("", 302),  # a redirect (to a login page)
        ("Not Found", 404),
        ("<html><body>Scheduled maintenance</body></html>", 200),
        ("-ERROR: Internal error, please retry", 200),
    ],
)
async def test_an_answer_nobody_knows_is_retried_and_told(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    body: str,
    http_status: int,
) -> None:
    """Not a refusal for ever: it is retried (after a restart too), and Repairs says what came."""
    he.force_reply(body, http_status)
    await wan_change(hass, igd, freezer, NEW_IP)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"unexpected_answer_{TUNNEL_ID}")
    assert issue is not None
    assert issue.translation_placeholders["message"] == (body or f"HTTP {http_status}")
    assert shown(hass, STATUS) == "retrying"
    await restart(hass, loaded)
    he.clear_forced_reply()
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert [r.myip for r in he.requests] == [NEW_IP, NEW_IP]
    assert he.tunnel(TUNNEL_ID).endpoint == NEW_IP
    assert shown(hass, STATUS) == "in_sync"
    assert (
        ir.async_get(hass).async_get_issue(DOMAIN, f"unexpected_answer_{TUNNEL_ID}")
        is None
    )


async def test_the_first_change_after_a_start_or_a_reload_costs_one_request(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """HE's information is read at start, off the path of the first change."""
    assert len(he.info_requests) == 1  # the start's read
    await poll(hass, freezer, timedelta(minutes=5))  # the change comes later
    await wan_change(hass, igd, freezer, NEW_IP)
    assert [r.myip for r in he.requests] == [NEW_IP]
    assert len(he.info_requests) == 1
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert await hass.config_entries.async_reload(loaded.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(he.info_requests) == 2  # the reload's read
    await poll(hass, freezer, timedelta(minutes=5))
    await wan_change(hass, igd, freezer, "84.17.9.4")
    assert [r.myip for r in he.requests] == [NEW_IP, "84.17.9.4"]
    assert len(he.info_requests) == 2


def test_every_refusal_of_a_persons_request_has_its_words() -> None:
    translations = json.loads(
        (Path(tunnelbroker.__file__).parent / "translations" / "en.json").read_text()
    )
    assert set(REFUSED_REQUEST) == USER_REFUSALS
    for key in REFUSED_REQUEST.values():
        assert translations["exceptions"][key]["message"]
