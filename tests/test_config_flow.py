"""Config flow, tunnel subentry flow and options flow, against the simulated router and HE."""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
import json
from pathlib import Path
import re
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
import voluptuous as vol

from custom_components.tunnelbroker import tunnel_flow
from custom_components.tunnelbroker.const import (
    CONF_AUTOMATIC_UPDATE,
    CONF_CALLBACK_URL,
    CONF_HEALTH_INTERVAL,
    CONF_LISTEN_PORT,
    CONF_LOCATION,
    CONF_TUNNEL_ID,
    CONF_UPDATE_KEY,
    DEFAULT_HEALTH_INTERVAL,
    DOMAIN,
    ST_IGD_V1,
    ST_IGD_V2,
    SUBENTRY_TUNNEL,
)
from custom_components.tunnelbroker.endpoint_store import STORAGE_KEY
from custom_components.tunnelbroker.protocol.he_client import UpdateResult, UpdateStatus
from custom_components.tunnelbroker.protocol.update_policy import MIN_UPDATE_INTERVAL
from homeassistant.config_entries import SOURCE_SSDP, SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_USERNAME, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.helpers.service_info.ssdp import (
    ATTR_UPNP_DEVICE_TYPE,
    SsdpServiceInfo,
)
from homeassistant.helpers.translation import async_get_translations
from simulators.he import HeSimulator
from simulators.igd import IgdSimulator

from .conftest import (
    CREDENTIALS,
    ROUTER_UDN,
    TUNNEL_ID,
    UPDATE_KEY,
    USERNAME,
    WAN_IP,
    find_device,
    poll,
    router_entry,
    seed_endpoint,
    setup_entry,
    ssdp_discovery,
    tunnel_subentry,
    wan_change,
)
from .support.entity_ids import ENDPOINT, EVENT, EXTERNAL_IP, STATUS

# Errors about one field are shown on it (the user sees which field to correct).
TRANSLATIONS = Path(tunnel_flow.__file__).parent / "translations" / "en.json"
FIELD_OF = {
    "invalid_auth": CONF_UPDATE_KEY,
    "unknown_tunnel": CONF_TUNNEL_ID,
    "invalid_tunnel_id": CONF_TUNNEL_ID,
    "tunnel_already_configured": CONF_TUNNEL_ID,
}


def _port(location: str) -> int:
    """The port of a description URL (to start a stopped router where it was)."""
    return int(location.rsplit(":", 1)[1].split("/", maxsplit=1)[0])


@pytest.fixture
def discovered() -> Generator[list[SsdpServiceInfo]]:
    """The routers HA's SSDP scanner has seen (fill the list in a test)."""
    seen: list[SsdpServiceInfo] = []

    async def by_st(hass: HomeAssistant, st: str) -> list[SsdpServiceInfo]:
        return [info for info in seen if info.ssdp_st == st]

    with patch("homeassistant.components.ssdp.async_get_discovery_info_by_st", by_st):
        yield seen


async def test_ssdp_discovery_creates_entry_with_tunnel(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_SSDP}, data=ssdp_discovery(igd.location)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    assert result["description_placeholders"] == {"name": "Simulated router"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "tunnel"
    # The form says which address it would send.
    assert result["description_placeholders"]["ip"] == WAN_IP
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], CREDENTIALS
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Simulated router"
    assert result["data"] == {CONF_LOCATION: igd.location}
    entry = result["result"]
    assert entry.unique_id == ROUTER_UDN
    (subentry,) = entry.subentries.values()
    assert subentry.subentry_type == SUBENTRY_TUNNEL
    assert subentry.unique_id == TUNNEL_ID
    assert dict(subentry.data) == CREDENTIALS
    # The credentials were checked by the one update that set the endpoint; setup sends nothing.
    assert [(r.myip, r.reply) for r in he.requests] == [(WAN_IP, f"good {WAN_IP}")]
    assert hass.states.get(ENDPOINT).state == WAN_IP
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(EXTERNAL_IP).state == WAN_IP
    # The setup's update is an update: the event entity shows it, not Unknown.
    event = hass.states.get(EVENT)
    assert event.state not in (STATE_UNKNOWN, STATE_UNAVAILABLE)
    assert event.attributes["event_type"] == "updated"
    assert event.attributes["ip"] == WAN_IP
    assert event.attributes["automatic"] is False


async def test_ssdp_incomplete_discovery(hass: HomeAssistant) -> None:
    info = ssdp_discovery("")
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_SSDP}, data=info
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "incomplete_discovery"


async def test_ssdp_not_an_igd(hass: HomeAssistant, igd: IgdSimulator) -> None:
    info = ssdp_discovery(igd.location)
    info.upnp[ATTR_UPNP_DEVICE_TYPE] = "urn:schemas-upnp-org:device:MediaRenderer:1"
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_SSDP}, data=info
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_igd"


async def test_ssdp_igd_v1_and_v2_of_one_router_give_one_flow(
    hass: HomeAssistant, igd: IgdSimulator
) -> None:
    first = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_SSDP},
        data=ssdp_discovery(igd.location, ST_IGD_V1),
    )
    assert first["type"] is FlowResultType.FORM
    second = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_SSDP},
        data=ssdp_discovery(igd.location, ST_IGD_V2),
    )
    assert second["type"] is FlowResultType.ABORT
    assert second["reason"] == "already_in_progress"


async def test_ssdp_known_router_at_new_location_is_followed(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    await setup_entry(hass, config_entry)
    old_location = igd.location
    await igd.stop()
    new_location = await igd.start()
    assert new_location != old_location
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_SSDP}, data=ssdp_discovery(new_location)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert config_entry.data[CONF_LOCATION] == new_location
    assert config_entry.state is ConfigEntryState.LOADED


async def test_confirm_router_gone_then_back(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_SSDP}, data=ssdp_discovery(igd.location)
    )
    location = igd.location
    await igd.stop()
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect_router"}
    await igd.start(port=_port(location))
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "tunnel"


