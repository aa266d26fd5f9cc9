"""The endpoint store survives restarts and shrugs off damaged records."""

from __future__ import annotations

from typing import Any

from custom_components.tunnelbroker.endpoint_store import (
    STORAGE_KEY,
    EndpointStore,
    async_get_endpoint_store,
)
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
