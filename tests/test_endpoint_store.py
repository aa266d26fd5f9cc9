"""The endpoint store survives restarts and shrugs off damaged records."""

from __future__ import annotations

from typing import Any

from custom_components.tunnelbroker.endpoint_store import (
    STORAGE_KEY,
    EndpointStore,
    async_get_endpoint_store,
)
from custom_components.tunnelbroker.protocol.update_policy import Hold, Refusal
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util


async def test_round_trip_and_forget(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    store = await async_get_endpoint_store(hass)
    assert await async_get_endpoint_store(hass) is store
    when = dt_util.utcnow()
    await store.async_set("1", "84.17.0.1", when)
    await store.async_set("2", "84.17.0.2", when)
    assert hass_storage[STORAGE_KEY]["data"]["1"] == {
        "endpoint": "84.17.0.1",
        "updated_at": when.isoformat(),
    }
    reread = EndpointStore(hass)
    await reread.async_load()
    record = reread.get("1")
    assert record is not None
    assert (record.endpoint, record.updated_at) == ("84.17.0.1", when)
    await store.async_forget({"1", "99"})
    assert set(hass_storage[STORAGE_KEY]["data"]) == {"2"}
    before = dict(hass_storage[STORAGE_KEY])
    await store.async_forget({"99"})
    assert hass_storage[STORAGE_KEY] == before


async def test_damaged_records_are_skipped(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    hass_storage[STORAGE_KEY] = {
        "version": 1,
        "key": STORAGE_KEY,
        "data": {
            "ok": {"endpoint": "84.17.0.1", "updated_at": "2026-01-01T00:00:00+00:00"},
            "no_time": {"endpoint": "84.17.0.1"},
            "bad_time": {"endpoint": "84.17.0.1", "updated_at": "yesterday"},
            "not_a_dict": "84.17.0.1",
        },
    }
    store = EndpointStore(hass)
    await store.async_load()
    assert store.get("ok") is not None
    assert store.get("no_time") is None
    assert store.get("bad_time") is None
    assert store.get("not_a_dict") is None


async def test_holds_round_trip_and_damaged_holds_are_skipped(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    store = await async_get_endpoint_store(hass)
    until = dt_util.utcnow()
    hold = Hold(until=until, failures=2, abuse_blocks=1, abuse=True)
    await store.async_set_hold("1", hold)
    await store.async_set_hold("1", hold)  # unchanged: nothing to save
    await store.async_set_refusal("1", Refusal(ip="84.17.0.1", status="icmp_blocked"))
    await store.async_set_answered_at("1", until)
    assert hass_storage[STORAGE_KEY]["data"]["1"] == {
        "hold": {
            "until": until.isoformat(),
            "failures": 2,
            "abuse_blocks": 1,
            "abuse": True,
        },
        "refusal": {"ip": "84.17.0.1", "status": "icmp_blocked"},
        "answered_at": until.isoformat(),
    }
    reread = EndpointStore(hass)
    await reread.async_load()
    assert reread.get_hold("1") == hold
    assert reread.get_refusal("1") == Refusal(ip="84.17.0.1", status="icmp_blocked")
    assert reread.get_answered_at("1") == until
    assert reread.get("1") is None  # no confirmed endpoint yet
    # HE confirms an endpoint: the hold and the refusal are over, the answer time stays.
    await store.async_set("1", "84.17.0.2", until)
    assert store.get_hold("1") is None
    assert store.get_refusal("1") is None
    assert set(hass_storage[STORAGE_KEY]["data"]["1"]) == {
        "endpoint",
        "updated_at",
        "answered_at",
    }
    await store.async_forget({"1"})
    assert hass_storage[STORAGE_KEY]["data"] == {}

    hass_storage[STORAGE_KEY]["data"] = {
        "naive": {
            "hold": {"until": "2026-01-01T00:00:00", "failures": 1, "abuse_blocks": 0}
        },
        "bad_count": {
            "hold": {"until": until.isoformat(), "failures": "x", "abuse_blocks": 0}
        },
        "no_time": {"hold": {"until": "later", "failures": 1, "abuse_blocks": 0}},
        "missing": {"hold": {"failures": 1}},
        "bad_refusal": {"refusal": "badip"},
        "old_format": {
            "hold": {"until": until.isoformat(), "failures": 0, "abuse_blocks": 2}
        },
    }
    damaged = EndpointStore(hass)
    await damaged.async_load()
    for tunnel_id in ("naive", "bad_count", "no_time", "missing"):
        assert damaged.get_hold(tunnel_id) is None
    assert damaged.get_refusal("bad_refusal") is None
    # Saved before holds knew whether they were a block: blocks counted means a block.
    old = damaged.get_hold("old_format")
    assert old is not None
    assert old.abuse