async def _at_tunnel_step(hass: HomeAssistant, igd: IgdSimulator) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_SSDP}, data=ssdp_discovery(igd.location)
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "tunnel"
    return result["flow_id"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({CONF_UPDATE_KEY: "wrong"}, "invalid_auth"),
        ({CONF_USERNAME: "mallory"}, "invalid_auth"),
        ({CONF_TUNNEL_ID: "999"}, "unknown_tunnel"),
        ({CONF_TUNNEL_ID: "tunnel123"}, "invalid_tunnel_id"),
    ],
)
async def test_tunnel_step_input_errors_then_success(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    change: dict[str, str],
    error: str,
) -> None:
    flow_id = await _at_tunnel_step(hass, igd)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**CREDENTIALS, **change}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {FIELD_OF.get(error, "base"): error}
    assert he.tunnel(TUNNEL_ID).endpoint != WAN_IP
    # What was typed is offered again; the key only if HE did not refuse it (a typo in the
    # tunnel ID must not cost the key, a refused key is asked for anew).
    typed = {**CREDENTIALS, **change}
    if error == "invalid_auth":
        del typed[CONF_UPDATE_KEY]
    assert suggested_values(result) == typed
    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert he.tunnel(TUNNEL_ID).endpoint == WAN_IP


async def test_wrong_keys_stop_after_three_refusals(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """HE blocks clients that keep failing to sign in: the fourth wrong key is not sent."""
    flow_id = await _at_tunnel_step(hass, igd)
    wrong = {**CREDENTIALS, CONF_UPDATE_KEY: "wrong"}
    for _ in range(3):
        result = await hass.config_entries.flow.async_configure(flow_id, wrong)
        assert result["errors"] == {CONF_UPDATE_KEY: "invalid_auth"}
        freezer.tick(timedelta(seconds=20))
    assert [r.reply for r in he.requests] == ["badauth"] * 3
    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    assert result["errors"] == {"base": "too_many_auth_failures"}
    # The first refusal, a minute ago, leaves the 15-minute window in 14.
    assert "(in 14 minutes)" in result["description_placeholders"]["until"]
    assert len(he.requests) == 3  # nothing sent
    assert CONF_UPDATE_KEY not in suggested_values(result)
    freezer.tick(timedelta(minutes=15))
    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert he.tunnel(TUNNEL_ID).endpoint == WAN_IP


async def test_setup_when_he_holds_the_address_sends_no_update(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator
) -> None:
    """HE already points the tunnel at the router: the read checks the key, no update."""
    he.tunnel(TUNNEL_ID).endpoint = WAN_IP
    flow_id = await _at_tunnel_step(hass, igd)
    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert he.requests == []
    assert len(he.info_requests) >= 1
    event = hass.states.get(EVENT)
    assert event.attributes["event_type"] == "unchanged"
    assert event.attributes["message"] == "already held (tunnel information)"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("", 503, "cannot_connect"),
        ("911", 200, "cannot_connect"),
        ("badip", 200, "address_refused"),
        ("-ERROR: Tunnel is in maintenance", 200, "he_error"),
        ("<html>proxy login</html>", 200, "unknown"),
    ],
)
async def test_tunnel_step_he_errors_then_success(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    body: str,
    status: int,
    error: str,
) -> None:
    flow_id = await _at_tunnel_step(hass, igd)
    he.force_reply(body, status)
    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    assert result["errors"] == {FIELD_OF.get(error, "base"): error}
    he.clear_forced_reply()
    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_tunnel_step_abuse_holds_the_next_try(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator
) -> None:
    """HE blocked the tunnel: trying again at once would only prolong the block."""
    flow_id = await _at_tunnel_step(hass, igd)
    he.force_reply("abuse")
    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    assert result["errors"] == {"base": "abuse"}
    he.clear_forced_reply()
    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    assert result["errors"] == {"base": "abuse_block_running"}
    # When, in local time, and how far off: "14:05:40 (in 2 hours)".
    assert re.fullmatch(
        r"(\d{2}:\d{2}:\d{2}|\d{4}-\d{2}-\d{2} \d{2}:\d{2}) \(in \d+ (minute|hour)s?\)",
        result["description_placeholders"]["until"],
    ), result["description_placeholders"]
    assert len(he.requests) == 1  # nothing sent the second time


async def test_tunnel_step_he_down(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator
) -> None:
    flow_id = await _at_tunnel_step(hass, igd)
    await he.stop()
    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    assert result["errors"] == {"base": "cannot_connect"}


async def test_tunnel_step_icmp_blocked(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator
) -> None:
    he.state.unpingable.add(WAN_IP)
    flow_id = await _at_tunnel_step(hass, igd)
    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    assert result["errors"] == {"base": "icmp_blocked"}
    assert result["description_placeholders"]["ip"] == WAN_IP
    he.state.unpingable.clear()
    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize("wan_ip", ["100.64.1.2", "192.168.1.2", "0.0.0.0", ""])
async def test_tunnel_step_router_behind_nat(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator, wan_ip: str
) -> None:
    flow_id = await _at_tunnel_step(hass, igd)
    igd.set_external_ip(wan_ip)
    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    assert result["errors"] == {"base": "wan_not_public"}
    assert he.requests == []
    # The form keeps what was typed, the key too: the error is not about it.
    assert suggested_values(result) == CREDENTIALS
    igd.set_external_ip(WAN_IP)
    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_tunnel_step_router_stopped_answering(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator
) -> None:
    flow_id = await _at_tunnel_step(hass, igd)
    await igd.stop()
    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    assert result["errors"] == {"base": "cannot_read_wan_address"}
    assert "127.0.0.1" in result["description_placeholders"]["error"]


async def test_tunnel_already_configured_elsewhere(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator
) -> None:
    router_entry(
        "http://127.0.0.1:1/rootDesc.xml", tunnel_subentry(), udn="uuid:other-router"
    ).add_to_hass(hass)
    flow_id = await _at_tunnel_step(hass, igd)
    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    assert result["errors"] == {"tunnel_id": "tunnel_already_configured"}
    assert he.requests == []


async def test_user_picks_discovered_router(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    discovered: list[SsdpServiceInfo],
) -> None:
    discovered.extend(
        [
            ssdp_discovery(igd.location, ST_IGD_V1),
            ssdp_discovery(igd.location, ST_IGD_V2),
        ]
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    options = result["data_schema"].schema["router"].config["options"]
    assert [option["value"] for option in options] == [igd.location, "manual"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"router": igd.location}
    )
    assert result["step_id"] == "tunnel"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], CREDENTIALS
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == ROUTER_UDN


