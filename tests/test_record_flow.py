"""The Add DNS record flow, its reconfigure and its reauth, as a user meets them.

Every form goes through Home Assistant's subentry (or config) flow manager, the router is the
simulated IGD and HE is the simulated dns.he.net: what HE answers is shown on the field it
concerns, and what was typed is kept.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tunnelbroker.const import (
    CONF_DNS_KEY,
    CONF_HOSTNAME,
    CONF_IPV6_ADDRESS,
    DOMAIN,
    SUBENTRY_DNS_RECORD,
)
from custom_components.tunnelbroker.protocol.update_policy import MIN_UPDATE_INTERVAL
from homeassistant.config_entries import SOURCE_USER, ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from simulators.he import HeSimulator
from simulators.igd import IgdSimulator

from .conftest import (
    RECORD_KEY,
    RECORD_NAME,
    TUNNEL_ID,
    WAN_IP,
    record_subentry,
    routed_host,
    router_entry,
    setup_entry,
    tunnel_subentry,
    wan_change,
)
from .support.entity_ids import (
    RECORD_ADDRESS as ADDRESS,
    RECORD_EVENT,
    RECORD_IPV6_ADDRESS as IPV6_ADDRESS,
    RECORD_STATUS as STATUS,
)

# The simulated HE's tunnel: its routed /64 (the AAAA's address must be in it).


async def _start(hass: HomeAssistant, entry: MockConfigEntry) -> FlowResult:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_DNS_RECORD), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    return result


async def _submit(
    hass: HomeAssistant, result: FlowResult, user_input: dict[str, Any]
) -> FlowResult:
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], user_input
    )
    await hass.async_block_till_done()
    return result


def _suggested(result: FlowResult) -> dict[str, Any]:
    return {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }


def _record(entry: MockConfigEntry) -> ConfigSubentry:
    (record,) = (
        subentry
        for subentry in entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_DNS_RECORD
    )
    return record


async def _record_added(hass: HomeAssistant, igd: IgdSimulator) -> MockConfigEntry:
    """Set up a router with the tunnel, and add home.example.org through the flow."""
    entry = router_entry(igd.location, tunnel_subentry())
    await setup_entry(hass, entry)
    await _submit(
        hass,
        await _start(hass, entry),
        {CONF_HOSTNAME: RECORD_NAME, CONF_DNS_KEY: RECORD_KEY},
    )
    return entry


async def test_add_record_each_answer_on_its_field(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator
) -> None:
    """A user types a bad name, an unknown record, a wrong key, then the right one."""
    entry = router_entry(igd.location, tunnel_subentry())
    await setup_entry(hass, entry)
    result = await _start(hass, entry)
    assert result["step_id"] == "user"
    assert result["description_placeholders"]["ip"] == WAN_IP

    # Not a FQDN: said on the field, without asking HE.
    result = await _submit(
        hass, result, {CONF_HOSTNAME: "home", CONF_DNS_KEY: RECORD_KEY}
    )
    assert result["errors"] == {CONF_HOSTNAME: "not_fqdn"}
    assert he.dns_requests == []
    assert _suggested(result)[CONF_DNS_KEY] == RECORD_KEY  # the key typed stays

    # A record dns.he.net does not have.
    result = await _submit(
        hass, result, {CONF_HOSTNAME: "nas.example.org", CONF_DNS_KEY: RECORD_KEY}
    )
    assert result["errors"] == {CONF_HOSTNAME: "record_not_found"}

    # A wrong key: said on the key, which is asked for anew.
    result = await _submit(
        hass, result, {CONF_HOSTNAME: RECORD_NAME, CONF_DNS_KEY: "wrong"}
    )
    assert result["errors"] == {CONF_DNS_KEY: "record_key_refused"}
    assert CONF_DNS_KEY not in _suggested(result)
    assert _suggested(result)[CONF_HOSTNAME] == RECORD_NAME

    # Upper case and a trailing dot, as a zone file writes it: the record's name.
    result = await _submit(
        hass, result, {CONF_HOSTNAME: "Home.Example.org.", CONF_DNS_KEY: RECORD_KEY}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == RECORD_NAME
    record = _record(entry)
    assert dict(record.data) == {CONF_HOSTNAME: RECORD_NAME, CONF_DNS_KEY: RECORD_KEY}
    assert he.record(RECORD_NAME).a == WAN_IP
    # Three refused checks and the one that set the record: nothing more after setup.
    assert [r.reply for r in he.dns_requests] == [
        "nohost",
        "badauth",
        f"good {WAN_IP}",
    ]
    assert hass.states.get(STATUS).state == "in_sync"
    assert hass.states.get(ADDRESS).state == WAN_IP
    event = hass.states.get(RECORD_EVENT)
    assert event.attributes["event_type"] == "updated"
    assert event.attributes["ip"] == WAN_IP


async def test_add_record_twice_is_refused(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator
) -> None:
    entry = router_entry(igd.location, tunnel_subentry(), record_subentry())
    await setup_entry(hass, entry)
    requests = len(he.dns_requests)
    result = await _submit(
        hass,
        await _start(hass, entry),
        {CONF_HOSTNAME: RECORD_NAME, CONF_DNS_KEY: RECORD_KEY},
    )
    assert result["errors"] == {CONF_HOSTNAME: "record_already_configured"}
    assert len(he.dns_requests) == requests


async def test_he_down_loses_nothing(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator
) -> None:
    """HE does not answer: the form says so and keeps what was typed; next time it works."""
    entry = router_entry(igd.location, tunnel_subentry())
    await setup_entry(hass, entry)
    he.force_dns_reply("", status=503)
    typed = {CONF_HOSTNAME: RECORD_NAME, CONF_DNS_KEY: RECORD_KEY}
    result = await _submit(hass, await _start(hass, entry), typed)
    assert result["errors"] == {"base": "cannot_connect"}
    assert _suggested(result) == typed
    he.clear_forced_dns_reply()
    result = await _submit(hass, result, typed)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert he.record(RECORD_NAME).a == WAN_IP


async def test_aaaa_must_be_a_host_of_the_routed_prefix(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator
) -> None:
    """The AAAA's address: global, inside the tunnel's routed prefix; its own request."""
    entry = router_entry(igd.location, tunnel_subentry())
    await setup_entry(hass, entry)
    host = routed_host(he)
    result = await _start(hass, entry)
    # The form names the prefix the address must be in.
    assert (
        result["description_placeholders"]["prefixes"] == he.tunnel(TUNNEL_ID).routed_64
    )
    typed = {CONF_HOSTNAME: RECORD_NAME, CONF_DNS_KEY: RECORD_KEY}
    result = await _submit(hass, result, {**typed, CONF_IPV6_ADDRESS: "fe80::1"})
    assert result["errors"] == {CONF_IPV6_ADDRESS: "ipv6_not_global"}
    result = await _submit(
        hass, result, {**typed, CONF_IPV6_ADDRESS: "2a00:1450:4001::1"}
    )
    assert result["errors"] == {CONF_IPV6_ADDRESS: "ipv6_not_in_prefix"}
    assert he.dns_requests == []
    result = await _submit(hass, result, {**typed, CONF_IPV6_ADDRESS: host})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # A and AAAA, each its own request (dns.he.net refuses them combined).
    assert [(r.myip, r.reply) for r in he.dns_requests] == [
        (WAN_IP, f"good {WAN_IP}"),
        (host, f"good {host}"),
    ]
    assert he.record(RECORD_NAME).aaaa == host
    assert hass.states.get(IPV6_ADDRESS).state == host


async def test_reconfigure_unchanged_sends_nothing(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator
) -> None:
    entry = await _record_added(hass, igd)
    requests = len(he.dns_requests)
    record = _record(entry)
    result = await entry.start_subentry_reconfigure_flow(hass, record.subentry_id)
    assert result["step_id"] == "reconfigure"
    assert RECORD_KEY not in str(result["data_schema"].schema)
    result = await _submit(hass, result, {})  # an empty key keeps the key
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_unchanged"
    assert len(he.dns_requests) == requests


async def test_wrong_key_later_asks_for_it_in_reauth(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The key is regenerated on dns.he.net: the next change is refused, reauth fixes it."""
    entry = router_entry(igd.location, tunnel_subentry(), record_subentry())
    await setup_entry(hass, entry)
    he.record(RECORD_NAME).key = "new-key"
    freezer.tick(MIN_UPDATE_INTERVAL)  # the setup's update is not that recent
    await wan_change(hass, igd, freezer, "84.17.0.77")
    assert hass.states.get(STATUS).state == "refused"
    (flow,) = [
        flow
        for flow in hass.config_entries.flow.async_progress()
        if flow["handler"] == DOMAIN
    ]
    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert result["step_id"] == "reauth_record"
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_DNS_KEY: "still-wrong"}
    )
    assert result["errors"] == {CONF_DNS_KEY: "record_key_refused"}
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_DNS_KEY: "new-key"}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"
    assert _record(entry).data[CONF_DNS_KEY] == "new-key"
    assert he.record(RECORD_NAME).a == "84.17.0.77"
    assert hass.states.get(STATUS).state == "in_sync"


