"""The waits between automatic updates: doubling, capped, jittered in the safe direction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.tunnelbroker.protocol.update_policy import (
    ABUSE_INITIAL,
    ABUSE_MAX,
    JITTER,
    NO_BACKOFF,
    RETRY_INITIAL,
    RETRY_MAX,
    abuse_delay,
    retry_delay,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("failures", "nominal"),
    [
        (1, RETRY_INITIAL),
        (2, RETRY_INITIAL * 2),
        (6, RETRY_INITIAL * 32),
        (7, RETRY_MAX),
        (40, RETRY_MAX),
        (10_000, RETRY_MAX),
    ],
)
def test_retry_delay_doubles_up_to_the_cap_and_jitters_down(
    failures: int, nominal: timedelta
) -> None:
    assert retry_delay(failures, rand=lambda: 0.0) == nominal
    assert retry_delay(failures, rand=lambda: 1.0) == nominal * (1 - JITTER)
    assert nominal * (1 - JITTER) <= retry_delay(failures) <= nominal


@pytest.mark.parametrize(
    ("blocks", "nominal"),
    [
        (1, ABUSE_INITIAL),
        (2, ABUSE_INITIAL * 2),
        (5, ABUSE_INITIAL * 16),
        (6, ABUSE_MAX),
        (99, ABUSE_MAX),
    ],
)
def test_abuse_delay_starts_at_an_hour_and_jitters_up(
    blocks: int, nominal: timedelta
) -> None:
    assert timedelta(hours=1) <= ABUSE_INITIAL
    assert abuse_delay(blocks, rand=lambda: 0.0) == nominal
    assert abuse_delay(blocks, rand=lambda: 1.0) == nominal * (1 + JITTER)
    assert nominal <= abuse_delay(blocks) <= nominal * (1 + JITTER)


def test_backoff_counts_failures_and_blocks_separately() -> None:
    backoff = NO_BACKOFF.after_failure(NOW, rand=lambda: 0.0)
    assert (backoff.until, backoff.failures, backoff.abuse) == (
        NOW + RETRY_INITIAL,
        1,
        False,
    )
    backoff = backoff.after_abuse(NOW, rand=lambda: 0.0)
    assert (backoff.until, backoff.failures, backoff.abuse_blocks) == (
        NOW + ABUSE_INITIAL,
        1,
        1,
    )
    assert backoff.abuse
    backoff = backoff.after_failure(NOW, rand=lambda: 0.0)
    assert (backoff.until, backoff.failures) == (NOW + RETRY_INITIAL * 2, 2)
