"""Device triggers listed for router, tunnel and record devices, and firing real automations."""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_get_device_automations,
)
from pytest_unordered import unordered

from custom_components.tunnelbroker.const import DOMAIN
from custom_components.tunnelbroker.protocol.update_policy import MIN_UPDATE_INTERVAL
from homeassistant.components import automation
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from simulators.he import HeSimulator
from simulators.igd import IgdSimulator

from .conftest import (
    RECORD_NAME,
    ROUTER_UDN,
    TUNNEL_ID,
    WAN_IP,
    find_device,
    poll,
    record_subentry,
    router_entry,
    seed_endpoint,
    seed_record,
    setup_entry,
    tunnel_subentry,
    wan_change,
)


def _device(hass: HomeAssistant, identifier: str) -> dr.DeviceEntry:
    device = find_device(hass, identifier)
    assert device is not None
    return device


async def test_triggers_listed(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    await setup_entry(hass, config_entry)
    router = _device(hass, ROUTER_UDN)
    tunnel = _device(hass, f"tunnel_{TUNNEL_ID}")
    base = {"platform": "device", "domain": DOMAIN, "metadata": {}}

    async def ours(device_id: str) -> list[dict[str, Any]]:
        # Entity platforms (binary_sensor, sensor) list their own triggers beside ours.
        triggers = await async_get_device_automations(
            hass, DeviceAutomationType.TRIGGER, device_id
        )
        return [trigger for trigger in triggers if trigger["domain"] == DOMAIN]

    assert await ours(router.id) == unordered(
        [{**base, "device_id": router.id, "type": "wan_ip_changed"}]
    )
    assert await ours(tunnel.id) == unordered(
        [
            {**base, "device_id": tunnel.id, "type": "endpoint_updated"},
            {**base, "device_id": tunnel.id, "type": "endpoint_update_failed"},
            {**base, "device_id": tunnel.id, "type": "tunnel_down"},
            {**base, "device_id": tunnel.id, "type": "tunnel_up"},
        ]
    )


async def test_no_triggers_for_unknown_or_foreign_device(hass: HomeAssistant) -> None:
    from custom_components.tunnelbroker.device_trigger import async_get_triggers

    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other", "x")}
    )
    assert await async_get_triggers(hass, device.id) == []
    assert await async_get_triggers(hass, "missing") == []


async def test_triggers_fire_automations(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    service_calls: list[ServiceCall],
) -> None:
    seed_endpoint(hass_storage, WAN_IP, he=he)
    await setup_entry(hass, config_entry)
    router = _device(hass, ROUTER_UDN)
    tunnel = _device(hass, f"tunnel_{TUNNEL_ID}")

    def automation_for(device_id: str, trigger_type: str) -> dict[str, Any]:
        return {
            "trigger": {
                "platform": "device",
                "domain": DOMAIN,
                "device_id": device_id,
                "type": trigger_type,
            },
            "action": {
                "service": "test.automation",
                "data_template": {
                    "some": f"{trigger_type} {{{{ trigger.event.data.ip }}}}"
                },
            },
        }

    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: [
                automation_for(router.id, "wan_ip_changed"),
                automation_for(tunnel.id, "endpoint_updated"),
                automation_for(tunnel.id, "endpoint_update_failed"),
            ]
        },
    )
    await wan_change(hass, igd, freezer, "84.17.5.5")
    assert [call.data["some"] for call in service_calls] == [
        "wan_ip_changed 84.17.5.5",
        "endpoint_updated 84.17.5.5",
    ]

    he.force_reply("abuse")
    await wan_change(hass, igd, freezer, "84.17.5.6")
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)  # one update per interval at most
    assert [call.data["some"] for call in service_calls][2:] == [
        "wan_ip_changed 84.17.5.6",
        "endpoint_update_failed 84.17.5.6",
    ]


async def test_record_triggers_listed_and_firing(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
    service_calls: list[ServiceCall],
) -> None:
    """A dns.he.net record's device: its update taken, or not, as automation triggers."""
    seed_endpoint(hass_storage, WAN_IP, he=he)
    seed_record(hass_storage, RECORD_NAME, he=he)
    await setup_entry(
        hass, router_entry(igd.location, tunnel_subentry(), record_subentry())
    )
    record = _device(hass, f"record_{RECORD_NAME}")
    base = {"platform": "device", "domain": DOMAIN, "metadata": {}}
    triggers = await async_get_device_automations(
        hass, DeviceAutomationType.TRIGGER, record.id
    )
    assert [t for t in triggers if t["domain"] == DOMAIN] == unordered(
        [
            {**base, "device_id": record.id, "type": "record_updated"},
            {**base, "device_id": record.id, "type": "record_update_failed"},
        ]
    )

    def automation_for(trigger_type: str) -> dict[str, Any]:
        return {
            "trigger": {
                "platform": "device",
                "domain": DOMAIN,
                "device_id": record.id,
                "type": trigger_type,
            },
            "action": {
                "service": "test.automation",
                "data_template": {
                    "some": f"{trigger_type} {{{{ trigger.event.data.hostname }}}}"
                    " {{ trigger.event.data.ip }} {{ trigger.event.data.result }}"
                },
            },
        }

    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: [
                automation_for("record_updated"),
                automation_for("record_update_failed"),
            ]
        },
    )
    await wan_change(hass, igd, freezer, "84.17.5.5")
    assert [call.data["some"] for call in service_calls] == [
        f"record_updated {RECORD_NAME} 84.17.5.5 good"
    ]
    he.force_dns_reply("abuse")
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    await wan_change(hass, igd, freezer, "84.17.5.6")
    assert [call.data["some"] for call in service_calls][1:] == [
        f"record_update_failed {RECORD_NAME} 84.17.5.6 abuse"
    ]