async def test_user_discovered_router_gone(
    hass: HomeAssistant, igd: IgdSimulator, discovered: list[SsdpServiceInfo]
) -> None:
    discovered.append(ssdp_discovery(igd.location))
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    await igd.stop()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"router": igd.location}
    )
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": "cannot_connect_router"}


async def test_user_skips_configured_and_foreign_discoveries(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    discovered: list[SsdpServiceInfo],
) -> None:
    config_entry.add_to_hass(hass)
    foreign = ssdp_discovery("http://127.0.0.1:2/desc.xml", udn="uuid:printer")
    foreign.upnp[ATTR_UPNP_DEVICE_TYPE] = "urn:schemas-upnp-org:device:Printer:1"
    discovered.extend([ssdp_discovery(igd.location), foreign])
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["step_id"] == "manual"


async def test_user_chooses_manual_entry(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    discovered: list[SsdpServiceInfo],
) -> None:
    discovered.append(ssdp_discovery("http://127.0.0.1:3/other.xml", udn="uuid:other"))
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"router": "manual"}
    )
    assert result["step_id"] == "manual"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_LOCATION: igd.location}
    )
    assert result["step_id"] == "tunnel"


async def test_manual_url_errors_then_success(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    discovered: list[SsdpServiceInfo],
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["step_id"] == "manual"
    flow_id = result["flow_id"]

    # Not a URL at all: said so on the field, before anything is fetched.
    for typed in ("my router", "192.168.1.1", "ftp://192.168.1.1/rootDesc.xml"):
        result = await hass.config_entries.flow.async_configure(
            flow_id, {CONF_LOCATION: typed}
        )
        assert result["errors"] == {CONF_LOCATION: "location_not_url"}, typed
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_LOCATION: igd.location.replace("rootDesc", "nothing")}
    )
    assert result["errors"] == {CONF_LOCATION: "description_http_error"}
    assert result["description_placeholders"] == {"status": "404"}

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_LOCATION: "http://127.0.0.1:9/rootDesc.xml"}
    )
    assert result["errors"] == {CONF_LOCATION: "cannot_connect_router"}

    description = igd.description()
    igd.serve_raw_description(
        description.replace("InternetGatewayDevice:2", "MediaServer:1")
    )
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_LOCATION: igd.location}
    )
    assert result["errors"] == {CONF_LOCATION: "not_igd"}

    igd.serve_raw_description(
        description.replace("WANIPConnection:2", "WANIPv6FirewallControl:1")
    )
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_LOCATION: igd.location}
    )
    assert result["errors"] == {CONF_LOCATION: "no_wan_service"}

    igd.serve_raw_description("<root><unclosed>")
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_LOCATION: igd.location}
    )
    assert result["errors"] == {CONF_LOCATION: "invalid_description"}

    igd.serve_raw_description(None)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_LOCATION: f" {igd.location} "}
    )
    assert result["step_id"] == "tunnel"
    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_LOCATION] == igd.location


async def test_manual_url_of_configured_router_updates_location(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    discovered: list[SsdpServiceInfo],
) -> None:
    entry = router_entry("http://127.0.0.1:1/old.xml")
    entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_LOCATION: igd.location}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_LOCATION] == igd.location