async def test_offers_this_home_assistants_addresses_in_the_prefix(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator
) -> None:
    """The AAAA field lists this host's addresses inside a routed prefix, and only those."""
    entry = router_entry(igd.location, tunnel_subentry())
    await setup_entry(hass, entry)
    host = routed_host(he)
    adapters = [
        {
            "name": "eth0",
            "enabled": True,
            "auto": True,
            "default": True,
            "index": 2,
            "ipv4": [],
            "ipv6": [
                {"address": host, "flowinfo": 0, "scope_id": 0, "network_prefix": 64},
                {
                    "address": "2a00:1450::5",
                    "flowinfo": 0,
                    "scope_id": 0,
                    "network_prefix": 64,
                },
                {
                    "address": "fe80::5",
                    "flowinfo": 0,
                    "scope_id": 2,
                    "network_prefix": 64,
                },
            ],
        },
        {
            "name": "eth1",
            "enabled": False,
            "auto": False,
            "default": False,
            "index": 3,
            "ipv4": [],
            "ipv6": [
                {
                    "address": routed_host(he)[:-2] + "99",
                    "flowinfo": 0,
                    "scope_id": 0,
                    "network_prefix": 64,
                }
            ],
        },
    ]
    with patch(
        "homeassistant.components.network.async_get_adapters", return_value=adapters
    ):
        result = await _start(hass, entry)
    (selector,) = (
        value
        for key, value in result["data_schema"].schema.items()
        if str(key) == CONF_IPV6_ADDRESS
    )
    assert selector.config["options"] == [host]
    assert selector.config["custom_value"] is True


