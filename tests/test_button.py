"""The "Update endpoint" and "Update record" buttons: send now, with translated failures."""

from __future__ import annotations

from datetime import timedelta
import re
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tunnelbroker.protocol.update_policy import MIN_UPDATE_INTERVAL
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from simulators.he import HeSimulator
from simulators.igd import Fault, IgdSimulator

from .conftest import (
    RECORD_NAME,
    TUNNEL_ID,
    WAN_IP,
    poll,
    records_loaded,
    routed_host,
    wan_change,
)
from .support.entity_ids import (
    BUTTON,
    RECORD_BUTTON,
    RECORD_EVENT,
    RECORD_IPV6_STATUS,
    RECORD_STATUS,
)


async def press(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: BUTTON}, blocking=True
    )


async def test_press_sends_the_router_address(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator, loaded: MockConfigEntry
) -> None:
    await press(hass)
    assert [(r.myip, r.reply) for r in he.requests] == [(WAN_IP, f"nochg {WAN_IP}")]


async def test_press_after_icmp_fix_clears_the_repair(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.state.unpingable.add("84.17.3.3")
    await wan_change(hass, igd, freezer, "84.17.3.3")
    issue_id = f"icmp_blocked_{TUNNEL_ID}"
    assert ir.async_get(hass).async_get_issue("tunnelbroker", issue_id) is not None
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    with pytest.raises(HomeAssistantError) as err:
        await press(hass)
    assert err.value.translation_key == "update_failed"
    assert "icmp_blocked" in str(err.value)
    he.state.unpingable.clear()
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    await press(hass)
    assert ir.async_get(hass).async_get_issue("tunnelbroker", issue_id) is None
    assert he.tunnel(TUNNEL_ID).endpoint == "84.17.3.3"


async def test_press_during_abuse_block_sends_nothing(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.force_reply("abuse")
    await wan_change(hass, igd, freezer, "84.17.3.4")
    assert len(he.requests) == 1
    with pytest.raises(HomeAssistantError) as err:
        await press(hass)
    assert err.value.translation_key == "abuse_block_running"
    assert "Nothing was sent" in str(err.value)
    assert len(he.requests) == 1


@pytest.mark.parametrize(
    ("address", "fault", "key"),
    [
        ("10.1.2.3", Fault.NONE, "router_address_behind_nat"),
        ("192.0.0.2", Fault.NONE, "router_address_ds_lite"),
        (WAN_IP, Fault.HTTP_500, "router_unavailable"),
    ],
)
async def test_press_without_usable_router_address(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    address: str,
    fault: Fault,
    key: str,
) -> None:
    await wan_change(hass, igd, freezer, address)
    igd.set_fault(fault)
    await poll(hass, freezer, loaded.runtime_data.router.update_interval)
    with pytest.raises(HomeAssistantError) as err:
        await press(hass)
    assert err.value.translation_key == key
    assert he.requests == []


async def test_presses_in_a_hurry_send_one_update(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Pressed four times in 16 s: one update; the others say when it can be sent."""
    await press(hass)
    for _ in range(3):
        freezer.tick(timedelta(seconds=5))
        with pytest.raises(HomeAssistantError) as err:
            await press(hass)
        assert err.value.translation_key == "update_too_soon"
        assert "Nothing was sent" in str(err.value)
        # How long, and when, in words: no raw timestamp.
        assert "less than 2 minutes ago" in str(err.value)
        assert re.search(
            r"sent again at \d{2}:\d{2}:\d{2} \(in \d+ (seconds|minutes?)\)$",
            str(err.value),
        ), str(err.value)
    assert len(he.requests) == 1
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    await press(hass)
    assert len(he.requests) == 2


# -- a dns.he.net record's Update record button ------------------------------------------------
@pytest.fixture
async def record_loaded(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> MockConfigEntry:
    """The tunnel and home.example.org, HE holding both."""
    return await records_loaded(hass, hass_storage, igd, he, both=False)


async def press_record(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: RECORD_BUTTON}, blocking=True
    )


async def test_record_press_sends_the_a_even_when_held(
    hass: HomeAssistant,
    he: HeSimulator,
    record_loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await press_record(hass)
    assert [(r.hostname, r.myip, r.reply) for r in he.dns_requests] == [
        (RECORD_NAME, WAN_IP, f"nochg {WAN_IP}")
    ]
    assert he.requests == []  # the tunnel's endpoint is not the record's button's
    assert hass.states.get(RECORD_STATUS).state == "in_sync"
    event = hass.states.get(RECORD_EVENT)
    assert event.attributes["event_type"] == "unchanged"
    assert event.attributes["automatic"] is False


async def test_record_press_within_the_interval_is_refused_in_words(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    record_loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await press_record(hass)
    freezer.tick(timedelta(seconds=5))
    with pytest.raises(ServiceValidationError) as err:
        await press_record(hass)
    assert err.value.translation_key == "update_too_soon"
    assert err.value.translation_placeholders["tunnel"] == RECORD_NAME
    assert str(err.value).startswith(
        f"Nothing was sent: Hurricane Electric took an update of {RECORD_NAME}"
    )
    assert len(he.dns_requests) == 1
    # A WAN change just sent counts the same.
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    await wan_change(hass, igd, freezer, "84.17.3.5")
    assert len(he.dns_requests) == 2
    with pytest.raises(ServiceValidationError) as err:
        await press_record(hass)
    assert err.value.translation_key == "update_too_soon"
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    await press_record(hass)
    assert [r.reply for r in he.dns_requests][-1] == "nochg 84.17.3.5"


async def test_record_press_with_an_aaaa_sends_both_each_its_own_request(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    with_aaaa: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    host = routed_host(he)
    await press_record(hass)
    assert sorted((r.myip, r.reply) for r in he.dns_requests) == sorted(
        [(WAN_IP, f"nochg {WAN_IP}"), (host, f"nochg {host}")]
    )
    assert hass.states.get(RECORD_IPV6_STATUS).state == "in_sync"
    # All or nothing: within the A's interval the AAAA is not sent alone either.
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    await wan_change(hass, igd, freezer, "84.17.3.6")
    assert len(he.dns_requests) == 3
    with pytest.raises(ServiceValidationError) as err:
        await press_record(hass)
    assert err.value.translation_key == "update_too_soon"
    assert len(he.dns_requests) == 3


@pytest.mark.parametrize(
    ("refuse", "key"),
    [
        (lambda he: he.force_dns_reply("abuse"), "record_abuse_block_running"),
        (lambda he: setattr(he.record(RECORD_NAME), "key", "new"), "record_refused"),
    ],
)
async def test_record_press_refused_after_he_refused(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    record_loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    refuse: Any,
    key: str,
) -> None:
    """HE blocked the record, or refused its key: a press sends nothing, and says why."""
    refuse(he)
    await wan_change(hass, igd, freezer, "84.17.3.7")
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert len(he.dns_requests) == 1
    with pytest.raises(ServiceValidationError) as err:
        await press_record(hass)
    assert err.value.translation_key == key
    assert str(err.value).startswith("Nothing was sent")
    assert RECORD_NAME in str(err.value)
    assert len(he.dns_requests) == 1