async def test_add_second_tunnel(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    await setup_entry(hass, config_entry)
    he.add_tunnel(USERNAME, "654321", "other-key", endpoint="84.17.9.9")
    result = await hass.config_entries.subentries.async_init(
        (config_entry.entry_id, SUBENTRY_TUNNEL), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    second = {**CREDENTIALS, CONF_TUNNEL_ID: "654321", CONF_UPDATE_KEY: "other-key"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**second, CONF_UPDATE_KEY: "bad"}
    )
    assert result["errors"] == {"update_key": "invalid_auth"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], second
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert he.tunnel("654321").endpoint == WAN_IP
    assert {s.unique_id for s in config_entry.subentries.values()} == {
        TUNNEL_ID,
        "654321",
    }
    # The entry reloaded with both tunnels; the router is still polled by one coordinator.
    assert config_entry.state is ConfigEntryState.LOADED
    assert len(config_entry.runtime_data.tunnels) == 2
    assert hass.states.get("sensor.tunnel_654321_tunnel_endpoint").state == WAN_IP
    event = hass.states.get("event.tunnel_654321_endpoint_update")
    assert event.attributes["event_type"] == "updated"


async def test_add_tunnel_offers_the_routers_account(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    """The username is filled in; an empty update key is the account's other tunnel's."""
    await setup_entry(hass, config_entry)
    he.add_tunnel(USERNAME, "654321", UPDATE_KEY, endpoint="84.17.9.9")
    he.add_tunnel("other-account", "777777", "their-key", endpoint="84.17.9.9")
    result = await hass.config_entries.subentries.async_init(
        (config_entry.entry_id, SUBENTRY_TUNNEL), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert suggested_values(result) == {CONF_USERNAME: USERNAME}
    assert result["description_placeholders"]["sibling"] == f"Tunnel {TUNNEL_ID}"
    assert result["description_placeholders"]["ip"] == WAN_IP
    # The key itself is never sent to the browser.
    assert UPDATE_KEY not in str(result["data_schema"].schema)
    flow_id = result["flow_id"]

    # Another account has no tunnel here whose key could be used: the field says so.
    result = await hass.config_entries.subentries.async_configure(
        flow_id, {CONF_USERNAME: "other-account", CONF_TUNNEL_ID: "777777"}
    )
    assert result["errors"] == {CONF_UPDATE_KEY: "update_key_required"}
    # A wrong tunnel id: the error sits on the tunnel id.
    result = await hass.config_entries.subentries.async_configure(
        flow_id, {CONF_USERNAME: USERNAME, CONF_TUNNEL_ID: "12ab"}
    )
    assert result["errors"] == {CONF_TUNNEL_ID: "invalid_tunnel_id"}
    assert not [r for r in he.requests if r.tunnel_id == "12ab"]

    result = await hass.config_entries.subentries.async_configure(
        flow_id,
        {CONF_USERNAME: USERNAME, CONF_UPDATE_KEY: "", CONF_TUNNEL_ID: "654321"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    added = next(s for s in config_entry.subentries.values() if s.unique_id == "654321")
    assert added.data[CONF_UPDATE_KEY] == UPDATE_KEY
    assert he.tunnel("654321").endpoint == WAN_IP


async def test_add_tunnel_to_a_router_with_none_asks_for_the_key(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
) -> None:
    """No tunnel left on the router: its own form, the key required, no "leave empty"."""
    config_entry = router_entry(igd.location)
    await setup_entry(hass, config_entry)
    result = await hass.config_entries.subentries.async_init(
        (config_entry.entry_id, SUBENTRY_TUNNEL), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "tunnel"
    assert "sibling" not in result["description_placeholders"]
    key = next(k for k in result["data_schema"].schema if str(k) == CONF_UPDATE_KEY)
    assert isinstance(key, vol.Required)
    translations = json.loads(TRANSLATIONS.read_text())
    words = translations["config_subentries"]["tunnel"]["step"]["tunnel"]
    assert "Leave empty" not in words["data_description"]["update_key"]
    # A typo in the tunnel ID: the typed key stays in the form.
    typed = {**CREDENTIALS, CONF_TUNNEL_ID: "12ab"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], typed
    )
    assert result["step_id"] == "tunnel"
    assert result["errors"] == {CONF_TUNNEL_ID: "invalid_tunnel_id"}
    assert suggested_values(result) == typed
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], CREDENTIALS
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert he.tunnel(TUNNEL_ID).endpoint == WAN_IP


async def test_add_tunnel_when_router_not_loaded(
    hass: HomeAssistant, igd: IgdSimulator, config_entry: MockConfigEntry
) -> None:
    await igd.stop()
    await setup_entry(hass, config_entry)
    result = await hass.config_entries.subentries.async_init(
        (config_entry.entry_id, SUBENTRY_TUNNEL), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "router_not_loaded"


async def test_options_flow_turns_automatic_update_off(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    await setup_entry(hass, config_entry)
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_AUTOMATIC_UPDATE: False}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert config_entry.options == {
        CONF_AUTOMATIC_UPDATE: False,
        CONF_HEALTH_INTERVAL: DEFAULT_HEALTH_INTERVAL,
    }
    assert config_entry.state is ConfigEntryState.LOADED
    tunnel = next(iter(config_entry.runtime_data.tunnels.values()))
    assert not tunnel.automatic


@pytest.mark.parametrize(
    ("typed", "errors"),
    [
        (
            {CONF_CALLBACK_URL: "ftp://example"},
            {CONF_CALLBACK_URL: "callback_url_not_http"},
        ),
        (
            {
                CONF_CALLBACK_URL: "https://127.0.0.1:8400/notify",
                CONF_LISTEN_PORT: 8400,
            },
            {CONF_CALLBACK_URL: "callback_url_not_http"},
        ),
        (
            {CONF_CALLBACK_URL: "http:///notify"},
            {CONF_CALLBACK_URL: "callback_url_no_host"},
        ),
        (
            {CONF_CALLBACK_URL: "http://127.0.0.1:99999/notify"},
            {CONF_CALLBACK_URL: "callback_url_bad_port"},
        ),
        (
            {CONF_CALLBACK_URL: "http://127.0.0.1:port/notify"},
            {CONF_CALLBACK_URL: "callback_url_bad_port"},
        ),
        (
            {CONF_CALLBACK_URL: "http://127.0.0.1:8400/notify"},
            {CONF_LISTEN_PORT: "listen_port_required"},
        ),
    ],
)
async def test_options_flow_refuses_event_settings_that_cannot_work(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    typed: dict[str, Any],
    errors: dict[str, str],
    unused_tcp_port: int,
) -> None:
    """A callback URL the router cannot send to is refused on its field; nothing is lost."""
    await setup_entry(hass, config_entry)
    runtime_before = config_entry.runtime_data
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_AUTOMATIC_UPDATE: True, **typed}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    # What was typed stays in the form, to be corrected.
    assert suggested_values(result)[CONF_CALLBACK_URL] == typed[CONF_CALLBACK_URL]
    assert config_entry.options == {}
    assert config_entry.runtime_data is runtime_before  # not reloaded

    # Corrected: saved, and the entry reloads with it.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_AUTOMATIC_UPDATE: True,
            CONF_CALLBACK_URL: f" http://127.0.0.1:{unused_tcp_port}/notify ",
            CONF_LISTEN_PORT: float(unused_tcp_port),
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert config_entry.options == {
        CONF_AUTOMATIC_UPDATE: True,
        CONF_CALLBACK_URL: f"http://127.0.0.1:{unused_tcp_port}/notify",
        CONF_LISTEN_PORT: unused_tcp_port,
        CONF_HEALTH_INTERVAL: DEFAULT_HEALTH_INTERVAL,
    }
    assert config_entry.runtime_data is not runtime_before


@pytest.mark.parametrize(
    ("typed", "errors"),
    [
        (
            {CONF_HEALTH_INTERVAL: 2.5},
            {CONF_HEALTH_INTERVAL: "health_interval_out_of_range"},
        ),
        (
            {CONF_HEALTH_INTERVAL: 0},
            {CONF_HEALTH_INTERVAL: "health_interval_out_of_range"},
        ),
        (
            {CONF_HEALTH_INTERVAL: 61},
            {CONF_HEALTH_INTERVAL: "health_interval_out_of_range"},
        ),
        ({CONF_LISTEN_PORT: 70000}, {CONF_LISTEN_PORT: "listen_port_not_a_port"}),
        ({CONF_LISTEN_PORT: 80.5}, {CONF_LISTEN_PORT: "listen_port_not_a_port"}),
    ],
)
async def test_options_flow_numbers_are_whole_and_in_range(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    typed: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """2.5 minutes is not saved as 2: it is refused on its field, in words, nothing lost."""
    await setup_entry(hass, config_entry)
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_AUTOMATIC_UPDATE: True, CONF_HEALTH_INTERVAL: 5, **typed},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    (field,) = errors
    assert suggested_values(result)[field] == typed[field]
    assert config_entry.options == {}
    translations = json.loads(TRANSLATIONS.read_text())
    message = translations["options"]["error"][errors[field]]
    assert "whole number" in message
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_AUTOMATIC_UPDATE: True, CONF_HEALTH_INTERVAL: 7.0}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert config_entry.options == {
        CONF_AUTOMATIC_UPDATE: True,
        CONF_HEALTH_INTERVAL: 7,
    }


async def test_options_flow_empty_event_fields_mean_automatic(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    await setup_entry(hass, config_entry, options={CONF_LISTEN_PORT: 0})
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    assert CONF_LISTEN_PORT not in suggested_values(result)  # an old 0: any port
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_AUTOMATIC_UPDATE: True, CONF_CALLBACK_URL: "  "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert config_entry.options == {
        CONF_AUTOMATIC_UPDATE: True,
        CONF_HEALTH_INTERVAL: DEFAULT_HEALTH_INTERVAL,
    }


# -- reauth: HE refused a tunnel's credentials ------------------------------------------------

NEW_KEY = "n3w-Upd4te-K3y"


def suggested_values(result: Any) -> dict[str, Any]:
    """The values a form shows prefilled."""
    return {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }


def tunnel_subentry_id(entry: MockConfigEntry, tunnel_id: str = TUNNEL_ID) -> str:
    """The subentry id of a configured tunnel."""
    return next(
        subentry_id
        for subentry_id, subentry in entry.subentries.items()
        if subentry.data[CONF_TUNNEL_ID] == tunnel_id
    )


async def reload_count(hass: HomeAssistant, igd: IgdSimulator, before: int) -> int:
    """How many times the entry was set up since `before` (igd.gena.notifies_sent then).

    Each setup subscribes to the router's events, and the router answers each new
    subscription with one initial NOTIFY.
    """
    await hass.async_block_till_done(wait_background_tasks=True)
    await igd.gena.drain()
    return igd.gena.notifies_sent - before


async def test_reauth_started_by_runtime_takes_new_key(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator, loaded: MockConfigEntry
) -> None:
    he.tunnel(TUNNEL_ID).update_key = NEW_KEY
    await igd.gena.drain()
    notifies_before = igd.gena.notifies_sent
    subentry_id = tunnel_subentry_id(loaded)
    runtime_before = loaded.runtime_data
    info_before = len(he.info_requests)
    # What the runtime does when HE answers badauth.
    loaded.async_start_reauth(hass, data={"subentry_id": subentry_id})
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"
    assert flow["step_id"] == "reauth_confirm"

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_USERNAME: USERNAME, CONF_UPDATE_KEY: "old-guess"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"update_key": "invalid_auth"}
    assert result["description_placeholders"] == {
        "name": "Simulated router",
        "tunnel": f"Tunnel {TUNNEL_ID}",
        "tunnel_id": TUNNEL_ID,
        "ip": WAN_IP,
        "message": "badauth",
    }
    # The username stays filled in; the key is never sent back to the browser.
    assert suggested_values(result) == {CONF_USERNAME: USERNAME}

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_USERNAME: f" {USERNAME} ", CONF_UPDATE_KEY: NEW_KEY}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert dict(loaded.subentries[subentry_id].data) == {
        CONF_USERNAME: USERNAME,
        CONF_UPDATE_KEY: NEW_KEY,
        CONF_TUNNEL_ID: TUNNEL_ID,
    }
    # The wrong key: HE refused its tunnel information, and the update (badauth). The new
    # key: HE's information, read with it, shows HE holds the address: no update is sent,
    # and the reload after it sent nothing either.
    assert [(r.tunnel_id, r.authorized, r.reply) for r in he.requests] == [
        (TUNNEL_ID, False, "badauth"),
    ]
    assert [r.authorized for r in he.info_requests[info_before:]][:2] == [False, True]
    assert loaded.state is ConfigEntryState.LOADED
    assert loaded.runtime_data is not runtime_before
    assert await reload_count(hass, igd, notifies_before) == 1
    assert hass.states.get(ENDPOINT).state == WAN_IP


async def test_two_tunnels_refused_at_once_both_reach_the_user(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """HE refuses both tunnels of the router; HA keeps one reauth flow per entry.

    That one flow asks for the first tunnel, then for the second: neither is left
    without a prompt.
    """
    second = "654321"
    config_entry = router_entry(
        igd.location, tunnel_subentry(), tunnel_subentry(second, "key-2")
    )
    he.add_tunnel(USERNAME, second, "key-2", endpoint=WAN_IP)
    he.tunnel(TUNNEL_ID).endpoint = WAN_IP
    await setup_entry(hass, config_entry)
    # The account's keys were regenerated on tunnelbroker.net; then the address changed.
    he.tunnel(TUNNEL_ID).update_key = NEW_KEY
    he.tunnel(second).update_key = "new-key-2"
    await wan_change(hass, igd, freezer, "84.17.5.5")
    assert sorted(r.reply for r in he.requests[-2:]) == ["badauth", "badauth"]

    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"
    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    asked = [result["description_placeholders"]["tunnel_id"]]
    keys = {TUNNEL_ID: NEW_KEY, second: "new-key-2"}
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_USERNAME: USERNAME, CONF_UPDATE_KEY: keys[asked[0]]}
    )
    # Not done: the other refused tunnel is asked for next, in the same flow.
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    asked.append(result["description_placeholders"]["tunnel_id"])
    assert sorted(asked) == sorted([TUNNEL_ID, second])
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_USERNAME: USERNAME, CONF_UPDATE_KEY: keys[asked[1]]}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert {
        s.data[CONF_TUNNEL_ID]: s.data[CONF_UPDATE_KEY]
        for s in config_entry.subentries.values()
    } == keys
    assert he.tunnel(TUNNEL_ID).endpoint == he.tunnel(second).endpoint == "84.17.5.5"
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_reauth_form_names_the_tunnel(
    hass: HomeAssistant, he: HeSimulator, loaded: MockConfigEntry
) -> None:
    result = await loaded.start_reauth_flow(
        hass, data={"subentry_id": tunnel_subentry_id(loaded)}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["errors"] == {}
    assert result["description_placeholders"] == {
        "name": "Simulated router",
        "tunnel": f"Tunnel {TUNNEL_ID}",
        "tunnel_id": TUNNEL_ID,
        "ip": WAN_IP,  # the form says which address would be sent
    }
    assert set(result["data_schema"].schema) == {CONF_USERNAME, CONF_UPDATE_KEY}
    assert suggested_values(result) == {CONF_USERNAME: USERNAME}
    assert he.requests == []


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("badauth", 200, "invalid_auth"),
        ("", 503, "cannot_connect"),
    ],
)
async def test_reauth_he_errors_then_same_key_accepted(
    hass: HomeAssistant,
    he: HeSimulator,
    loaded: MockConfigEntry,
    body: str,
    status: int,
    error: str,
) -> None:
    """HE's trouble passed: the unchanged key is accepted, and the entry still reloads."""
    he.tunnel(TUNNEL_ID).endpoint = "198.51.100.1"  # an update is needed: HE answers it
    subentry_id = tunnel_subentry_id(loaded)
    runtime_before = loaded.runtime_data
    result = await loaded.start_reauth_flow(hass, data={"subentry_id": subentry_id})
    he.force_reply(body, status)
    typed = {CONF_USERNAME: USERNAME, CONF_UPDATE_KEY: UPDATE_KEY}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], typed)
    assert result["errors"] == {FIELD_OF.get(error, "base"): error}
    he.clear_forced_reply()
    result = await hass.config_entries.flow.async_configure(result["flow_id"], typed)
    await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"
    assert loaded.subentries[subentry_id].data[CONF_UPDATE_KEY] == UPDATE_KEY
    assert len(he.requests) == 2
    assert loaded.state is ConfigEntryState.LOADED
    assert loaded.runtime_data is not runtime_before