async def test_reconfigure_adds_an_aaaa_with_its_one_request(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator
) -> None:
    """The key unchanged and the A held: only the new AAAA goes to dns.he.net."""
    entry = await _record_added(hass, igd)
    host = routed_host(he)
    before = len(he.dns_requests)
    record = _record(entry)
    result = await entry.start_subentry_reconfigure_flow(hass, record.subentry_id)
    result = await _submit(hass, result, {CONF_IPV6_ADDRESS: host})
    assert result["reason"] == "reconfigure_successful"
    assert [(r.myip, r.reply) for r in he.dns_requests[before:]] == [
        (host, f"good {host}")
    ]
    await hass.async_block_till_done()
    assert _record(entry).data[CONF_IPV6_ADDRESS] == host
    assert hass.states.get(IPV6_ADDRESS).state == host
    # After the reload the AAAA is held: nothing more is sent.
    assert len(he.dns_requests) == before + 1


async def test_refused_keys_then_the_form_waits(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator
) -> None:
    """Three refused keys in a row: the fourth try waits (HE blocks such clients)."""
    entry = router_entry(igd.location, tunnel_subentry())
    await setup_entry(hass, entry)
    result = await _start(hass, entry)
    for attempt in range(3):
        result = await _submit(
            hass, result, {CONF_HOSTNAME: RECORD_NAME, CONF_DNS_KEY: f"wrong-{attempt}"}
        )
        assert result["errors"] == {CONF_DNS_KEY: "record_key_refused"}
    result = await _submit(
        hass, result, {CONF_HOSTNAME: RECORD_NAME, CONF_DNS_KEY: RECORD_KEY}
    )
    assert result["errors"] == {CONF_DNS_KEY: "record_too_many_key_failures"}
    assert "until" in result["description_placeholders"]
    assert len(he.dns_requests) == 3
