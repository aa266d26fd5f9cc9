"""Automatic updates: exactly one request per address change, none that is not needed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.tunnelbroker.const import (
    CONF_AUTOMATIC_UPDATE,
    EVENT_TUNNELBROKER,
    INITIAL_EVENT_TIMEOUT,
    RETRY_INITIAL,
    SAFETY_POLL_INTERVAL,
)
from custom_components.tunnelbroker.endpoint_store import STORAGE_KEY
from custom_components.tunnelbroker.tunnel_updater import SkipReason, TunnelUpdater
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from simulators.he import HeSimulator
from simulators.igd import Fault, IgdSimulator

from .conftest import TUNNEL_ID, WAN_IP, poll, seed_endpoint, setup_entry, wan_change

NEW_IP = "84.17.1.20"


def the_tunnel(entry: MockConfigEntry) -> TunnelUpdater:
    return next(iter(entry.runtime_data.tunnels.values()))


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
    assert hass_storage[STORAGE_KEY]["data"][TUNNEL_ID]["endpoint"] == WAN_IP
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
    assert (
        the_tunnel(loaded).skip_reason(WAN_IP, dt_util.utcnow()) is SkipReason.UNCHANGED
    )


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
    assert the_tunnel(loaded).record is not None
    assert the_tunnel(loaded).record.endpoint == NEW_IP
    assert [e.data["type"] for e in events] == ["wan_ip_changed", "endpoint_updated"]
    assert events[0].data["ip"] == NEW_IP
    assert events[0].data["previous_ip"] == WAN_IP
    await wan_change(hass, igd, freezer, WAN_IP)
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
    tunnel = the_tunnel(loaded)
    assert (
        tunnel.skip_reason(address or None, dt_util.utcnow())
        is SkipReason.NO_USABLE_ADDRESS
    )
    assert tunnel.record is not None
    assert tunnel.record.endpoint == WAN_IP


async def test_restart_sends_nothing(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    await setup_entry(hass, config_entry)
    assert len(he.requests) == 1
    saved = hass_storage[STORAGE_KEY]["data"]
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    # A new Home Assistant reads only what was saved.
    hass.data.pop("tunnelbroker_endpoint_store")
    hass_storage[STORAGE_KEY]["data"] = saved
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
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
    assert (
        the_tunnel(config_entry).skip_reason(NEW_IP, dt_util.utcnow())
        is SkipReason.AUTOMATIC_OFF
    )


async def test_outage_is_retried_with_backoff_and_endpoint_kept(
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
    tunnel = the_tunnel(loaded)
    assert tunnel.record is not None
    assert tunnel.record.endpoint == WAN_IP  # not advanced on failure
    assert hass_storage[STORAGE_KEY]["data"][TUNNEL_ID]["endpoint"] == WAN_IP
    assert events[-1].data["type"] == "endpoint_update_failed"
    assert events[-1].data["result"] == "unavailable"
    # The failure came at the change; wan_change() let 30 s pass. Within the first
    # 1-minute backoff nothing more is sent.
    await poll(hass, freezer, timedelta(seconds=20))
    assert len(he.requests) == 1
    assert tunnel.skip_reason(NEW_IP, dt_util.utcnow()) is SkipReason.BACKING_OFF
    # Second failure doubles the wait.
    await poll(hass, freezer, RETRY_INITIAL)
    assert len(he.requests) == 2
    await poll(hass, freezer, RETRY_INITIAL)
    assert len(he.requests) == 2
    he.clear_forced_reply()
    await poll(hass, freezer, RETRY_INITIAL)
    assert len(he.requests) == 3
    assert tunnel.record.endpoint == NEW_IP
    await poll(hass, freezer, RETRY_INITIAL * 8)
    assert len(he.requests) == 3


async def test_refusal_is_not_retried_for_the_same_address(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.tunnel(TUNNEL_ID).update_key = "rotated"
    await wan_change(hass, igd, freezer, NEW_IP)
    await poll(hass, freezer, timedelta(hours=2))
    assert [r.reply for r in he.requests] == ["badauth"]
    tunnel = the_tunnel(loaded)
    assert tunnel.skip_reason(NEW_IP, dt_util.utcnow()) is SkipReason.REFUSED_BEFORE
    # A new address is a new question.
    await wan_change(hass, igd, freezer, "84.17.1.21")
    assert [r.reply for r in he.requests] == ["badauth", "badauth"]


async def test_router_failure_keeps_last_state(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await poll(hass, freezer, INITIAL_EVENT_TIMEOUT + timedelta(seconds=1))
    assert loaded.runtime_data.router.subscribed  # the safety poll finds the fault
    igd.set_fault(Fault.SOAP_FAULT)
    await poll(hass, freezer, SAFETY_POLL_INTERVAL)
    assert not loaded.runtime_data.router.last_update_success
    assert he.requests == []
    igd.set_fault(Fault.NONE)
    await wan_change(hass, igd, freezer, NEW_IP)
    assert [r.myip for r in he.requests] == [NEW_IP]
