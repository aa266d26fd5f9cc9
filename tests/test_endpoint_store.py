"""The endpoint store survives restarts, shrugs off damaged records and says when it could not read."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tunnelbroker.const import DOMAIN
from custom_components.tunnelbroker.endpoint_store import (
    STORAGE_KEY,
    EndpointStore,
    async_get_endpoint_store,
)
from custom_components.tunnelbroker.protocol.he_client import UpdateStatus
from custom_components.tunnelbroker.protocol.update_policy import Backoff, Refusal
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from simulators.he import HeSimulator
from simulators.igd import IgdSimulator

from .conftest import WAN_IP, setup_entry
from .support.entity_ids import STATUS


async def test_round_trip_and_forget(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    store = await async_get_endpoint_store(hass)
    assert await async_get_endpoint_store(hass) is store
    when = dt_util.utcnow()
    await store.async_confirmed("1", "84.17.0.1", when)
    await store.async_confirmed("2", "84.17.0.2", when)
    assert hass_storage[STORAGE_KEY]["data"]["1"] == {
        "endpoint": "84.17.0.1",
        "updated_at": when.isoformat(),
    }
    reread = EndpointStore(hass)
    await reread.async_load()
    record = reread.get("1")
    assert record is not None
    assert (record.endpoint, record.updated_at) == ("84.17.0.1", when)
    assert reread.holds("1", "84.17.0.1")
    await store.async_forget({"1", "99"})
    assert set(hass_storage[STORAGE_KEY]["data"]) == {"2"}
    before = dict(hass_storage[STORAGE_KEY])
    await store.async_forget({"99"})
    assert hass_storage[STORAGE_KEY] == before


async def test_a_request_is_written_ahead_and_unconfirmed_until_he_answers(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    store = await async_get_endpoint_store(hass)
    when = dt_util.utcnow()
    await store.async_confirmed("1", "84.17.0.1", when)
    await store.async_sending("1", "84.17.0.2", when)
    # On disk before the request goes out: a crash or an unload leaves it unconfirmed.
    assert hass_storage[STORAGE_KEY]["data"]["1"]["unsettled"] == "84.17.0.2"
    reread = EndpointStore(hass)
    await reread.async_load()
    memory = reread.memory("1")
    assert (memory.unsettled, memory.sent_at) == ("84.17.0.2", when)
    # Neither the old endpoint nor the new one counts as held until HE says which.
    assert not reread.holds("1", "84.17.0.1")
    assert not reread.holds("1", "84.17.0.2")
    await store.async_adopt("1", "84.17.0.2", when)
    assert store.holds("1", "84.17.0.2")
    assert "unsettled" not in hass_storage[STORAGE_KEY]["data"]["1"]


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
    assert not ir.async_get(hass).issues  # damaged records are not a damaged store


async def test_backoffs_and_refusals_round_trip_and_damaged_ones_are_skipped(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    store = await async_get_endpoint_store(hass)
    until = dt_util.utcnow()
    backoff = Backoff(until=until, failures=2, abuse_blocks=1, abuse=True)
    refusal = Refusal(ip="84.17.0.1", status=UpdateStatus.ICMP_BLOCKED)
    await store.async_sending("1", "84.17.0.1", until)
    await store.async_refused("1", unsettled=None, refusal=refusal, backoff=backoff)
    await store.async_refused("1", unsettled=None, refusal=refusal, backoff=backoff)
    assert hass_storage[STORAGE_KEY]["data"]["1"] == {
        "backoff": {
            "until": until.isoformat(),
            "failures": 2,
            "abuse_blocks": 1,
            "abuse": True,
        },
        "refusal": {"ip": "84.17.0.1", "status": "icmp_blocked"},
        "sent_at": until.isoformat(),
    }
    reread = EndpointStore(hass)
    await reread.async_load()
    assert reread.memory("1") == store.memory("1")
    assert reread.get("1") is None  # no confirmed endpoint yet
    # HE confirms an endpoint: the backoff and the refusal are over, the send time stays.
    await store.async_confirmed("1", "84.17.0.2", until)
    assert set(hass_storage[STORAGE_KEY]["data"]["1"]) == {
        "endpoint",
        "updated_at",
        "sent_at",
    }
    await store.async_forget({"1"})
    assert hass_storage[STORAGE_KEY]["data"] == {}

    hass_storage[STORAGE_KEY]["data"] = {
        "naive": {
            "hold": {"until": "2026-01-01T00:00:00", "failures": 1, "abuse_blocks": 0}
        },
        "bad_count": {
            "backoff": {"until": until.isoformat(), "failures": "x", "abuse_blocks": 0}
        },
        "no_time": {"backoff": {"until": "later", "failures": 1, "abuse_blocks": 0}},
        "missing": {"backoff": {"failures": 1}},
        "bad_refusal": {"refusal": "badip"},
        # Earlier versions stored an answer nobody knew as a refusal, for ever.
        "unknown_refusal": {"refusal": {"ip": "84.17.0.1", "status": "unknown"}},
        "old_format": {
            "hold": {"until": until.isoformat(), "failures": 0, "abuse_blocks": 2},
            "answered_at": until.isoformat(),
        },
    }
    damaged = EndpointStore(hass)
    await damaged.async_load()
    for tunnel_id in ("naive", "bad_count", "no_time", "missing"):
        assert damaged.memory(tunnel_id).backoff is None
    assert damaged.get_refusal("bad_refusal") is None
    assert damaged.get_refusal("unknown_refusal") is None
    # Saved before backoffs knew whether they were a block: blocks counted means a block.
    old = damaged.memory("old_format")
    assert old.backoff is not None
    assert old.backoff.abuse
    assert old.sent_at == until


async def test_a_store_from_a_newer_version_keeps_what_it_can_read_and_says_so(
    hass: HomeAssistant, hass_storage: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A HACS downgrade: the newer version's file is read as far as this one understands it."""
    hass_storage[STORAGE_KEY] = {
        "version": 3,
        "minor_version": 1,
        "key": STORAGE_KEY,
        "data": {
            "1": {
                "endpoint": "84.17.0.1",
                "updated_at": "2026-01-01T00:00:00+00:00",
                "something_new": {"a": 1},
            },
        },
    }
    store = await async_get_endpoint_store(hass)
    assert store.holds("1", "84.17.0.1")
    issue = ir.async_get(hass).async_get_issue(DOMAIN, "store_from_newer_version")
    assert issue is not None
    assert issue.translation_key == "store_from_newer_version"
    assert "could not be read whole (saved by a newer version)" in caplog.text


