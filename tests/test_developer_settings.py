"""Developer settings: read once from the environment, logged, and refused when unsafe."""

from __future__ import annotations

from datetime import timedelta
import logging

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tunnelbroker.const import (
    ENV_HEALTH_ISSUE_AFTER,
    ENV_HEALTH_TARGET,
    ENV_MIN_UPDATE_INTERVAL,
    TUNNEL_DOWN_ISSUE_AFTER,
)
from custom_components.tunnelbroker.developer_settings import (
    health_issue_after,
    health_target,
    min_update_interval,
)
from custom_components.tunnelbroker.protocol.update_policy import MIN_UPDATE_INTERVAL
from homeassistant.core import HomeAssistant
from simulators.he import HeSimulator
from simulators.igd import IgdSimulator

from .conftest import WAN_IP, seed_endpoint, setup_entry, wan_change


async def test_min_update_interval_override_lets_changes_through(
    hass: HomeAssistant,
    hass_storage: dict[str, object],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(ENV_MIN_UPDATE_INTERVAL, "0")
    seed_endpoint(hass_storage, WAN_IP, he=he)
    with caplog.at_level(logging.WARNING):
        await setup_entry(hass, config_entry)
    assert f"{ENV_MIN_UPDATE_INTERVAL} is set" in caplog.text
    await wan_change(hass, igd, freezer, "84.17.6.1")
    await wan_change(hass, igd, freezer, "84.17.6.2")
    assert [r.myip for r in he.requests] == ["84.17.6.1", "84.17.6.2"]


@pytest.mark.parametrize("value", ["-1", "121", "soon", "nan"])
async def test_unsafe_min_update_interval_is_ignored(
    hass: HomeAssistant,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    value: str,
) -> None:
    monkeypatch.setenv(ENV_MIN_UPDATE_INTERVAL, value)
    assert min_update_interval(hass) == MIN_UPDATE_INTERVAL
    assert f"Ignoring {ENV_MIN_UPDATE_INTERVAL}={value!r}" in caplog.text


async def test_min_update_interval_default(hass: HomeAssistant) -> None:
    assert min_update_interval(hass) == MIN_UPDATE_INTERVAL == timedelta(minutes=2)


@pytest.mark.parametrize(
    ("value", "target"),
    [
        ("::1", "::1"),
        (" 0:0::1 ", "::1"),
        ("127.0.0.1", None),
        ("host", None),
        ("", None),
    ],
)
async def test_health_target_must_be_ipv6(
    hass: HomeAssistant,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    value: str,
    target: str | None,
) -> None:
    monkeypatch.setenv(ENV_HEALTH_TARGET, value)
    assert health_target(hass) == target
    if target is not None:
        assert f"{ENV_HEALTH_TARGET} is set" in caplog.text
    elif value:
        assert f"Ignoring {ENV_HEALTH_TARGET}" in caplog.text


@pytest.mark.parametrize(
    ("value", "after"),
    [
        ("5", timedelta(seconds=5)),
        ("", TUNNEL_DOWN_ISSUE_AFTER),
        ("-1", TUNNEL_DOWN_ISSUE_AFTER),
        ("901", TUNNEL_DOWN_ISSUE_AFTER),
        ("later", TUNNEL_DOWN_ISSUE_AFTER),
    ],
)
async def test_health_issue_window_can_only_shrink(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch, value: str, after: timedelta
) -> None:
    monkeypatch.setenv(ENV_HEALTH_ISSUE_AFTER, value)
    assert health_issue_after(hass) == after
