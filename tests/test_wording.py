"""wording: the one way times, durations and address problems are put to the user."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.tunnelbroker.protocol.wan_address import WanAddressProblem
from custom_components.tunnelbroker.wording import (
    address_problem_key,
    duration,
    moment,
    moment_from_now,
)
from homeassistant.core import HomeAssistant

NOW = datetime(2026, 12, 3, 7, 9, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(seconds=0), "0 seconds"),
        (timedelta(seconds=1), "1 second"),
        (timedelta(seconds=59.2), "1 minute"),
        (timedelta(seconds=61), "2 minutes"),  # rounded up: never sooner than said
        (timedelta(minutes=5), "5 minutes"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(hours=20, minutes=1), "21 hours"),
        (timedelta(days=2), "2 days"),
    ],
)
def test_duration(delta: timedelta, words: str) -> None:
    assert duration(delta) == words


async def test_moments_in_local_time(hass: HomeAssistant) -> None:
    await hass.config.async_set_time_zone("Europe/Berlin")  # UTC+1 in December
    assert moment(NOW + timedelta(minutes=2), NOW) == "08:11:02"
    assert moment(NOW + timedelta(days=1), NOW) == "2026-12-04 08:09"
    assert moment_from_now(NOW + timedelta(minutes=2), NOW) == "08:11:02 (in 2 minutes)"
    assert (
        moment_from_now(NOW + timedelta(hours=20), NOW)
        == "2026-12-04 04:09 (in 20 hours)"
    )


def test_every_address_problem_has_a_key_of_its_own() -> None:
    for router in (True, False):
        keys = {
            address_problem_key(problem, router=router) for problem in WanAddressProblem
        }
        assert len(keys) == len(WanAddressProblem)
    assert address_problem_key(WanAddressProblem.DS_LITE, router=True) == (
        "router_address_ds_lite"
    )
    assert address_problem_key(WanAddressProblem.DS_LITE, router=False) == (
        "invalid_ip_ds_lite"
    )