@pytest.mark.parametrize("data", [{}, {"subentry_id": "01JUNKNOWNSUBENTRY"}])
async def test_reauth_for_unknown_tunnel_aborts(
    hass: HomeAssistant,
    he: HeSimulator,
    loaded: MockConfigEntry,
    data: dict[str, str],
) -> None:
    result = await loaded.start_reauth_flow(hass, data=data)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_tunnel_unknown"
    assert he.requests == []


async def test_reauth_while_router_down_then_back(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Not loaded: the router's address is unknown; once it answers the key is checked."""
    location = igd.location
    await igd.stop()
    await setup_entry(hass, config_entry)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    he.tunnel(TUNNEL_ID).update_key = NEW_KEY
    subentry_id = tunnel_subentry_id(config_entry)
    result = await config_entry.start_reauth_flow(
        hass, data={"subentry_id": subentry_id}
    )
    typed = {CONF_USERNAME: USERNAME, CONF_UPDATE_KEY: NEW_KEY}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], typed)
    assert result["errors"] == {"base": "cannot_read_wan_address"}
    assert result["description_placeholders"]["error"] == (
        "the router's entry is not loaded"
    )
    assert he.requests == []

    await igd.start(port=_port(location))
    result = await hass.config_entries.flow.async_configure(result["flow_id"], typed)
    assert result["errors"] == {
        "base": "cannot_read_wan_address"
    }  # the entry is not loaded yet
    # HA retries the setup; the open form stays (a reload would abort it).
    freezer.tick(timedelta(minutes=5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert config_entry.state is ConfigEntryState.LOADED
    runtime_before = config_entry.runtime_data
    result = await hass.config_entries.flow.async_configure(result["flow_id"], typed)
    await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"
    assert config_entry.subentries[subentry_id].data[CONF_UPDATE_KEY] == NEW_KEY
    assert config_entry.state is ConfigEntryState.LOADED
    assert config_entry.runtime_data is not runtime_before
    # The setup's own update still used the old key; the form's check set the endpoint.
    assert [r.reply for r in he.requests] == ["badauth", f"good {WAN_IP}"]


async def test_reauth_tunnel_removed_while_router_down(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    """A tunnel removed while the reauth form is open: the next step says so.

    (While the entry is loaded, the removal reloads it, and a reload aborts reauth flows.)
    """
    await igd.stop()
    await setup_entry(hass, config_entry)
    subentry_id = tunnel_subentry_id(config_entry)
    result = await config_entry.start_reauth_flow(
        hass, data={"subentry_id": subentry_id}
    )
    assert hass.config_entries.async_remove_subentry(config_entry, subentry_id)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_USERNAME: USERNAME, CONF_UPDATE_KEY: NEW_KEY}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_tunnel_unknown"
    assert he.requests == []


# -- reconfigure the router: another description URL ------------------------------------------


async def test_reconfigure_router_to_new_url(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator, loaded: MockConfigEntry
) -> None:
    old_location = igd.location
    await igd.stop()
    new_location = await igd.start()
    runtime_before = loaded.runtime_data
    notifies_before = igd.gena.notifies_sent
    result = await loaded.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert suggested_values(result) == {CONF_LOCATION: old_location}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_LOCATION: old_location}
    )
    assert result["errors"] == {CONF_LOCATION: "cannot_connect_router"}
    assert suggested_values(result) == {CONF_LOCATION: old_location}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_LOCATION: f" {new_location} "}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert dict(loaded.data) == {CONF_LOCATION: new_location}
    assert loaded.state is ConfigEntryState.LOADED
    assert loaded.runtime_data is not runtime_before
    assert await reload_count(hass, igd, notifies_before) == 1
    assert hass.states.get(EXTERNAL_IP).state == WAN_IP
    assert he.requests == []


