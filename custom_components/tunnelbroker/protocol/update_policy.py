"""How long automatic endpoint updates wait after a failure, a block or a recent update.

No Home Assistant imports: the rules are plain arithmetic on datetimes, tested on their own.

- HE or the network failed (5xx, 911, dnserr, timeout): retry after 1 min, 2, 4, ... at most 1 h.
- HE answered `abuse`: it has blocked this client; wait 1 h, then 2, 4, ... at most 24 h. Sending
  during a block only prolongs it.
- Any update: the next automatic one waits at least MIN_UPDATE_INTERVAL, so a flapping WAN link
  costs one update per interval (the address current when the wait ends is the one sent).
Every wait is jittered so that many installations that failed together do not retry together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
import random
from typing import Final

RETRY_INITIAL: Final = timedelta(minutes=1)
RETRY_MAX: Final = timedelta(hours=1)
ABUSE_INITIAL: Final = timedelta(hours=1)
ABUSE_MAX: Final = timedelta(hours=24)
# HE publishes no limit; one user was blocked after three updates within a minute. Two minutes
# apart, no minute ever sees two.
MIN_UPDATE_INTERVAL: Final = timedelta(minutes=2)
# Retries are shortened by up to this share (never beyond the cap), abuse waits lengthened by it
# (never below the minimum).
JITTER: Final = 0.2


def _doubling(initial: timedelta, maximum: timedelta, count: int) -> timedelta:
    """Return initial * 2^(count-1), capped at maximum (count >= 1)."""
    if count > 32:  # 2^32 minutes is far beyond any cap
        return maximum
    doubled: timedelta = initial * 2 ** (count - 1)
    return min(doubled, maximum)


def retry_delay(failures: int, rand: Callable[[], float] = random.random) -> timedelta:
    """Return the wait after the `failures`-th failure in a row (1 min .. 1 h, jittered down)."""
    return _doubling(RETRY_INITIAL, RETRY_MAX, failures) * (1 - JITTER * rand())


def abuse_delay(blocks: int, rand: Callable[[], float] = random.random) -> timedelta:
    """Return the wait after the `blocks`-th abuse reply in a row (>= 1 h, jittered up)."""
    return _doubling(ABUSE_INITIAL, ABUSE_MAX, blocks) * (1 + JITTER * rand())


@dataclass(frozen=True, slots=True)
class Hold:
    """No automatic update before `until`; why, and how many times in a row it happened."""

    until: datetime
    failures: int = 0  # retryable failures in a row
    abuse_blocks: int = 0  # abuse replies in a row
    abuse: bool = False  # this wait is HE's block (not a retry after an outage)

    def abuse_block_until(self, now: datetime) -> datetime | None:
        """Return when HE's abuse block is expected to end, while it still runs."""
        return self.until if self.abuse and now < self.until else None

    def after_failure(
        self, now: datetime, rand: Callable[[], float] = random.random
    ) -> Hold:
        """Return the hold after one more retryable failure."""
        failures = self.failures + 1
        return replace(
            self,
            until=now + retry_delay(failures, rand),
            failures=failures,
            abuse=False,
        )

    def after_abuse(
        self, now: datetime, rand: Callable[[], float] = random.random
    ) -> Hold:
        """Return the hold after one more abuse reply."""
        blocks = self.abuse_blocks + 1
        return replace(
            self, until=now + abuse_delay(blocks, rand), abuse_blocks=blocks, abuse=True
        )


# The state before any failure: nothing to wait for.
NO_HOLD: Final = Hold(until=datetime.min.replace(tzinfo=UTC))


@dataclass(frozen=True, slots=True)
class Refusal:
    """HE refused an address for a reason only the user can fix: it is not sent again."""

    ip: str
    status: str  # HE's answer (he_client.UpdateStatus value)
