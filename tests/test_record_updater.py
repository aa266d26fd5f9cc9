"""dns.he.net records at run time: each record's A follows the router, one request per change.

A router with a tunnel and two records (home.example.org, vpn.example.org), against the
simulated router and the simulated dns.he.net: what the user sees (Status, the address and
event entities, repair issues, reauth flows, device triggers) and every request HE got are
asserted, as tests/test_tunnel_updater.py does for tunnels.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
import time
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.tunnelbroker.const import (
    CONF_AUTOMATIC_UPDATE,
    DOMAIN,
    EVENT_TUNNELBROKER,
    ROUTER_POLL_INTERVAL,
    SAFETY_POLL_INTERVAL,
    SERVICE_UPDATE_ENDPOINT,
    SUBENTRY_DNS_RECORD,
)
from custom_components.tunnelbroker.protocol.update_policy import (
    ABUSE_INITIAL,
    JITTER,
    MIN_UPDATE_INTERVAL,
    RETRY_MAX,
)
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from simulators.he import AbuseRule, HeSimulator
from simulators.igd import Fault, IgdSimulator

from .conftest import (
    OTHER_RECORD_KEY,
    OTHER_RECORD_NAME,
    RECORD_NAME,
    WAN_IP,
    find_device,
    poll,
    record_subentry,
    records_loaded,
    restart,
    routed_host,
    router_entry,
    seed_endpoint,
    seed_record,
    setup_entry,
    tunnel_subentry,
    wan_change,
)
from .support.entity_ids import (
    RECORD_ADDRESS,
    RECORD_BUTTON,
    RECORD_EVENT,
    RECORD_IPV6_ADDRESS,
    RECORD_IPV6_STATUS,
    RECORD_STATUS,
    STATUS,
)

# A regression here tends to hang (an unload waiting on a request in flight): fail instead.
pytestmark = pytest.mark.timeout(60)

NEW_IP = "84.17.1.20"
OTHER_IP = "84.17.1.21"
OTHER_STATUS = "sensor.vpn_example_org_status"
OTHER_ADDRESS = "sensor.vpn_example_org_address"
RECORD_IPV6_EVENT = "event.home_example_org_ipv6_record_update"
# The simulated router's User-Agent as HE sees it: Home Assistant's shared session.
OUR_AGENT = "HomeAssistant"


def shown(hass: HomeAssistant, entity_id: str) -> str:
    """Return what an entity shows."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def fired(hass: HomeAssistant, entity_id: str = RECORD_EVENT) -> dict[str, Any]:
    """Return what a record's event entity last fired (its attributes)."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return dict(state.attributes)


def dns(he: HeSimulator, hostname: str | None = None) -> list[tuple[str, str]]:
    """Return (name, address) of every DNS update HE got, of one record or all."""
    return [
        (str(r.hostname), str(r.myip))
        for r in he.dns_requests
        if hostname is None or r.hostname == hostname
    ]


def replies(he: HeSimulator, hostname: str = RECORD_NAME) -> list[str]:
    """Return HE's answers to one record's updates."""
    return [r.reply for r in he.dns_requests if r.hostname == hostname]


def issue(hass: HomeAssistant, kind: str, hostname: str = RECORD_NAME) -> Any:
    """Return the record's repair issue of that kind, or None."""
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{kind}_{hostname}")


def record_subentry_id(entry: MockConfigEntry, hostname: str = RECORD_NAME) -> str:
    """Return the subentry id of one of the entry's records."""
    (subentry_id,) = (
        subentry_id
        for subentry_id, subentry in entry.subentries.items()
        if subentry.subentry_type == SUBENTRY_DNS_RECORD and subentry.title == hostname
    )
    return subentry_id


def router_moves(
    hass: HomeAssistant, igd: IgdSimulator, freezer: FrozenDateTimeFactory, ip: str
) -> None:
    """Move the router's address and let the next poll find it, without waiting for what follows."""
    igd.set_external_ip(ip)
    freezer.tick(ROUTER_POLL_INTERVAL)
    async_fire_time_changed(hass)


