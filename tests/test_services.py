"""The tunnelbroker.update_endpoint action: response data and every validation error.

For tunnels, and for dns.he.net records (their A follows the address sent; an AAAA keeps its own).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
import re
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import yaml

import custom_components.tunnelbroker as integration
from custom_components.tunnelbroker.const import (
    CONF_AUTOMATIC_UPDATE,
    DOMAIN,
    SERVICE_UPDATE_ENDPOINT,
)
from custom_components.tunnelbroker.protocol.update_policy import MIN_UPDATE_INTERVAL
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.translation import async_get_translations
from simulators.he import HeSimulator
from simulators.igd import Fault, IgdSimulator

from .conftest import (
    OTHER_RECORD_NAME,
    RECORD_NAME,
    ROUTER_UDN,
    TUNNEL_ID,
    WAN_IP,
    find_device,
    records_loaded,
    routed_host,
    seed_endpoint,
    setup_entry,
)
from .support.entity_ids import RECORD_ADDRESS

# A snake_case word such as behind_nat: an internal code, not something to show a user.
INTERNAL_CODE = re.compile(r"\b[a-z]+_[a-z_]+\b")


async def call(hass: HomeAssistant, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, SERVICE_UPDATE_ENDPOINT, data, blocking=True, return_response=True
    )


def device_id(hass: HomeAssistant, identifier: str) -> str:
    device = find_device(hass, identifier)
    assert device is not None
    return device.id


@pytest.fixture
async def records_entry(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
) -> MockConfigEntry:
    """The tunnel and both records, HE holding all three."""
    return await records_loaded(hass, hass_storage, igd, he)


async def test_unchanged_address_is_not_sent(
    hass: HomeAssistant, loaded: MockConfigEntry, he: HeSimulator
) -> None:
    response = await call(hass, config_entry_id=loaded.entry_id)
    assert response == {
        "tunnels": [
            {"tunnel_id": TUNNEL_ID, "ip": WAN_IP, "result": "unchanged", "sent": False}
        ]
    }
    assert he.requests == []


async def test_forced_update_is_sent(
    hass: HomeAssistant, loaded: MockConfigEntry, he: HeSimulator
) -> None:
    he.tunnel(TUNNEL_ID).endpoint = WAN_IP
    response = await call(hass, config_entry_id=loaded.entry_id, force=True)
    assert response["tunnels"][0]["result"] == "nochg"
    assert response["tunnels"][0]["sent"] is True
    assert len(he.requests) == 1


async def test_explicit_ip_by_tunnel_device(
    hass: HomeAssistant, loaded: MockConfigEntry, he: HeSimulator
) -> None:
    response = await call(
        hass, device_id=device_id(hass, f"tunnel_{TUNNEL_ID}"), ip="84.17.2.2"
    )
    assert response["tunnels"] == [
        {
            "tunnel_id": TUNNEL_ID,
            "ip": "84.17.2.2",
            "result": "good",
            "sent": True,
            "message": "good 84.17.2.2",
        }
    ]
    assert he.tunnel(TUNNEL_ID).endpoint == "84.17.2.2"
    assert hass.states.get("sensor.tunnel_123456_tunnel_endpoint").state == "84.17.2.2"


async def test_router_device_updates_its_tunnels(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    he: HeSimulator,
    igd: IgdSimulator,
    config_entry: MockConfigEntry,
) -> None:
    """With automatic update off, the action is how a new address reaches HE."""
    seed_endpoint(hass_storage, WAN_IP)
    await setup_entry(hass, config_entry, options={CONF_AUTOMATIC_UPDATE: False})
    igd.set_external_ip("84.17.3.3")
    await config_entry.runtime_data.router.async_refresh()
    await hass.async_block_till_done()
    assert he.requests == []
    response = await call(hass, device_id=device_id(hass, ROUTER_UDN))
    assert [t["result"] for t in response["tunnels"]] == ["good"]
    assert [r.myip for r in he.requests] == ["84.17.3.3"]


async def test_he_refusal_raises(
    hass: HomeAssistant, loaded: MockConfigEntry, he: HeSimulator
) -> None:
    he.tunnel(TUNNEL_ID).update_key = "rotated"
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, config_entry_id=loaded.entry_id, ip="84.17.2.2")
    assert err.value.translation_key == "update_failed"
    assert "badauth" in str(err.value)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({}, "target_missing"),
        ({"config_entry_id": "x", "device_id": "y"}, "target_both"),
        ({"config_entry_id": "nope"}, "entry_not_found"),
        ({"device_id": "nope"}, "device_not_found"),
        ({"ip": "192.168.1.1"}, "invalid_ip_behind_nat"),
        ({"ip": "192.0.0.2"}, "invalid_ip_ds_lite"),
        ({"ip": "not-an-ip"}, "invalid_ip_invalid"),
        ({"ip": "203.0.113.7"}, "invalid_ip_not_public"),
        ({"ip": " "}, "invalid_ip_missing"),
    ],
)
async def test_validation_errors(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    he: HeSimulator,
    data: dict[str, str],
    key: str,
) -> None:
    if "ip" in data:
        data = {**data, "config_entry_id": loaded.entry_id}
    # What the frontend shows: the message in the user's language.
    await async_get_translations(hass, "en", "exceptions", [DOMAIN])
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, **data)
    assert err.value.translation_key == key
    # The user reads words, not the integration's codes.
    assert not INTERNAL_CODE.search(str(err.value)), str(err.value)
    assert he.requests == []


async def test_documented_example_address_is_accepted(
    hass: HomeAssistant, loaded: MockConfigEntry, he: HeSimulator
) -> None:
    services = yaml.safe_load(
        (Path(integration.__file__).parent / "services.yaml").read_text()
    )
    example = services["update_endpoint"]["fields"]["ip"]["example"]
    response = await call(hass, config_entry_id=loaded.entry_id, ip=example)
    assert he.requests[-1].myip == example
    assert response is not None


async def test_device_of_other_integration(
    hass: HomeAssistant, loaded: MockConfigEntry
) -> None:
    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other", "x")}
    )
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, device_id=device.id)
    assert err.value.translation_key == "device_not_found"


async def test_entry_not_loaded(hass: HomeAssistant, loaded: MockConfigEntry) -> None:
    await hass.config_entries.async_unload(loaded.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, config_entry_id=loaded.entry_id)
    assert err.value.translation_key == "entry_not_loaded"


async def test_entry_without_tunnels(
    hass: HomeAssistant, igd: IgdSimulator, loaded: MockConfigEntry
) -> None:
    for subentry_id in list(loaded.subentries):
        hass.config_entries.async_remove_subentry(loaded, subentry_id)
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, config_entry_id=loaded.entry_id)
    assert err.value.translation_key == "no_tunnel"


async def test_router_unavailable(
    hass: HomeAssistant, loaded: MockConfigEntry, igd: IgdSimulator
) -> None:
    igd.set_fault(Fault.HTTP_500)
    await loaded.runtime_data.router.async_refresh()
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, config_entry_id=loaded.entry_id)
    assert err.value.translation_key == "router_unavailable"


async def test_router_address_unusable(
    hass: HomeAssistant, loaded: MockConfigEntry, igd: IgdSimulator, he: HeSimulator
) -> None:
    igd.set_external_ip("100.64.0.9")
    await loaded.runtime_data.router.async_refresh()
    await async_get_translations(hass, "en", "exceptions", [DOMAIN])
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, config_entry_id=loaded.entry_id)
    assert err.value.translation_key == "router_address_behind_nat"
    assert str(err.value) == (
        "The router's WAN address 100.64.0.9 is a private or carrier-grade NAT address:"
        " another router or your provider's NAT sits in front of it, and Hurricane"
        " Electric cannot reach it. Nothing was sent"
    )
    assert he.requests == []


async def test_abuse_block_holds_the_action_unless_forced(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    he.force_reply("abuse")
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, config_entry_id=loaded.entry_id, ip="84.17.8.8")
    assert "abuse" in str(err.value)
    assert len(he.requests) == 1
    # Not sent again while the block runs...
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, config_entry_id=loaded.entry_id, ip="84.17.8.8")
    assert err.value.translation_key == "abuse_block_running"
    assert len(he.requests) == 1
    # ...unless the user insists (past the minimum interval: never in a hurry).
    he.clear_forced_reply()
    freezer.tick(MIN_UPDATE_INTERVAL)
    response = await call(
        hass, config_entry_id=loaded.entry_id, ip="84.17.8.8", force=True
    )
    assert response["tunnels"][0]["result"] == "good"
    assert len(he.requests) == 2


async def test_forced_sends_are_not_repeated_within_the_interval(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Force re-sends an address HE holds, but not twice in a row, nor another at once."""
    response = await call(hass, config_entry_id=loaded.entry_id, force=True)
    assert response["tunnels"][0]["result"] == "nochg"
    for data in (
        {"force": True},
        {"ip": "84.17.8.9"},
        {"ip": "84.17.8.9", "force": True},
    ):
        freezer.tick(timedelta(seconds=30))
        with pytest.raises(HomeAssistantError) as err:
            await call(hass, config_entry_id=loaded.entry_id, **data)
        assert err.value.translation_key == "update_too_soon"
    assert len(he.requests) == 1
    # Unchanged and not forced: nothing to send, nothing refused.
    response = await call(hass, config_entry_id=loaded.entry_id)
    assert response["tunnels"][0]["result"] == "unchanged"
    freezer.tick(MIN_UPDATE_INTERVAL)
    response = await call(hass, config_entry_id=loaded.entry_id, ip="84.17.8.9")
    assert response["tunnels"][0]["result"] == "good"
    assert len(he.requests) == 2


