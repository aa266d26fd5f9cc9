"""Diagnostics: useful for a bug report, with no credential and no public address in it."""

from __future__ import annotations

import json
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from homeassistant.core import HomeAssistant
from simulators.he import HeSimulator, InfoFault
from simulators.igd import IgdSimulator

from .conftest import (
    RECORD_KEY,
    RECORD_NAME,
    TUNNEL_ID,
    UPDATE_KEY,
    USERNAME,
    WAN_IP,
    records_loaded,
    setup_entry,
    wan_change,
)

# An address of the simulated tunnel's routed /64 (the record's AAAA).
ROUTED_HOST = "2001:470:1f0b:e240::10"

# What changes from run to run: the simulators' free ports, the clock.
VOLATILE = (
    "location",
    "callback_url",
    "presentation_url",
    "control_url",
    "wan_connection_read",
    "at",
    "until",
    "next_attempt",
)


async def test_diagnostics_redact_secrets_and_addresses(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded: MockConfigEntry,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.force_reply("abuse")
    await wan_change(hass, igd, freezer, "84.17.9.9")
    he.tunnel(TUNNEL_ID).description = "Home"
    he.tunnel(TUNNEL_ID).routed_48 = "2001:470:7d1b::/48"
    # HE's information read again (no 6-hour jump: the API client's token would expire).
    for info in loaded.runtime_data.tunnel_info.values():
        await info.async_refresh()
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, loaded)
    text = json.dumps(diagnostics)
    for secret in (UPDATE_KEY, USERNAME, TUNNEL_ID, WAN_IP, "84.17.9.9", "00000000"):
        assert secret not in text
    # HE's tunnel information: the tunnel's addresses and prefixes, HE's server.
    for address in ("198.51.100.1", "216.66.80.26", "2001:470:", "Home"):
        assert address not in text
    assert diagnostics["router"]["model_name"] == "MiniUPnPd"
    assert diagnostics["wan_services"] == [
        "urn:schemas-upnp-org:service:WANIPConnection:2"
    ]
    assert diagnostics["wan_status"]["connection_status"] == "Connected"
    assert diagnostics["events"]["subscribed"] is True
    (tunnel,) = diagnostics["tunnels"]
    assert tunnel["subentry"]["update_key"] == "**REDACTED**"
    assert tunnel["endpoint"] == "**REDACTED**"
    assert tunnel["last_attempt"]["status"] == "abuse"
    assert tunnel["last_attempt"]["sent"] is True
    assert tunnel["backoff"]["abuse_blocks"] == 1
    assert tunnel["refusal"] is None
    assert tunnel["unsettled"] is None
    assert tunnel["automatic"] is True
    assert tunnel["info"] == dict.fromkeys(
        (
            "tunnel_id",
            "description",
            "server_v4",
            "client_v4",
            "server_v6",
            "client_v6",
            "routed_64",
            "routed_48",
        ),
        "**REDACTED**",
    )
    assert tunnel["info_refused"] is None
    assert tunnel["info_last_update_success"] is True


async def test_diagnostics_tell_tunnel_information_refused(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    """Why the tunnel's addresses are unknown: HE refused, with its short reason."""
    he.set_info_fault(InfoFault.REFUSE)
    await setup_entry(hass, config_entry)
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, config_entry
    )
    (tunnel,) = diagnostics["tunnels"]
    assert tunnel["info"] is None
    assert tunnel["info_refused"] == "HTTP 401"
    # A refusal that names the tunnel or the account does not leak them.
    (info,) = config_entry.runtime_data.tunnel_info.values()
    info.refused = f"no tunnel {TUNNEL_ID} for {USERNAME} in the reply"
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, config_entry
    )
    (tunnel,) = diagnostics["tunnels"]
    assert (
        tunnel["info_refused"] == "no tunnel **REDACTED** for **REDACTED** in the reply"
    )


async def test_diagnostics_snapshot(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """The whole report, as a reviewer of a bug report reads it (ports and times aside)."""
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, loaded)
    assert diagnostics == snapshot(exclude=props(*VOLATILE))


async def _with_record(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
) -> MockConfigEntry:
    """The tunnel and home.example.org with an AAAA in the routed /64, held by HE."""
    assert he.tunnel(TUNNEL_ID).routed_64 == "2001:470:1f0b:e240::/64"
    return await records_loaded(
        hass, hass_storage, igd, he, ipv6=ROUTED_HOST, both=False
    )


async def test_diagnostics_redact_records(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    hass_client: ClientSessionGenerator,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A record's name, key and addresses stay out; what happened to it is in."""
    entry = await _with_record(hass, hass_storage, igd, he)
    he.force_dns_reply("<html><body>home.example.org is down</body></html>")
    await wan_change(hass, igd, freezer, "84.17.9.9")
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    for secret in (RECORD_KEY, RECORD_NAME, ROUTED_HOST, WAN_IP, "84.17.9.9"):
        assert secret not in text
    a, aaaa = diagnostics["records"]
    assert (a["record_type"], aaaa["record_type"]) == ("A", "AAAA")
    assert a["subentry"] == {
        "hostname": "**REDACTED**",
        "dns_key": "**REDACTED**",
        "ipv6_address": "**REDACTED**",
        "title": "**REDACTED**",
    }
    assert a["status"] == "retrying"
    assert a["endpoint"] == "**REDACTED**"
    assert a["unsettled"] == "**REDACTED**"
    assert a["last_attempt"]["status"] == "unknown"
    assert a["last_attempt"]["message"] == "**REDACTED**"
    assert a["backoff"]["failures"] == 1
    assert aaaa["status"] == "in_sync"
    assert aaaa["endpoint"] == "**REDACTED**"
    assert aaaa["last_attempt"] is None


async def test_diagnostics_snapshot_with_a_record(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    hass_client: ClientSessionGenerator,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
) -> None:
    """The records' part of the report, as a reviewer reads it (ports and times aside)."""
    entry = await _with_record(hass, hass_storage, igd, he)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["records"] == snapshot(exclude=props(*VOLATILE))