async def test_reconfigure_router_refuses_another_router(
    hass: HomeAssistant, he: HeSimulator, loaded: MockConfigEntry
) -> None:
    location = loaded.data[CONF_LOCATION]
    other = IgdSimulator(udn="uuid:another-router", external_ip="84.17.0.99")
    other_location = await other.start()
    try:
        result = await loaded.start_reconfigure_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_LOCATION: other_location}
        )
    finally:
        await other.stop()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_router"
    assert loaded.data[CONF_LOCATION] == location
    assert loaded.state is ConfigEntryState.LOADED


async def test_reconfigure_router_same_url_retries_setup_now(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    """Router back at the same URL while the entry waits to retry: confirming it loads it."""
    location = igd.location
    await igd.stop()
    await setup_entry(hass, config_entry)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    await igd.start(port=_port(location))
    result = await config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_LOCATION: location}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_retried"
    assert config_entry.data[CONF_LOCATION] == location
    assert config_entry.state is ConfigEntryState.LOADED


async def test_reconfigure_router_same_url_says_nothing_changed(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator, loaded: MockConfigEntry
) -> None:
    """The URL in use, the router answering there: nothing changes, nothing reloads."""
    runtime_before = loaded.runtime_data
    result = await loaded.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_LOCATION: loaded.data[CONF_LOCATION]}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_unchanged"
    assert result["description_placeholders"] == {"name": "Simulated router"}
    assert loaded.runtime_data is runtime_before
    assert he.requests == []


