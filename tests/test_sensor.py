"""Sensors: the router's external address; the tunnel's endpoint, last update and HE's addresses."""

from __future__ import annotations

from datetime import timedelta
import json
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.tunnelbroker.const import (
    CONF_AUTOMATIC_UPDATE,
    ROUTER_POLL_INTERVAL,
    SAFETY_POLL_INTERVAL,
    TUNNEL_INFO_INTERVAL,
)
from custom_components.tunnelbroker.protocol.update_policy import MIN_UPDATE_INTERVAL
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from simulators.he import HeSimulator, InfoFault
from simulators.igd import Fault, IgdSimulator

from .conftest import (
    ROUTER_UDN,
    TUNNEL_ID,
    WAN_IP,
    poll,
    seed_endpoint,
    setup_entry,
    wan_change,
)
from .support.entity_ids import ENDPOINT, EXTERNAL_IP, NEXT_ATTEMPT, STATUS

LAST_UPDATE = "sensor.tunnel_123456_last_update"


async def test_sensors_follow_router_and_tunnel(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await setup_entry(hass, config_entry)
    assert hass.states.get(EXTERNAL_IP).state == WAN_IP
    assert hass.states.get(EXTERNAL_IP).attributes["friendly_name"] == (
        "Simulated router External IP address"
    )
    assert hass.states.get(ENDPOINT).state == WAN_IP
    first_update = hass.states.get(LAST_UPDATE).state
    assert first_update not in (STATE_UNKNOWN, STATE_UNAVAILABLE)

    await wan_change(hass, igd, freezer, "84.17.7.7")
    assert hass.states.get(EXTERNAL_IP).state == "84.17.7.7"
    # Set-up sent an update just now: the next waits for the minimum interval.
    assert hass.states.get(ENDPOINT).state == WAN_IP
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert hass.states.get(ENDPOINT).state == "84.17.7.7"
    assert hass.states.get(LAST_UPDATE).state != first_update

    # Router stops answering (seen at the next safety poll): its sensor is unavailable,
    # the tunnel keeps what HE holds.
    igd.set_fault(Fault.HTTP_500)
    await poll(hass, freezer, SAFETY_POLL_INTERVAL)
    assert hass.states.get(EXTERNAL_IP).state == STATE_UNAVAILABLE
    assert hass.states.get(ENDPOINT).state == "84.17.7.7"
    # Its renewal failed too, so it is polled every 30 s until events work again.
    igd.set_fault(Fault.NONE)
    await poll(hass, freezer, ROUTER_POLL_INTERVAL)
    await poll(hass, freezer, ROUTER_POLL_INTERVAL)
    assert hass.states.get(EXTERNAL_IP).state == "84.17.7.7"


async def test_endpoint_is_what_he_last_said(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    """Nothing remembered, updates fail: the endpoint is HE's, from its tunnel information.

    Its time is when HE's information confirmed it (when HE set it is not known).
    """
    he.force_reply("", status=500)
    await setup_entry(hass, config_entry)
    assert hass.states.get(ENDPOINT).state == "198.51.100.1"
    confirmed = dt_util.parse_datetime(hass.states.get(LAST_UPDATE).state)
    assert confirmed is not None
    assert abs((dt_util.utcnow() - confirmed).total_seconds()) < 5


async def test_unknown_until_he_tells(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    """Neither HE's information nor an update answered: the endpoint is unknown."""
    he.force_reply("", status=500)
    he.set_info_fault(InfoFault.HTTP_ERROR)
    await setup_entry(hass, config_entry)
    assert hass.states.get(ENDPOINT).state == STATE_UNKNOWN
    assert hass.states.get(LAST_UPDATE).state == STATE_UNKNOWN


async def test_registry_entries(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    await setup_entry(hass, config_entry)
    external = entity_registry.async_get(EXTERNAL_IP)
    assert external is not None
    assert external.unique_id == f"{ROUTER_UDN}_external_ip"
    assert external.translation_key == "external_ip"
    assert external.config_subentry_id is None
    last = entity_registry.async_get(LAST_UPDATE)
    assert last is not None
    assert last.unique_id == f"tunnel_{TUNNEL_ID}_last_update"
    assert last.entity_category is EntityCategory.DIAGNOSTIC
    assert last.config_subentry_id in config_entry.subentries


# -- HE's tunnel information ------------------------------------------------------------------

INFO_SENSORS = {
    "sensor.tunnel_123456_server_ipv4": ("server_ipv4", "216.66.80.26"),
    "sensor.tunnel_123456_server_ipv6": (
        "server_ipv6",
        "2001:470:1f0a:e240::1",  # HE says ::1/64: the tunnel link's /64 is left out
    ),
    "sensor.tunnel_123456_client_ipv6": (
        "client_ipv6",
        "2001:470:1f0a:e240::2",
    ),
    "sensor.tunnel_123456_routed_64": (
        "routed_prefix_64",
        "2001:470:1f0b:e240::/64",
    ),
}
ROUTED_48 = "sensor.tunnel_123456_routed_48"


async def test_tunnel_information_sensors(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    loaded: MockConfigEntry,
) -> None:
    """HE's addresses for the tunnel, as diagnostic sensors of the tunnel's device."""
    endpoint = entity_registry.async_get(ENDPOINT)
    assert endpoint is not None
    for entity_id, (key, value) in INFO_SENSORS.items():
        state = hass.states.get(entity_id)
        assert state is not None, entity_id
        assert state.state == value
        entry = entity_registry.async_get(entity_id)
        assert entry is not None
        assert entry.unique_id == f"tunnel_{TUNNEL_ID}_{key}"
        assert entry.translation_key == key
        assert entry.entity_category is EntityCategory.DIAGNOSTIC
        assert entry.device_id == endpoint.device_id
        assert entry.config_subentry_id == endpoint.config_subentry_id
    assert hass.states.get("sensor.tunnel_123456_routed_64").attributes[
        "friendly_name"
    ] == ("Tunnel 123456 Routed /64")
    # Most tunnels have no /48: its sensor exists, disabled until the user wants it.
    routed_48 = entity_registry.async_get(ROUTED_48)
    assert routed_48 is not None
    assert routed_48.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get(ROUTED_48) is None


async def test_routed_48_when_enabled(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    entity_registry: er.EntityRegistry,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    """Enabled by the user, the /48 shows HE's allocation."""
    he.tunnel(TUNNEL_ID).routed_48 = "2001:470:7d1b::/48"
    config_entry.add_to_hass(hass)
    entity_registry.async_get_or_create(
        "sensor",
        "tunnelbroker",
        f"tunnel_{TUNNEL_ID}_routed_prefix_48",
        suggested_object_id="tunnel_123456_routed_48",
        config_entry=config_entry,
        disabled_by=None,
    )
    seed_endpoint(hass_storage, WAN_IP, he=he)
    await setup_entry(hass, config_entry)
    assert hass.states.get(ROUTED_48).state == "2001:470:7d1b::/48"


async def test_tunnel_information_sensors_availability(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Unavailable without information; HE unreachable later keeps the addresses shown."""
    seed_endpoint(hass_storage, WAN_IP, he=he)
    he.set_info_fault(InfoFault.HTTP_ERROR)
    await setup_entry(hass, config_entry)
    for entity_id in INFO_SENSORS:
        assert hass.states.get(entity_id).state == STATE_UNAVAILABLE
    assert hass.states.get(ENDPOINT).state == WAN_IP

    he.set_info_fault(InfoFault.NONE)
    await poll(hass, freezer, TUNNEL_INFO_INTERVAL)
    for entity_id, (_, value) in INFO_SENSORS.items():
        assert hass.states.get(entity_id).state == value

    he.set_info_fault(InfoFault.HTTP_ERROR)
    await poll(hass, freezer, TUNNEL_INFO_INTERVAL)
    for entity_id, (_, value) in INFO_SENSORS.items():
        assert hass.states.get(entity_id).state == value


async def test_tunnel_information_refused_sensors_unavailable(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    """HE refused the key for tunnelInfo.php: its sensors are unavailable, the rest works."""
    he.set_info_fault(InfoFault.REFUSE)
    await setup_entry(hass, config_entry)
    for entity_id in INFO_SENSORS:
        assert hass.states.get(entity_id).state == STATE_UNAVAILABLE
    assert hass.states.get(ENDPOINT).state == WAN_IP


def _status(hass: HomeAssistant) -> tuple[str, str]:
    return hass.states.get(STATUS).state, hass.states.get(NEXT_ATTEMPT).state


async def test_endpoint_status_explains_each_wait_with_its_end(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    state = hass.states.get(STATUS)
    assert state.attributes["friendly_name"] == "Tunnel 123456 Status"
    assert state.attributes["options"] == [
        "in_sync",
        "updating",
        "rate_limited",
        "retrying",
        "blocked",
        "refused",
        "no_public_address",
        "automatic_off",
    ]
    assert _status(hass) == ("in_sync", STATE_UNKNOWN)
    registry = er.async_get(hass)
    # Beside Status on the device page (the same card), not among the diagnostics.
    assert registry.async_get(NEXT_ATTEMPT).entity_category is None

    # A change is sent at once; a second within the minimum interval waits for it.
    await wan_change(hass, igd, freezer, "84.17.7.7")
    assert _status(hass) == ("in_sync", STATE_UNKNOWN)
    await wan_change(hass, igd, freezer, "84.17.7.8")
    status, next_attempt = _status(hass)
    assert status == "rate_limited"
    until = dt_util.parse_datetime(next_attempt)
    assert until is not None
    assert timedelta(0) < until - dt_util.utcnow() <= MIN_UPDATE_INTERVAL
    await poll(hass, freezer, until - dt_util.utcnow() + timedelta(seconds=1))
    assert _status(hass) == ("in_sync", STATE_UNKNOWN)
    assert he.requests[-1].myip == "84.17.7.8"

    # HE unreachable: retrying, with the time of the next try.
    he.force_reply("", status=503)
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    await wan_change(hass, igd, freezer, "84.17.7.9")
    status, next_attempt = _status(hass)
    assert status == "retrying"
    retry_at = dt_util.parse_datetime(next_attempt)
    assert retry_at is not None and retry_at > dt_util.utcnow()
    he.clear_forced_reply()
    await poll(hass, freezer, retry_at - dt_util.utcnow() + timedelta(seconds=1))
    assert _status(hass) == ("in_sync", STATE_UNKNOWN)

    # HE's abuse block: blocked until the block is expected to end.
    he.force_reply("abuse")
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    await wan_change(hass, igd, freezer, "84.17.7.10")
    status, next_attempt = _status(hass)
    assert status == "blocked"
    assert dt_util.parse_datetime(next_attempt) > dt_util.utcnow() + timedelta(
        minutes=50
    )
    he.clear_forced_reply()

    # The router back at the address HE holds: in sync again, whatever was waiting.
    await wan_change(hass, igd, freezer, "84.17.7.9")
    assert _status(hass) == ("in_sync", STATE_UNKNOWN)


async def test_endpoint_status_refused_behind_nat_off_and_router_silent(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    seed_endpoint(hass_storage, WAN_IP, he=he)
    await setup_entry(hass, config_entry, options={CONF_AUTOMATIC_UPDATE: False})
    assert _status(hass) == ("in_sync", STATE_UNKNOWN)
    await wan_change(hass, igd, freezer, "84.17.7.7")
    assert _status(hass) == ("automatic_off", STATE_UNKNOWN)
    assert he.requests == []

    await wan_change(hass, igd, freezer, "100.64.3.4")
    assert _status(hass) == ("no_public_address", STATE_UNKNOWN)

    igd.set_fault(Fault.HTTP_500)
    await poll(hass, freezer, SAFETY_POLL_INTERVAL)
    assert hass.states.get(STATUS).state == STATE_UNAVAILABLE
    igd.set_fault(Fault.NONE)
    await poll(hass, freezer)

    # HE refuses the credentials: refused, nothing more to wait for.
    hass.config_entries.async_update_entry(
        config_entry, options={CONF_AUTOMATIC_UPDATE: True}
    )
    await hass.async_block_till_done()
    he.force_reply("badauth")
    await wan_change(hass, igd, freezer, "84.17.7.8")
    assert he.requests[-1].reply == "badauth"
    assert _status(hass) == ("refused", STATE_UNKNOWN)


async def test_endpoint_status_updating_while_the_update_is_on_its_way(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    loaded: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    seen: list[str] = []
    hass.bus.async_listen(
        "state_changed",
        lambda event: (
            seen.append(event.data["new_state"].state)
            if event.data["entity_id"] == STATUS
            else None
        ),
    )
    await wan_change(hass, igd, freezer, "84.17.7.7")
    assert seen == ["updating", "in_sync"]


async def test_every_entity_as_the_user_sees_it(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """Every state and attribute of a router with one tunnel, right after setup.

    Times (the last update, the last event) differ from run to run: shown as <time>.
    """
    registry = er.async_get(hass)
    shown: dict[str, Any] = {}
    for entry in er.async_entries_for_config_entry(registry, loaded.entry_id):
        state = hass.states.get(entry.entity_id)
        if state is None:  # disabled by default
            shown[entry.entity_id] = {"disabled_by": str(entry.disabled_by)}
            continue
        value = "<time>" if dt_util.parse_datetime(state.state) else state.state
        shown[entry.entity_id] = {
            "state": value,
            # As the frontend receives them (newest HA keys them by a StrEnum).
            "attributes": json.loads(json.dumps(dict(state.attributes))),
            "entity_category": str(entry.entity_category),
        }
    assert dict(sorted(shown.items())) == snapshot