# -- dns.he.net records ------------------------------------------------------------------------
NEW_IP = "84.17.2.2"


def _good(ip: str) -> dict[str, Any]:
    return {"ip": ip, "result": "good", "sent": True, "message": f"good {ip}"}


async def test_router_entry_updates_its_tunnels_and_records(
    hass: HomeAssistant,
    he: HeSimulator,
    records_entry: MockConfigEntry,
) -> None:
    response = await call(hass, config_entry_id=records_entry.entry_id)
    unchanged = {"ip": WAN_IP, "result": "unchanged", "sent": False}
    assert response == {
        "tunnels": [{"tunnel_id": TUNNEL_ID, **unchanged}],
        "records": [
            {"hostname": RECORD_NAME, "record_type": "A", **unchanged},
            {"hostname": OTHER_RECORD_NAME, "record_type": "A", **unchanged},
        ],
    }
    assert he.dns_requests == []
    response = await call(hass, config_entry_id=records_entry.entry_id, ip=NEW_IP)
    assert response == {
        "tunnels": [{"tunnel_id": TUNNEL_ID, **_good(NEW_IP)}],
        "records": [
            {"hostname": RECORD_NAME, "record_type": "A", **_good(NEW_IP)},
            {"hostname": OTHER_RECORD_NAME, "record_type": "A", **_good(NEW_IP)},
        ],
    }
    assert he.record(RECORD_NAME).a == he.record(OTHER_RECORD_NAME).a == NEW_IP
    assert hass.states.get(RECORD_ADDRESS).state == NEW_IP