async def router_changes(
    hass: HomeAssistant,
    igd: IgdSimulator,
    freezer: FrozenDateTimeFactory,
    ip: str,
    then: timedelta,
) -> None:
    """Change the router's address (its event tells HA at once); then let `then` pass."""
    igd.set_external_ip(ip)
    await igd.gena.drain()
    await hass.async_block_till_done(wait_background_tasks=True)
    await poll(hass, freezer, then)


async def set_up(
    hass: HomeAssistant, entry: MockConfigEntry, options: dict[str, Any] | None = None
) -> None:
    """Set the entry up and let the updates it starts run to their end."""
    await setup_entry(hass, entry, options)
    await hass.async_block_till_done(wait_background_tasks=True)


async def restarted(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    while_stopped: Callable[[], object] | None = None,
) -> None:
    """Restart the entry (see conftest's restart) and let what follows run to its end."""
    await restart(hass, entry, while_stopped)
    await hass.async_block_till_done(wait_background_tasks=True)


def he_holds_everything(hass_storage: dict[str, Any], he: HeSimulator) -> None:
    """HE holds the router's address for the tunnel and both records, as remembered."""
    seed_endpoint(hass_storage, WAN_IP, he=he)
    seed_record(hass_storage, RECORD_NAME, he=he)
    seed_record(hass_storage, OTHER_RECORD_NAME, he=he)


def _he_blocks_the_record(he: HeSimulator, hostname: str = RECORD_NAME) -> None:
    """HE's own rule: the record is blocked already (updated too often elsewhere)."""
    he.state.dns_abuse = AbuseRule()
    he.state.dns_abuse.blocked_until[hostname] = (
        time.time() + ABUSE_INITIAL.total_seconds()
    )


async def press_record_button(hass: HomeAssistant) -> None:
    """Press home.example.org's Update record."""
    await hass.services.async_call(
        "button", "press", {"entity_id": RECORD_BUTTON}, blocking=True
    )


@pytest.fixture
def entry(igd: IgdSimulator) -> MockConfigEntry:
    """A router entry with the tunnel and both records."""
    return router_entry(
        igd.location,
        tunnel_subentry(),
        record_subentry(),
        record_subentry(OTHER_RECORD_NAME, OTHER_RECORD_KEY),
    )


