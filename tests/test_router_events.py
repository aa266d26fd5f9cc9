"""Router events over real GENA on loopback: push, fallback to polling, forgery, reboots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import timedelta
import gc
import logging
import socket
from typing import Any

import aiohttp
from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.tunnelbroker.const import (
    CONF_CALLBACK_URL,
    CONF_LISTEN_PORT,
    DOMAIN,
    EVENTS_ISSUE_AFTER,
    INITIAL_EVENT_TIMEOUT,
    RESUBSCRIBE_RETRY,
    ROUTER_POLL_INTERVAL,
    SAFETY_POLL_INTERVAL,
)
from custom_components.tunnelbroker.router_events import (
    DATA_NOTIFY_SERVERS,
    REBOOT_HINT_BURST,
    REBOOT_HINT_INTERVAL,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from simulators.he import HeSimulator
from simulators.igd import Fault, IgdSimulator

from .conftest import (
    WAN_IP,
    poll,
    router_announces,
    router_entry,
    seed_endpoint,
    setup_entry,
)
from .support.entity_ids import EXTERNAL_IP

NEW_IP = "84.17.1.30"
EVENTS = "sensor.simulated_router_router_events"


# Past the wait for the initial NOTIFY after SUBSCRIBE.
AFTER_INITIAL_EVENT = INITIAL_EVENT_TIMEOUT + timedelta(seconds=1)


async def settle(
    hass: HomeAssistant, igd: IgdSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Let NOTIFYs in flight arrive and what they start finish.

    One second passes (NOTIFYs arriving together are read back once, after a short
    cooldown): far less than any poll interval, so nothing here was found by polling.
    """
    await igd.gena.drain()
    await hass.async_block_till_done(wait_background_tasks=True)
    await poll(hass, freezer, timedelta(seconds=1))
    await igd.gena.drain()
    await hass.async_block_till_done(wait_background_tasks=True)