async def test_record_device_updates_that_record_only(
    hass: HomeAssistant,
    he: HeSimulator,
    records_entry: MockConfigEntry,
) -> None:
    response = await call(
        hass, device_id=device_id(hass, f"record_{RECORD_NAME}"), force=True
    )
    assert response == {
        "tunnels": [],
        "records": [
            {
                "hostname": RECORD_NAME,
                "record_type": "A",
                "ip": WAN_IP,
                "result": "nochg",
                "sent": True,
                "message": f"nochg {WAN_IP}",
            }
        ],
    }
    assert [(r.hostname, r.myip) for r in he.dns_requests] == [(RECORD_NAME, WAN_IP)]
    assert he.requests == []


async def test_an_ip_given_goes_to_the_a_not_the_aaaa(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    host = routed_host(he)
    await records_loaded(hass, hass_storage, igd, he, ipv6=host)
    record = device_id(hass, f"record_{RECORD_NAME}")
    response = await call(hass, device_id=record, ip=NEW_IP)
    assert response["records"] == [
        {"hostname": RECORD_NAME, "record_type": "A", **_good(NEW_IP)},
        {
            "hostname": RECORD_NAME,
            "record_type": "AAAA",
            "ip": host,
            "result": "unchanged",
            "sent": False,
        },
    ]
    assert [r.myip for r in he.dns_requests] == [NEW_IP]
    assert (he.record(RECORD_NAME).a, he.record(RECORD_NAME).aaaa) == (NEW_IP, host)
    # Forced: the AAAA is sent its own address, each its own request.
    freezer.tick(MIN_UPDATE_INTERVAL)
    response = await call(hass, device_id=record, ip=NEW_IP, force=True)
    assert [(r["record_type"], r["ip"], r["result"]) for r in response["records"]] == [
        ("A", NEW_IP, "nochg"),
        ("AAAA", host, "nochg"),
    ]
    assert [r.myip for r in he.dns_requests] == [NEW_IP, NEW_IP, host]


async def test_two_calls_at_once_cost_one_request_per_record(
    hass: HomeAssistant,
    he: HeSimulator,
    records_entry: MockConfigEntry,
) -> None:
    first, second = await asyncio.gather(
        call(hass, config_entry_id=records_entry.entry_id, ip=NEW_IP),
        call(hass, config_entry_id=records_entry.entry_id, ip=NEW_IP),
    )
    assert sorted((r.hostname, r.myip) for r in he.dns_requests) == [
        (RECORD_NAME, NEW_IP),
        (OTHER_RECORD_NAME, NEW_IP),
    ]
    assert [r.myip for r in he.requests] == [NEW_IP]
    for hostname in (RECORD_NAME, OTHER_RECORD_NAME):
        results = sorted(
            record["result"]
            for response in (first, second)
            for record in response["records"]
            if record["hostname"] == hostname
        )
        assert results == ["good", "unchanged"]


async def test_a_record_he_refuses_fails_the_call_in_words(
    hass: HomeAssistant,
    he: HeSimulator,
    records_entry: MockConfigEntry,
) -> None:
    he.record(OTHER_RECORD_NAME).dynamic = False
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, config_entry_id=records_entry.entry_id, ip=NEW_IP)
    assert err.value.translation_key == "update_failed"
    assert f"Record {OTHER_RECORD_NAME} A" in str(err.value)
    assert "nohost" in str(err.value)
    # The others were sent: HE took them.
    assert he.record(RECORD_NAME).a == NEW_IP
    assert he.tunnel(TUNNEL_ID).endpoint == NEW_IP