# -- reconfigure a tunnel: credentials or tunnel id (HE's nohost) -----------------------------

OTHER_TUNNEL = "654321"


async def test_reconfigure_tunnel_to_right_id_keeps_key(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    he: HeSimulator,
    loaded: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """The fix for nohost: the id was wrong; an empty key field keeps the key."""
    he.add_tunnel(USERNAME, OTHER_TUNNEL, UPDATE_KEY, endpoint="198.51.100.7")
    subentry_id = tunnel_subentry_id(loaded)
    old_entity = ENDPOINT
    assert entity_registry.async_get(old_entity) is not None
    result = await loaded.start_subentry_reconfigure_flow(hass, subentry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["description_placeholders"] == {
        "name": "Simulated router",
        "tunnel": f"Tunnel {TUNNEL_ID}",
        "tunnel_id": TUNNEL_ID,
        "ip": WAN_IP,  # the form says which address would be sent
    }
    assert suggested_values(result) == {
        CONF_USERNAME: USERNAME,
        CONF_TUNNEL_ID: TUNNEL_ID,
    }
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_USERNAME: USERNAME, CONF_TUNNEL_ID: OTHER_TUNNEL}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    # The frontend gives a subentry flow's result dialog no title (its handler is a pair):
    # the message opens with one.
    texts = await async_get_translations(hass, "en", "config_subentries", [DOMAIN])
    message = texts[
        f"component.{DOMAIN}.config_subentries.tunnel.abort.reconfigure_successful"
    ]
    assert message.startswith("## Tunnel changed\n")
    subentry = loaded.subentries[subentry_id]
    assert dict(subentry.data) == {
        CONF_USERNAME: USERNAME,
        CONF_UPDATE_KEY: UPDATE_KEY,
        CONF_TUNNEL_ID: OTHER_TUNNEL,
    }
    assert subentry.unique_id == OTHER_TUNNEL
    assert subentry.title == f"Tunnel {OTHER_TUNNEL}"
    assert [(r.tunnel_id, r.reply) for r in he.requests] == [
        (OTHER_TUNNEL, f"good {WAN_IP}")
    ]
    # The old id's remembered endpoint, device and entities are gone; the new ones are there.
    assert set(hass_storage[STORAGE_KEY]["data"]) == {OTHER_TUNNEL}
    assert entity_registry.async_get(old_entity) is None
    assert find_device(hass, f"tunnel_{TUNNEL_ID}") is None
    assert loaded.state is ConfigEntryState.LOADED
    assert hass.states.get("sensor.tunnel_654321_tunnel_endpoint").state == WAN_IP


async def test_reconfigure_tunnel_errors_then_new_key(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
) -> None:
    """Each refusal keeps the form (without the key); a title the user chose stays."""
    config_entry = router_entry(
        igd.location, tunnel_subentry(), tunnel_subentry(OTHER_TUNNEL, "other-key")
    )
    he.add_tunnel(USERNAME, OTHER_TUNNEL, "other-key", endpoint=WAN_IP)
    seed_endpoint(hass_storage, WAN_IP, he=he)
    await setup_entry(hass, config_entry)
    subentry_id = tunnel_subentry_id(config_entry)
    hass.config_entries.async_update_subentry(
        config_entry, config_entry.subentries[subentry_id], title="Home"
    )
    await hass.async_block_till_done()
    he.tunnel(TUNNEL_ID).update_key = NEW_KEY
    sent_by_setup = len(he.requests)
    result = await config_entry.start_subentry_reconfigure_flow(hass, subentry_id)
    assert result["description_placeholders"]["tunnel"] == "Home"
    flow_id = result["flow_id"]
    for typed, error in (
        ({CONF_TUNNEL_ID: OTHER_TUNNEL}, "tunnel_already_configured"),
        ({CONF_TUNNEL_ID: "111"}, "unknown_tunnel"),
        ({CONF_TUNNEL_ID: "tunnel 1"}, "invalid_tunnel_id"),
        ({CONF_UPDATE_KEY: "wrong"}, "invalid_auth"),
    ):
        result = await hass.config_entries.subentries.async_configure(
            flow_id, {CONF_USERNAME: USERNAME, CONF_TUNNEL_ID: TUNNEL_ID, **typed}
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {FIELD_OF.get(error, "base"): error}
        assert CONF_UPDATE_KEY not in suggested_values(result)
    # Each check: HE refused its tunnel information, so the update was sent to check.
    checks = he.requests[sent_by_setup:]
    assert [r.reply for r in checks] == ["nohost", "badauth"]
    result = await hass.config_entries.subentries.async_configure(
        flow_id,
        {CONF_USERNAME: USERNAME, CONF_TUNNEL_ID: TUNNEL_ID, CONF_UPDATE_KEY: NEW_KEY},
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    subentry = config_entry.subentries[subentry_id]
    assert subentry.title == "Home"
    assert subentry.data[CONF_UPDATE_KEY] == NEW_KEY
    # The new key read HE's information: HE holds the router's address, nothing was sent.
    assert len(he.requests) == sent_by_setup + 2
    assert config_entry.state is ConfigEntryState.LOADED


async def test_reconfigure_tunnel_unchanged_says_so(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator, loaded: MockConfigEntry
) -> None:
    """Nothing changed, HE holds the router's address: nothing is sent, nothing reloads."""
    info_before = len(he.info_requests)
    subentry_id = tunnel_subentry_id(loaded)
    runtime_before = loaded.runtime_data
    await igd.gena.drain()
    notifies_before = igd.gena.notifies_sent
    result = await loaded.start_subentry_reconfigure_flow(hass, subentry_id)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_USERNAME: USERNAME, CONF_TUNNEL_ID: TUNNEL_ID, CONF_UPDATE_KEY: ""},
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_unchanged"
    assert dict(loaded.subentries[subentry_id].data) == CREDENTIALS
    # In sync, nothing changed: HE is neither sent to nor read, and the entry stays.
    assert he.requests == []
    assert len(he.info_requests) == info_before
    assert loaded.state is ConfigEntryState.LOADED
    assert loaded.runtime_data is runtime_before
    assert await reload_count(hass, igd, notifies_before) == 0


async def test_reconfigure_tunnel_while_router_down(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    await igd.stop()
    await setup_entry(hass, config_entry)
    result = await config_entry.start_subentry_reconfigure_flow(
        hass, tunnel_subentry_id(config_entry)
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], CREDENTIALS
    )
    assert result["errors"] == {"base": "cannot_read_wan_address"}
    assert he.requests == []


# -- a fix through a flow ends what it fixes -------------------------------------------------


async def test_reconfigure_after_nohost_clears_the_repair(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.force_reply("nohost")
    await wan_change(hass, igd, freezer, "84.17.3.3")
    issue_id = f"tunnel_not_found_{TUNNEL_ID}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    # The tunnel was recreated at HE under the same id: confirming the details fixes it.
    he.clear_forced_reply()
    result = await loaded.start_subentry_reconfigure_flow(
        hass, tunnel_subentry_id(loaded)
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_USERNAME: USERNAME, CONF_TUNNEL_ID: TUNNEL_ID}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert [r.reply for r in he.requests] == ["nohost", "good 84.17.3.3"]
    # Nothing stands any more: the next change is sent as usual.
    await poll(hass, freezer, timedelta(minutes=3))
    await wan_change(hass, igd, freezer, "84.17.3.4")
    assert [r.reply for r in he.requests][-1] == "good 84.17.3.4"


async def test_flow_sends_nothing_during_an_abuse_block(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.force_reply("abuse")
    await wan_change(hass, igd, freezer, "84.17.3.3")
    he.clear_forced_reply()
    result = await loaded.start_subentry_reconfigure_flow(
        hass, tunnel_subentry_id(loaded)
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_USERNAME: USERNAME, CONF_TUNNEL_ID: TUNNEL_ID}
    )
    assert result["errors"] == {"base": "abuse_block_running"}
    assert "(in " in result["description_placeholders"]["until"]
    assert len(he.requests) == 1


async def test_the_setup_flows_update_starts_the_minimum_interval(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A WAN change 30 s after setup waits for the interval: HE just took the flow's update."""
    flow_id = await _at_tunnel_step(hass, igd)
    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert [r.reply for r in he.requests] == [f"good {WAN_IP}"]
    freezer.tick(timedelta(seconds=30))
    await wan_change(hass, igd, freezer, "84.17.3.5")
    assert len(he.requests) == 1
    assert hass.states.get(STATUS).state == "rate_limited"
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert [r.reply for r in he.requests][-1] == "good 84.17.3.5"


async def test_a_reconfigures_update_starts_the_minimum_interval(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.tunnel(TUNNEL_ID).endpoint = "198.51.100.9"  # moved by hand on HE's tunnel page
    result = await loaded.start_subentry_reconfigure_flow(
        hass, tunnel_subentry_id(loaded)
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_USERNAME: USERNAME,
            CONF_UPDATE_KEY: "new-key",
            CONF_TUNNEL_ID: TUNNEL_ID,
        },
    )
    he.tunnel(TUNNEL_ID).update_key = "new-key"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_USERNAME: USERNAME,
            CONF_UPDATE_KEY: "new-key",
            CONF_TUNNEL_ID: TUNNEL_ID,
        },
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert [r.reply for r in he.requests] == ["badauth", f"good {WAN_IP}"]
    freezer.tick(timedelta(seconds=30))
    await wan_change(hass, igd, freezer, "84.17.3.6")
    assert len(he.requests) == 2
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert [r.reply for r in he.requests][-1] == "good 84.17.3.6"


async def test_a_spoofed_announcement_does_not_move_the_router(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    """Another host announces the router's UDN with its own IGD: nothing of it is used."""
    await setup_entry(hass, config_entry)
    requests = len(he.requests)
    rogue = IgdSimulator(udn=ROUTER_UDN, external_ip="84.17.66.66")
    await rogue.start(host="127.0.0.2")
    try:
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_SSDP}, data=ssdp_discovery(rogue.location)
        )
        await hass.async_block_till_done(wait_background_tasks=True)
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "already_configured"
        assert config_entry.data[CONF_LOCATION] == igd.location
        assert config_entry.state is ConfigEntryState.LOADED
        assert rogue.gena.subscriptions == {}  # not even read
        assert len(he.requests) == requests
        issue = ir.async_get(hass).async_get_issue(
            DOMAIN, f"router_moved_{config_entry.entry_id}"
        )
        assert issue is not None
        assert issue.translation_placeholders["announced"] == rogue.location
    finally:
        await rogue.stop()


async def test_setup_refuses_another_device_at_the_routers_location(
    hass: HomeAssistant, he: HeSimulator, igd: IgdSimulator
) -> None:
    """The stored URL now answers with another UPnP identity: nothing is read or sent."""
    entry = router_entry(
        igd.location, tunnel_subentry(), udn="uuid:the-router-that-was-set-up"
    )
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None
    assert "is not the router Simulated router was set up with" in entry.reason
    assert he.requests == []


def test_every_answer_he_can_give_a_flow_has_a_field_error() -> None:
    """No KeyError for an answer the map forgot: each failure has words in both forms."""
    translations = json.loads(
        (Path(tunnel_flow.__file__).parent / "translations" / "en.json").read_text()
    )
    failures = {s for s in UpdateStatus if not UpdateResult(s).success}
    assert set(tunnel_flow.UPDATE_ERRORS) == failures
    for error in tunnel_flow.UPDATE_ERRORS.values():
        assert translations["config"]["error"][error]
        assert translations["config_subentries"]["tunnel"]["error"][error]