async def until_trusted(
    hass: HomeAssistant, igd: IgdSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Let the initial NOTIFY arrive and the wait for it pass: the subscription counts."""
    await settle(hass, igd, freezer)
    await poll(hass, freezer, AFTER_INITIAL_EVENT)


async def test_change_is_pushed_at_once(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    await until_trusted(hass, igd, freezer)
    router = loaded.runtime_data.router
    assert hass.states.get(EVENTS).state == "subscribed"
    assert router.update_interval == SAFETY_POLL_INTERVAL
    # Only the WAN connection service is subscribed, not every service of the router.
    assert [s.event_url for s in igd.gena.subscriptions.values()] == ["/evt/IPConn"]
    reads_before = igd.soap_requests["GetExternalIPAddress"]

    igd.set_external_ip(NEW_IP)
    await settle(hass, igd, freezer)  # no clock tick: no poll can have run

    assert [r.myip for r in he.requests] == [NEW_IP]
    assert hass.states.get(EXTERNAL_IP).state == NEW_IP
    assert igd.soap_requests["GetExternalIPAddress"] == reads_before + 1


async def test_forged_or_foreign_notify_changes_nothing(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    await until_trusted(hass, igd, freezer)
    (sub,) = igd.gena.subscriptions.values()
    body = (
        '<?xml version="1.0"?><e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0">'
        "<e:property><ExternalIPAddress>84.17.66.66</ExternalIPAddress></e:property>"
        "</e:propertyset>"
    )
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0">'
        "<e:property><ExternalIPAddress>&b;</ExternalIPAddress></e:property></e:propertyset>"
    )
    headers = {"NT": "upnp:event", "NTS": "upnp:propchange", "SEQ": "7"}
    async with aiohttp.ClientSession() as session:
        for sid, payload in (
            (sub.sid, body),  # the right SID, a made-up address
            ("uuid:not-a-subscription", body),  # unknown SID
            (sub.sid, "<e:propertyset><unclosed>"),  # malformed
            (sub.sid, bomb),  # entity expansion
        ):
            async with session.request(
                "NOTIFY", sub.callback, data=payload, headers={**headers, "SID": sid}
            ) as response:
                await response.read()
    await hass.async_block_till_done(wait_background_tasks=True)
    # The NOTIFY was only a hint: the router, asked again, still says WAN_IP.
    assert hass.states.get(EXTERNAL_IP).state == WAN_IP
    assert he.requests == []


async def test_refused_subscription_polls_fast_and_retries(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed_endpoint(hass_storage, WAN_IP, he=he)
    igd.gena.refuse = True
    with caplog.at_level(logging.INFO):
        await setup_entry(hass, config_entry)
        router = config_entry.runtime_data.router
        events = config_entry.runtime_data.events
        assert not router.events_trusted
        assert router.update_interval == ROUTER_POLL_INTERVAL
        assert events.last_error is not None
        assert "refused" in events.last_error
        assert hass.states.get(EVENTS).state == "refused"

        igd.set_external_ip(NEW_IP)
        await poll(hass, freezer, ROUTER_POLL_INTERVAL)
        assert [r.myip for r in he.requests] == [NEW_IP]

        # Still refused at the retry: logged once, not again.
        await poll(hass, freezer, RESUBSCRIBE_RETRY)
        assert caplog.text.count("polling every") == 1

        igd.gena.refuse = False
        await poll(hass, freezer, RESUBSCRIBE_RETRY)
        await settle(hass, igd, freezer)
        await poll(hass, freezer, AFTER_INITIAL_EVENT)
    assert router.events_trusted
    assert router.update_interval == SAFETY_POLL_INTERVAL
    assert "sends events again" in caplog.text
    assert hass.states.get(EVENTS).state == "subscribed"
    # The router refusing events is not something the user must fix: no repair issue.
    assert not ir.async_get(hass).issues


@pytest.fixture
async def behind_a_firewall(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> MockConfigEntry:
    """The router set up while a firewall drops its NOTIFYs (HE holds its address).

    The clock is frozen first, so every timer is set on the test's clock.
    """
    seed_endpoint(hass_storage, WAN_IP, he=he)
    igd.gena.drop_notifies = True
    await setup_entry(hass, config_entry)
    return config_entry


async def test_no_initial_notify_means_polling(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    behind_a_firewall: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A firewall drops the router's NOTIFYs: SUBSCRIBE works, events never come."""
    config_entry = behind_a_firewall
    await poll(hass, freezer, AFTER_INITIAL_EVENT)
    router = config_entry.runtime_data.router
    assert igd.gena.subscriptions  # the router accepted the subscription
    assert not router.events_trusted
    assert router.update_interval == ROUTER_POLL_INTERVAL
    assert "firewall" in (config_entry.runtime_data.events.last_error or "")
    assert hass.states.get(EVENTS).state == "not_arriving"
    igd.set_external_ip(NEW_IP)
    await poll(hass, freezer, ROUTER_POLL_INTERVAL)
    assert [r.myip for r in he.requests] == [NEW_IP]
    # The firewall is opened: the first NOTIFY that gets through brings events back.
    igd.gena.drop_notifies = False
    await settle(hass, igd, freezer)
    igd.set_external_ip(WAN_IP)
    await settle(hass, igd, freezer)
    assert router.events_trusted
    assert router.update_interval == SAFETY_POLL_INTERVAL


async def test_silent_subscription_leaves_no_timer_behind_after_unload(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    behind_a_firewall: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SUBSCRIBE accepted, no initial NOTIFY, then the entry is unloaded: nothing fires later.

    The retry that replaced the pending renewal used to leave the renewal running: it fired
    after the unload (an AssertionError in the log) and renewed a subscription nobody held.
    """
    config_entry = behind_a_firewall
    await poll(hass, freezer, AFTER_INITIAL_EVENT)  # no NOTIFY: retry in 5 minutes
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()
    after_unload = dict(igd.gena.requests)
    assert after_unload["UNSUBSCRIBE"] == 1
    caplog.clear()

    await poll(hass, freezer, timedelta(hours=2))  # past any renewal and retry
    gc.collect()  # a failed task's exception is logged when the task is collected

    assert dict(igd.gena.requests) == after_unload
    # (asyncio's debug mode reports the frozen clock's 2-hour jump as a slow step: not ours)
    problems = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name != "asyncio"
    ]
    assert not problems


async def test_event_port_in_use_falls_back_to_polling(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    seed_endpoint(hass_storage, WAN_IP, he=he)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        await setup_entry(hass, config_entry, options={CONF_LISTEN_PORT: port})
    events = config_entry.runtime_data.events
    assert "cannot listen for events" in (events.last_error or "")
    assert not events.subscribed
    assert config_entry.runtime_data.router.update_interval == ROUTER_POLL_INTERVAL
    assert hass.states.get(EVENTS).state == "cannot_listen"
    issue_id = f"events_cannot_listen_{config_entry.entry_id}"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["port"] == str(port)
    assert issue.translation_placeholders["address"] == "127.0.0.1"
    igd.set_external_ip(NEW_IP)
    await poll(hass, freezer, ROUTER_POLL_INTERVAL)
    assert [r.myip for r in he.requests] == [NEW_IP]
    # Saving the options reloads the entry: the issue goes, and returns only if still true.
    hass.config_entries.async_update_entry(config_entry, options={CONF_LISTEN_PORT: 0})
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert hass.states.get(EVENTS).state in ("subscribing", "subscribed")
    assert await hass.config_entries.async_unload(config_entry.entry_id)


async def test_events_missing_for_long_become_a_repair_issue(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    behind_a_firewall: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Events blocked (Docker without host networking, a firewall): the user is told how."""
    config_entry = behind_a_firewall
    assert hass.states.get(EVENTS).state == "subscribing"
    issue_id = f"events_not_arriving_{config_entry.entry_id}"
    await poll(hass, freezer, AFTER_INITIAL_EVENT)
    assert hass.states.get(EVENTS).state == "not_arriving"
    # A first miss is not yet an issue: a router may just be slow after a reboot.
    await poll(hass, freezer, EVENTS_ISSUE_AFTER - RESUBSCRIBE_RETRY)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    for _ in range(2):
        await poll(hass, freezer, RESUBSCRIBE_RETRY)
        await poll(hass, freezer, AFTER_INITIAL_EVENT)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.WARNING
    callback_url = config_entry.runtime_data.events.callback_url
    assert callback_url is not None and callback_url.startswith("http://127.0.0.1:")
    assert issue.translation_placeholders == {
        "name": "Simulated router",
        "callback_url": callback_url,
    }
    assert hass.states.get(EVENTS).state == "not_arriving"

    # The firewall is opened: the next NOTIFY brings events back and the issue goes.
    igd.gena.drop_notifies = False
    igd.set_external_ip(NEW_IP)
    await settle(hass, igd, freezer)
    assert hass.states.get(EVENTS).state == "subscribed"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_router_reboot_is_followed(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    await until_trusted(hass, igd, freezer)
    await router_announces(hass, igd.location, boot_id="1")
    (old_sid,) = igd.gena.subscriptions

    # Reboot: same address, subscriptions forgotten, a new BOOTID announced.
    port = igd.port
    await igd.stop()
    await router_announces(hass, igd.location, boot_id="1", alive=False)
    assert loaded.runtime_data.router.update_interval == ROUTER_POLL_INTERVAL
    assert hass.states.get(EVENTS).state == "subscribing"
    await igd.start(port=port)
    await router_announces(hass, igd.location, boot_id="2")
    await until_trusted(hass, igd, freezer)
    (new_sid,) = igd.gena.subscriptions
    assert new_sid != old_sid
    assert hass.states.get(EVENTS).state == "subscribed"

    igd.set_external_ip(NEW_IP)
    await settle(hass, igd, freezer)
    assert [r.myip for r in he.requests] == [NEW_IP]


async def test_renewal_after_router_forgot_us_subscribes_anew(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    await until_trusted(hass, igd, freezer)
    (old_sid,) = igd.gena.subscriptions
    renewals_seen = dict(igd.gena.subscriptions)
    # The router restarts silently (no SSDP seen): only the renewal finds out.
    port = igd.port
    await igd.stop()
    await igd.start(port=port)
    await poll(hass, freezer, timedelta(minutes=9))
    await until_trusted(hass, igd, freezer)
    assert igd.gena.subscriptions.keys() != renewals_seen.keys()
    assert old_sid not in igd.gena.subscriptions
    assert hass.states.get(EVENTS).state == "subscribed"
    igd.set_external_ip(NEW_IP)
    await settle(hass, igd, freezer)
    assert [r.myip for r in he.requests] == [NEW_IP]


async def test_renewal_keeps_the_subscription(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    igd: IgdSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    await until_trusted(hass, igd, freezer)
    (sid,) = igd.gena.subscriptions
    expires = igd.gena.subscriptions[sid].expires
    await poll(hass, freezer, timedelta(minutes=9))
    assert list(igd.gena.subscriptions) == [sid]
    assert igd.gena.subscriptions[sid].expires > expires
    assert hass.states.get(EVENTS).state == "subscribed"


@pytest.fixture
async def other() -> AsyncGenerator[IgdSimulator]:
    """A second router on the same host (so the same notify server)."""
    router = IgdSimulator(udn="uuid:second-router", friendly_name="Second router")
    await router.start()
    yield router
    await router.stop()


def second_entry(other: IgdSimulator) -> MockConfigEntry:
    """The second router's entry (no tunnel)."""
    return router_entry(other.location, udn=other.udn)


async def test_routers_share_one_notify_server_until_unloaded(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    other: IgdSimulator,
) -> None:
    seed_endpoint(hass_storage, WAN_IP, he=he)
    second = second_entry(other)
    await setup_entry(hass, config_entry)
    await setup_entry(hass, second)
    servers = hass.data[DATA_NOTIFY_SERVERS]
    assert len(servers) == 1
    (shared,) = servers.values()
    assert shared.users == 2
    assert {s.callback for s in igd.gena.subscriptions.values()} == {
        s.callback for s in other.gena.subscriptions.values()
    }
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    assert igd.gena.subscriptions == {}
    assert shared.users == 1
    assert await hass.config_entries.async_unload(second.entry_id)
    assert other.gena.subscriptions == {}
    assert servers == {}


async def test_callback_url_and_port_options(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    unused_tcp_port: int,
    freezer: FrozenDateTimeFactory,
) -> None:
    seed_endpoint(hass_storage, WAN_IP, he=he)
    callback = f"http://127.0.0.1:{unused_tcp_port}/notify"
    await setup_entry(
        hass,
        config_entry,
        options={CONF_LISTEN_PORT: unused_tcp_port, CONF_CALLBACK_URL: callback},
    )
    assert [s.callback for s in igd.gena.subscriptions.values()] == [callback]
    await settle(hass, igd, freezer)
    assert igd.gena.notifies_sent == 1  # the initial event reached the fixed port


async def test_no_subscribe_attempts_while_the_router_is_gone(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await until_trusted(hass, igd, freezer)
    router = loaded.runtime_data.router
    assert router.events_trusted
    port = igd.port
    await igd.stop()
    # An hour without the router: polls fail, the subscription lapses, and SUBSCRIBE is not
    # tried against a router that does not even answer polls (each failure would be a
    # warning from async-upnp-client).
    for _ in range(12):
        await poll(hass, freezer, RESUBSCRIBE_RETRY)
    assert not router.last_update_success
    library_warnings = [
        r
        for r in caplog.records
        if r.name.startswith("async_upnp_client") and r.levelno >= logging.WARNING
    ]
    assert len(library_warnings) <= 1
    await igd.start(port=port)
    await poll(hass, freezer, ROUTER_POLL_INTERVAL)
    assert router.last_update_success
    await poll(hass, freezer, RESUBSCRIBE_RETRY)
    await until_trusted(hass, igd, freezer)
    assert router.events_trusted
    assert he.requests == []


async def test_two_routers_set_up_at_once_share_one_server_that_outlives_either(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    other: IgdSimulator,
) -> None:
    """Set up concurrently: one server, counted twice; unloading one keeps the other's events."""
    seed_endpoint(hass_storage, WAN_IP, he=he)
    second = second_entry(other)
    config_entry.add_to_hass(hass)
    second.add_to_hass(hass)
    assert all(
        await asyncio.gather(
            hass.config_entries.async_setup(config_entry.entry_id),
            hass.config_entries.async_setup(second.entry_id),
        )
    )
    await hass.async_block_till_done()
    servers = hass.data[DATA_NOTIFY_SERVERS]
    (shared,) = servers.values()
    assert shared.users == 2
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    # The second router's events still arrive (its listener was not stopped).
    other.set_external_ip("84.17.6.6")
    await other.gena.drain()
    # Past the refresh debouncer's cooldown, well before the next poll (10 minutes).
    freezer.tick(timedelta(seconds=11))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get("sensor.second_router_external_ip_address").state == (
        "84.17.6.6"
    )
    assert hass.states.get("sensor.second_router_router_events").state == ("subscribed")


async def test_a_notify_from_another_host_does_not_hide_a_firewall(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    behind_a_firewall: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The router's NOTIFYs are dropped; a LAN host that sniffed the SID sends its own."""
    config_entry = behind_a_firewall
    (sub,) = igd.gena.subscriptions.values()
    body = (
        '<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"><e:property>'
        "<ExternalIPAddress>84.17.66.66</ExternalIPAddress></e:property></e:propertyset>"
    )
    headers = {"NT": "upnp:event", "NTS": "upnp:propchange", "SID": sub.sid}
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))  # not the router
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.request("NOTIFY", sub.callback, data=body, headers=headers) as reply,
    ):
        assert reply.status == 403
    await poll(hass, freezer, AFTER_INITIAL_EVENT)
    assert hass.states.get(EVENTS).state == "not_arriving"
    assert config_entry.runtime_data.router.update_interval == ROUTER_POLL_INTERVAL


@pytest.mark.timeout(60)
async def test_unload_during_a_renewal_leaves_nothing_running(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    igd: IgdSimulator,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The renewal is on its way when the entry unloads: no timer, no new subscription."""
    await until_trusted(hass, igd, freezer)
    arrived = igd.gena.subscribes_arrived
    igd.gena.hold_subscribes()
    freezer.tick(timedelta(minutes=9))  # past the renewal time
    async_fire_time_changed(hass)
    await igd.gena.wait_subscribes(arrived + 1)  # the renewal waits on the router
    caplog.clear()
    assert await hass.config_entries.async_unload(loaded.entry_id)
    igd.gena.release_subscribes()
    await hass.async_block_till_done(wait_background_tasks=True)
    after_unload = dict(igd.gena.requests)
    await poll(hass, freezer, timedelta(hours=2))  # past any renewal and retry
    gc.collect()  # a failed task's exception is logged when the task is collected
    assert dict(igd.gena.requests) == after_unload
    assert igd.gena.subscriptions == {}
    problems = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name != "asyncio"
    ]
    assert not problems


async def test_spoofed_reboot_hints_cause_bounded_work(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    igd: IgdSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """30 announcements with new BOOTIDs: a few checks with the router, not 29 SUBSCRIBEs."""
    await until_trusted(hass, igd, freezer)
    await router_announces(hass, igd.location, boot_id="1")
    (sid,) = igd.gena.subscriptions
    before = dict(igd.gena.requests)
    rogue = igd.location.replace("127.0.0.1", "127.0.0.2")
    for boot in range(2, 32):  # from another host: not the router
        await router_announces(hass, rogue, boot_id=str(boot))
    assert dict(igd.gena.requests) == before
    for boot in range(32, 62):  # the router's own host, spoofed or not
        await router_announces(hass, igd.location, boot_id=str(boot))
    await hass.async_block_till_done(wait_background_tasks=True)
    asked = igd.gena.requests["RENEW"] - before.get("RENEW", 0)
    assert asked == REBOOT_HINT_BURST  # a burst of checks, the router still knows us
    # The rest wait for one more check a minute later: bounded, and not lost.
    await poll(hass, freezer, REBOOT_HINT_INTERVAL)
    assert igd.gena.requests["RENEW"] - before.get("RENEW", 0) == REBOOT_HINT_BURST + 1
    await poll(hass, freezer, REBOOT_HINT_INTERVAL * 10)
    assert igd.gena.requests["RENEW"] - before.get("RENEW", 0) <= REBOOT_HINT_BURST + 2
    assert igd.gena.requests["SUBSCRIBE"] == before["SUBSCRIBE"]
    assert set(igd.gena.subscriptions) == {sid}
    assert hass.states.get(EVENTS).state == "subscribed"


async def test_a_notify_counts_only_when_the_router_answers_the_read_back(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    behind_a_firewall: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A NOTIFY whose read-back fails does not make events look like they arrive."""
    config_entry = behind_a_firewall
    await poll(hass, freezer, AFTER_INITIAL_EVENT)
    assert hass.states.get(EVENTS).state == "not_arriving"
    igd.set_fault(Fault.SOAP_FAULT)  # the router's actions fail
    igd.gena.drop_notifies = False
    igd.set_external_ip(NEW_IP)
    await igd.gena.drain()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(EVENTS).state == "not_arriving"
    assert config_entry.runtime_data.router.update_interval == ROUTER_POLL_INTERVAL
    # The router answers again: the next NOTIFY counts.
    igd.set_fault(Fault.NONE)
    freezer.tick(timedelta(seconds=11))  # past the refresh debouncer's cooldown
    igd.set_external_ip(WAN_IP)
    await igd.gena.drain()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(EVENTS).state == "subscribed"