@pytest.mark.parametrize(
    "stored",
    [
        {"version": 1, "key": STORAGE_KEY, "data": ["not", "a", "mapping"]},
        {"version": 1, "key": STORAGE_KEY, "data": "garbage"},
        {"version": 2, "key": STORAGE_KEY, "data": 7},
        {"version": 1, "key": STORAGE_KEY},  # no data at all
    ],
)
async def test_a_damaged_store_starts_clean_and_says_so(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    stored: dict[str, Any],
) -> None:
    hass_storage[STORAGE_KEY] = stored
    store = await async_get_endpoint_store(hass)
    assert store.get("1") is None
    issues = [
        issue_id
        for (domain, issue_id) in ir.async_get(hass).issues
        if domain == DOMAIN and issue_id.startswith("store_")
    ]
    assert issues  # the newer or the damaged one, in words
    assert "could not be read whole" in caplog.text
    # What comes next is saved as usual.
    await store.async_confirmed("1", "84.17.0.1", dt_util.utcnow())
    assert hass_storage[STORAGE_KEY]["data"]["1"]["endpoint"] == "84.17.0.1"


@pytest.mark.parametrize("version", [2, 1])
async def test_setup_goes_on_with_a_store_it_cannot_read_whole(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    version: int,
) -> None:
    """A HACS downgrade, or a damaged file: the entry loads, and Repairs says what happened."""
    hass_storage[STORAGE_KEY] = {
        "version": version,
        "key": STORAGE_KEY,
        "data": [] if version == 1 else {"x": {"format": "of the future"}},
    }
    await setup_entry(hass, config_entry)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert config_entry.state is ConfigEntryState.LOADED
    issue = "store_damaged" if version == 1 else "store_from_newer_version"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue) is not None
    # HE's tunnel information settles what was forgotten; the router's address goes out once.
    assert [r.myip for r in he.requests] == [WAN_IP]
    assert hass.states.get(STATUS).state == "in_sync"