@pytest.fixture
async def loaded(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> MockConfigEntry:
    """The entry set up, HE holding the router's address for the tunnel and both records."""
    entry = await records_loaded(hass, hass_storage, igd, he)
    assert he.requests == []
    return entry


# -- a WAN change ------------------------------------------------------------------------------
async def test_a_wan_change_costs_one_request_per_record(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    events = async_capture_events(hass, EVENT_TUNNELBROKER)
    await wan_change(hass, igd, freezer, NEW_IP)
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert [r.myip for r in he.requests] == [NEW_IP]
    assert sorted(dns(he)) == [(RECORD_NAME, NEW_IP), (OTHER_RECORD_NAME, NEW_IP)]
    for hostname in (RECORD_NAME, OTHER_RECORD_NAME):
        assert replies(he, hostname) == [f"good {NEW_IP}"]
        assert he.record(hostname).a == NEW_IP
    for status, address in (
        (RECORD_STATUS, RECORD_ADDRESS),
        (OTHER_STATUS, OTHER_ADDRESS),
    ):
        assert (shown(hass, status), shown(hass, address)) == ("in_sync", NEW_IP)
    assert shown(hass, STATUS) == "in_sync"
    event = fired(hass)
    assert event["event_type"] == "updated"
    assert event["ip"] == NEW_IP
    assert event["automatic"] is True
    # Each record's device fires its trigger's event, with the record's name and address.
    home = find_device(hass, f"record_{RECORD_NAME}")
    vpn = find_device(hass, f"record_{OTHER_RECORD_NAME}")
    assert home is not None
    assert vpn is not None
    updated = sorted(
        (e.data["device_id"], e.data["hostname"], e.data["ip"], e.data["record_type"])
        for e in events
        if e.data["type"] == "record_updated"
    )
    assert updated == sorted(
        [
            (home.id, RECORD_NAME, NEW_IP, "A"),
            (vpn.id, OTHER_RECORD_NAME, NEW_IP, "A"),
        ]
    )
    assert not [e for e in events if e.data["type"] == "record_update_failed"]
    # Nothing more: HE holds the router's address.
    await poll(hass, freezer, timedelta(hours=6))
    assert len(he.dns_requests) == 2


async def test_unchanged_address_sends_nothing(
    hass: HomeAssistant,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await poll(hass, freezer)
    await poll(hass, freezer, timedelta(hours=6))
    assert he.dns_requests == []
    assert (shown(hass, RECORD_STATUS), shown(hass, RECORD_ADDRESS)) == (
        "in_sync",
        WAN_IP,
    )


async def test_setup_points_each_record_at_the_router_once(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Nothing remembered (HE points them elsewhere): one request per record, then none."""
    await set_up(hass, entry)
    assert sorted(dns(he)) == [(RECORD_NAME, WAN_IP), (OTHER_RECORD_NAME, WAN_IP)]
    assert he.record(RECORD_NAME).a == WAN_IP
    await poll(hass, freezer, timedelta(hours=1))
    assert len(he.dns_requests) == 2
    assert shown(hass, RECORD_STATUS) == "in_sync"


async def test_the_aaaa_is_not_sent_on_a_wan_change(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    with_aaaa: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    host = routed_host(he)
    assert (shown(hass, RECORD_IPV6_STATUS), shown(hass, RECORD_IPV6_ADDRESS)) == (
        "in_sync",
        host,
    )
    await wan_change(hass, igd, freezer, NEW_IP)
    await poll(hass, freezer, timedelta(hours=1))
    assert dns(he) == [(RECORD_NAME, NEW_IP)]
    assert (he.record(RECORD_NAME).a, he.record(RECORD_NAME).aaaa) == (NEW_IP, host)
    assert shown(hass, RECORD_STATUS) == "in_sync"
    assert shown(hass, RECORD_IPV6_STATUS) == "in_sync"
    assert hass.states.get(RECORD_IPV6_EVENT).state == "unknown"  # never fired


async def test_setup_sends_the_a_and_the_aaaa_each_its_own_request(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    host = routed_host(he)
    await set_up(
        hass, router_entry(igd.location, tunnel_subentry(), record_subentry(ipv6=host))
    )
    assert sorted(dns(he)) == sorted([(RECORD_NAME, WAN_IP), (RECORD_NAME, host)])
    assert (he.record(RECORD_NAME).a, he.record(RECORD_NAME).aaaa) == (WAN_IP, host)
    assert shown(hass, RECORD_IPV6_STATUS) == "in_sync"
    assert hass.states.get(RECORD_IPV6_EVENT).attributes["event_type"] == "updated"
    await poll(hass, freezer, timedelta(hours=1))
    assert len(he.dns_requests) == 2


# -- restarts ----------------------------------------------------------------------------------
async def test_restart_with_nothing_changed_sends_nothing(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await set_up(hass, entry)
    assert len(he.dns_requests) == 2
    await restarted(hass, entry)
    await poll(hass, freezer, timedelta(hours=1))
    assert len(he.dns_requests) == 2
    assert shown(hass, RECORD_STATUS) == "in_sync"


async def test_restart_after_a_change_while_stopped_sends_once(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await restarted(hass, loaded, while_stopped=lambda: igd.set_external_ip(NEW_IP))
    assert sorted(dns(he)) == [(RECORD_NAME, NEW_IP), (OTHER_RECORD_NAME, NEW_IP)]
    assert [r.myip for r in he.requests] == [NEW_IP]
    await poll(hass, freezer, timedelta(hours=1))
    assert len(he.dns_requests) == 2
    assert shown(hass, RECORD_STATUS) == "in_sync"
    # And the minimum interval counts across the next restart too.
    await restarted(hass, loaded, while_stopped=lambda: igd.set_external_ip(OTHER_IP))
    assert len(he.dns_requests) == 4


async def test_restart_keeps_the_aaaa(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    with_aaaa: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await restarted(hass, with_aaaa, while_stopped=lambda: igd.set_external_ip(NEW_IP))
    await poll(hass, freezer, timedelta(hours=1))
    assert dns(he) == [(RECORD_NAME, NEW_IP)]
    assert shown(hass, RECORD_IPV6_STATUS) == "in_sync"


# -- the minimum interval ----------------------------------------------------------------------
async def test_a_second_change_within_the_interval_waits_for_its_end(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await router_changes(hass, igd, freezer, NEW_IP, timedelta(seconds=10))
    assert sorted(dns(he)) == [(RECORD_NAME, NEW_IP), (OTHER_RECORD_NAME, NEW_IP)]
    await router_changes(hass, igd, freezer, OTHER_IP, timedelta(seconds=10))
    assert len(he.dns_requests) == 2
    assert shown(hass, RECORD_STATUS) == "rate_limited"
    assert shown(hass, OTHER_STATUS) == "rate_limited"
    # A third change before the end: the address of then is the one sent.
    await router_changes(hass, igd, freezer, "84.17.1.22", timedelta(seconds=10))
    await poll(hass, freezer, MIN_UPDATE_INTERVAL - timedelta(seconds=40))
    assert len(he.dns_requests) == 2
    await poll(hass, freezer, timedelta(seconds=30))
    assert dns(he, RECORD_NAME) == [
        (RECORD_NAME, NEW_IP),
        (RECORD_NAME, "84.17.1.22"),
    ]
    assert dns(he, OTHER_RECORD_NAME) == [
        (OTHER_RECORD_NAME, NEW_IP),
        (OTHER_RECORD_NAME, "84.17.1.22"),
    ]
    assert shown(hass, RECORD_STATUS) == "in_sync"
    await poll(hass, freezer, timedelta(hours=1))
    assert len(he.dns_requests) == 4


async def test_a_flap_back_within_the_interval_sends_nothing(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """HE took the new address; the router goes away and back within the interval."""
    await router_changes(hass, igd, freezer, NEW_IP, timedelta(seconds=10))
    await router_changes(hass, igd, freezer, OTHER_IP, timedelta(seconds=10))
    assert shown(hass, RECORD_STATUS) == "rate_limited"
    await router_changes(hass, igd, freezer, NEW_IP, timedelta(seconds=10))
    assert shown(hass, RECORD_STATUS) == "in_sync"
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    await poll(hass, freezer, timedelta(hours=1))
    assert sorted(dns(he)) == [(RECORD_NAME, NEW_IP), (OTHER_RECORD_NAME, NEW_IP)]
    assert shown(hass, RECORD_STATUS) == "in_sync"


# -- each answer -------------------------------------------------------------------------------
async def test_nohost_raises_a_repair_and_stops_that_record(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The record is no longer dynamic at dns.he.net: only it stops; the other follows."""
    he.record(RECORD_NAME).dynamic = False
    await wan_change(hass, igd, freezer, NEW_IP)
    assert replies(he) == ["nohost"]
    found = issue(hass, "record_not_found")
    assert found is not None
    assert found.translation_key == "record_not_found"
    assert found.translation_placeholders["name"] == RECORD_NAME
    assert shown(hass, RECORD_STATUS) == "refused"
    assert shown(hass, RECORD_ADDRESS) == WAN_IP  # what HE last confirmed
    event = fired(hass)
    assert event["event_type"] == "failed"
    assert event["result"] == "nohost"
    # Nothing automatic afterwards, not even for a new address.
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    await wan_change(hass, igd, freezer, OTHER_IP)
    await poll(hass, freezer, timedelta(hours=6))
    assert replies(he) == ["nohost"]
    assert shown(hass, RECORD_STATUS) == "refused"
    assert replies(he, OTHER_RECORD_NAME) == [f"good {NEW_IP}", f"good {OTHER_IP}"]
    assert issue(hass, "record_not_found", OTHER_RECORD_NAME) is None
    # The user ticks "dynamic" again and presses the record's button: the issue goes.
    he.record(RECORD_NAME).dynamic = True
    await press_record_button(hass)
    assert replies(he)[-1] == f"good {OTHER_IP}"
    assert issue(hass, "record_not_found") is None
    assert shown(hass, RECORD_STATUS) == "in_sync"


async def test_badauth_starts_reauth_and_stops_sending(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.record(RECORD_NAME).key = "regenerated"
    await wan_change(hass, igd, freezer, NEW_IP)
    assert replies(he) == ["badauth"]
    (flow,) = loaded.async_get_active_flows(hass, {SOURCE_REAUTH})
    assert flow["context"]["source"] == SOURCE_REAUTH
    form = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert form["step_id"] == "reauth_record"
    assert form["description_placeholders"]["record"] == RECORD_NAME
    assert shown(hass, RECORD_STATUS) == "refused"
    await wan_change(hass, igd, freezer, OTHER_IP)
    await poll(hass, freezer, timedelta(hours=6))
    assert replies(he) == ["badauth"]
    assert shown(hass, RECORD_STATUS) == "refused"
    # The reauth flow is about this record (the other one is fine).
    flows = list(loaded.async_get_active_flows(hass, {SOURCE_REAUTH}))
    assert [f["context"]["entry_id"] for f in flows] == [loaded.entry_id]
    assert replies(he, OTHER_RECORD_NAME)[-1] == f"good {OTHER_IP}"


def _he_answers_abuse(he: HeSimulator) -> None:
    he.force_dns_reply("abuse")


@pytest.mark.parametrize("block", [_he_blocks_the_record, _he_answers_abuse])
async def test_abuse_blocks_until_the_block_ends(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    block: Callable[[HeSimulator], None],
) -> None:
    block(he)
    await wan_change(hass, igd, freezer, NEW_IP)
    assert replies(he) == ["abuse"]
    blocked = issue(hass, "record_abuse_blocked")
    assert blocked is not None
    assert blocked.translation_placeholders["until"]
    assert shown(hass, RECORD_STATUS) == "blocked"
    # Not even a new address goes out during the block.
    await wan_change(hass, igd, freezer, OTHER_IP)
    await poll(hass, freezer, ABUSE_INITIAL - timedelta(minutes=2))
    assert replies(he) == ["abuse"]
    assert shown(hass, RECORD_STATUS) == "blocked"
    he.clear_forced_dns_reply()
    await poll(hass, freezer, ABUSE_INITIAL * JITTER + timedelta(minutes=3))
    assert replies(he) == ["abuse", f"good {OTHER_IP}"]
    assert issue(hass, "record_abuse_blocked") is None
    assert shown(hass, RECORD_STATUS) == "in_sync"


async def test_interval_is_retried_later(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """`interval`: HE counted too many updates of the name lately; a retry, no repair."""
    he.force_dns_reply("interval")
    await wan_change(hass, igd, freezer, NEW_IP)
    assert replies(he) == ["interval"]
    assert shown(hass, RECORD_STATUS) == "retrying"
    assert not [i for (d, i) in ir.async_get(hass).issues if d == DOMAIN]
    he.clear_forced_dns_reply()
    await poll(hass, freezer, MIN_UPDATE_INTERVAL - timedelta(seconds=40))
    assert replies(he) == ["interval"]
    await poll(hass, freezer, timedelta(seconds=40))
    assert replies(he) == ["interval", f"good {NEW_IP}"]
    assert shown(hass, RECORD_STATUS) == "in_sync"


async def test_badagent_raises_a_repair_and_stops_sending(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.state.blocked_agents.add(OUR_AGENT)
    await wan_change(hass, igd, freezer, NEW_IP)
    assert replies(he) == ["badagent"]
    refused = issue(hass, "record_client_refused")
    assert refused is not None
    assert refused.translation_key == "record_client_refused"
    assert shown(hass, RECORD_STATUS) == "refused"
    he.state.blocked_agents.clear()
    await wan_change(hass, igd, freezer, OTHER_IP)
    await poll(hass, freezer, timedelta(hours=6))
    assert replies(he) == ["badagent"]


@pytest.mark.parametrize(
    ("body", "http_status"),
    [("", 500), ("", 503), ("", 504), ("", 408), ("911", 200)],
)
async def test_he_down_is_retried(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    body: str,
    http_status: int,
) -> None:
    """HE fails, or a gateway times out: retried after a wait, no repair."""
    events = async_capture_events(hass, EVENT_TUNNELBROKER)
    he.force_dns_reply(body, http_status)
    await wan_change(hass, igd, freezer, NEW_IP)
    assert len(replies(he)) == 1
    assert shown(hass, RECORD_STATUS) == "retrying"
    assert shown(hass, RECORD_ADDRESS) == WAN_IP
    failed = [e.data for e in events if e.data["type"] == "record_update_failed"]
    assert {(d["hostname"], d["result"]) for d in failed} == {
        (RECORD_NAME, "unavailable"),
        (OTHER_RECORD_NAME, "unavailable"),
    }
    assert issue(hass, "record_unexpected_answer") is None
    he.clear_forced_dns_reply()
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert replies(he)[-1] == f"good {NEW_IP}"
    assert shown(hass, RECORD_STATUS) == "in_sync"
    await poll(hass, freezer, RETRY_MAX)
    assert len(replies(he)) == 2


async def test_a_lost_reply_is_sent_again_and_settles(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """HE took the address but its reply was lost: not In sync until HE says so."""
    he.force_dns_reply("", 500, taken=True)
    await wan_change(hass, igd, freezer, NEW_IP)
    assert he.record(RECORD_NAME).a == NEW_IP  # HE took it
    assert shown(hass, RECORD_STATUS) == "retrying"
    assert shown(hass, RECORD_ADDRESS) == WAN_IP  # unconfirmed: not shown as held
    he.clear_forced_dns_reply()
    # dns.he.net has no information to read: the next try sends again, HE says nochg.
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert replies(he) == ["", f"nochg {NEW_IP}"]
    assert (shown(hass, RECORD_STATUS), shown(hass, RECORD_ADDRESS)) == (
        "in_sync",
        NEW_IP,
    )
    event = fired(hass)
    assert event["event_type"] == "unchanged"


async def test_a_lost_reply_then_a_flap_back_is_sent(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """HE took B, its reply lost; the router goes back to A: A is not taken for held."""
    he.force_dns_reply("", 502, taken=True)
    await wan_change(hass, igd, freezer, NEW_IP)
    he.clear_forced_dns_reply()
    await wan_change(hass, igd, freezer, WAN_IP)
    assert shown(hass, RECORD_STATUS) == "retrying"
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert replies(he) == ["", f"good {WAN_IP}"]
    assert he.record(RECORD_NAME).a == WAN_IP
    assert shown(hass, RECORD_STATUS) == "in_sync"


@pytest.mark.parametrize(
    ("body", "http_status", "message"),
    [
        ("<html><body>Maintenance</body></html>", 200, None),
        ("", 302, "HTTP 302"),
        ("-ERROR: Internal error", 200, None),
        ("good 2001:db8::1", 200, None),  # an AAAA's answer to an A's update
    ],
)
async def test_an_unknown_answer_is_told_and_retried(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    body: str,
    http_status: int,
    message: str | None,
) -> None:
    he.force_dns_reply(body, http_status)
    await wan_change(hass, igd, freezer, NEW_IP)
    unexpected = issue(hass, "record_unexpected_answer")
    assert unexpected is not None
    assert unexpected.translation_placeholders["message"] == (message or body)
    assert unexpected.translation_placeholders["name"] == RECORD_NAME
    assert shown(hass, RECORD_STATUS) == "retrying"
    he.clear_forced_dns_reply()
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert replies(he)[-1] == f"good {NEW_IP}"
    assert issue(hass, "record_unexpected_answer") is None
    assert issue(hass, "record_unexpected_answer", OTHER_RECORD_NAME) is None
    assert shown(hass, RECORD_STATUS) == "in_sync"


async def test_refusals_and_blocks_outlive_a_restart(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """One record refused (nohost), the other blocked: neither is sent again by a restart."""
    he.record(RECORD_NAME).dynamic = False
    _he_blocks_the_record(he, OTHER_RECORD_NAME)
    await wan_change(hass, igd, freezer, NEW_IP)
    await restarted(hass, loaded)
    assert len(he.dns_requests) == 2
    assert issue(hass, "record_not_found") is not None
    assert issue(hass, "record_abuse_blocked", OTHER_RECORD_NAME) is not None
    assert shown(hass, RECORD_STATUS) == "refused"
    assert shown(hass, OTHER_STATUS) == "blocked"
    await poll(hass, freezer, ABUSE_INITIAL * (1 + JITTER) + timedelta(minutes=1))
    assert replies(he) == ["nohost"]
    assert replies(he, OTHER_RECORD_NAME) == ["abuse", f"good {NEW_IP}"]
    assert issue(hass, "record_abuse_blocked", OTHER_RECORD_NAME) is None


# -- unload, reload and removal mid-request ----------------------------------------------------
@pytest.mark.parametrize("reply", [None, ("abuse", 200), ("", 503)])
async def test_an_update_in_flight_at_unload_has_no_effect(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    reply: tuple[str, int] | None,
) -> None:
    """Unloaded while both records' updates wait at HE: nothing follows, nothing is raised."""
    if reply is not None:
        he.force_dns_reply(*reply)
    he.hold_updates()
    router_moves(hass, igd, freezer, NEW_IP)
    await he.wait_dns_arrived(2)
    assert await hass.config_entries.async_unload(loaded.entry_id)
    assert loaded.state is ConfigEntryState.NOT_LOADED
    he.release_updates()
    await hass.async_block_till_done(wait_background_tasks=True)
    he.clear_forced_dns_reply()
    igd.set_external_ip(OTHER_IP)
    await poll(hass, freezer, timedelta(hours=30))
    assert he.state.dns_arrived == 2
    assert not [i for (d, i) in ir.async_get(hass).issues if d == DOMAIN]
    # Loaded again: the cancelled request left the record unconfirmed; HE is asked once.
    assert await hass.config_entries.async_setup(loaded.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert he.state.dns_arrived == 4
    assert dns(he, RECORD_NAME)[-1] == (RECORD_NAME, OTHER_IP)
    assert he.record(RECORD_NAME).a == OTHER_IP
    assert shown(hass, RECORD_STATUS) == "in_sync"
    assert shown(hass, OTHER_STATUS) == "in_sync"
    await poll(hass, freezer, timedelta(hours=1))
    assert he.state.dns_arrived == 4


async def test_a_reload_mid_request_leaves_one_sender(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The entry reloads while the records' updates wait at HE: the new entry sends once."""
    he.hold_updates()
    router_moves(hass, igd, freezer, NEW_IP)
    await he.wait_dns_arrived(2)
    assert await hass.config_entries.async_reload(loaded.entry_id)
    assert loaded.state is ConfigEntryState.LOADED
    he.release_updates()
    await hass.async_block_till_done(wait_background_tasks=True)
    # The cancelled request counts: the new entry waits out the interval, then asks HE.
    assert he.state.dns_arrived == 2
    assert shown(hass, RECORD_STATUS) == "rate_limited"
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    await poll(hass, freezer, timedelta(hours=1))
    assert he.state.dns_arrived == 4
    assert replies(he) == [f"good {NEW_IP}", f"nochg {NEW_IP}"]
    assert shown(hass, RECORD_STATUS) == "in_sync"


async def test_removing_the_router_forgets_its_records(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Added again (another router, the same records): they are sent, not taken for held."""
    await hass.config_entries.async_remove(loaded.entry_id)
    await hass.async_block_till_done()
    assert hass_storage["tunnelbroker.endpoints"]["data"] == {}
    again = router_entry(
        igd.location,
        record_subentry(),
        record_subentry(OTHER_RECORD_NAME, OTHER_RECORD_KEY),
    )
    await set_up(hass, again)
    assert sorted(replies(he) + replies(he, OTHER_RECORD_NAME)) == [
        f"nochg {WAN_IP}",
        f"nochg {WAN_IP}",
    ]
    assert shown(hass, RECORD_STATUS) == "in_sync"


async def test_one_types_success_keeps_the_other_types_issue(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    with_aaaa: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The A fails oddly while the AAAA is taken: Repairs still says what the A met."""
    host = routed_host(he)
    # An answer that fits the AAAA's request only (an IPv6 address for the A's).
    he.force_dns_reply(f"good {host}")
    with pytest.raises(HomeAssistantError) as err:
        await press_record_button(hass)
    assert err.value.translation_key == "update_failed"
    assert shown(hass, RECORD_STATUS) == "retrying"
    assert shown(hass, RECORD_IPV6_STATUS) == "in_sync"
    unexpected = issue(hass, "record_unexpected_answer")
    assert unexpected is not None
    assert unexpected.translation_placeholders["message"] == f"good {host}"
    # The A taken at last: now it goes.
    he.clear_forced_dns_reply()
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert shown(hass, RECORD_STATUS) == "in_sync"
    assert issue(hass, "record_unexpected_answer") is None


# -- what is not sent --------------------------------------------------------------------------
@pytest.mark.parametrize("address", ["", "10.0.0.2", "100.72.3.4", "192.0.0.2"])
async def test_unusable_router_address_sends_nothing(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    address: str,
) -> None:
    await wan_change(hass, igd, freezer, address)
    await poll(hass, freezer, timedelta(hours=1))
    assert he.dns_requests == []
    assert shown(hass, RECORD_STATUS) == "no_public_address"
    assert shown(hass, RECORD_ADDRESS) == WAN_IP
    # Public again: sent once.
    await wan_change(hass, igd, freezer, NEW_IP)
    assert sorted(dns(he)) == [(RECORD_NAME, NEW_IP), (OTHER_RECORD_NAME, NEW_IP)]


async def test_automatic_update_off_leaves_it_to_the_action(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he_holds_everything(hass_storage, he)
    await setup_entry(hass, entry, options={CONF_AUTOMATIC_UPDATE: False})
    await wan_change(hass, igd, freezer, NEW_IP)
    await poll(hass, freezer, timedelta(hours=1))
    assert he.dns_requests == []
    assert shown(hass, RECORD_STATUS) == "automatic_off"
    response = await hass.services.async_call(
        DOMAIN,
        SERVICE_UPDATE_ENDPOINT,
        {"config_entry_id": entry.entry_id},
        blocking=True,
        return_response=True,
    )
    assert [r["result"] for r in response["records"]] == ["good", "good"]
    assert shown(hass, RECORD_STATUS) == "in_sync"


async def test_a_router_that_does_not_answer_leaves_the_aaaa_known(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    with_aaaa: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The A's Status needs the router's address; the AAAA's is the host's."""
    igd.set_fault(Fault.HTTP_500)
    await poll(hass, freezer, SAFETY_POLL_INTERVAL)
    await with_aaaa.runtime_data.router.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert shown(hass, RECORD_STATUS) == "unavailable"
    assert shown(hass, RECORD_ADDRESS) == WAN_IP
    assert shown(hass, RECORD_IPV6_STATUS) == "in_sync"
    igd.set_fault(Fault.NONE)
    await wan_change(hass, igd, freezer, NEW_IP)
    assert dns(he) == [(RECORD_NAME, NEW_IP)]
    assert shown(hass, RECORD_STATUS) == "in_sync"
