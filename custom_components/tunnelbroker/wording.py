"""How the integration words what it tells the user, in one place for every message and form.

Times and durations; which translation says why an address cannot be an endpoint.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import math

from homeassistant.util import dt as dt_util

from .protocol.wan_address import WanAddressProblem

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def duration(delta: timedelta) -> str:
    """Return a duration in its largest whole unit, rounded up: "2 minutes", "1 hour"."""
    seconds = max(0, math.ceil(delta.total_seconds()))
    unit, size = next(
        (unit, size) for unit, size in _UNITS if seconds >= size or size == 1
    )
    count = math.ceil(seconds / size)
    return f"{count} {unit}{'s' * (count != 1)}"


def moment(when: datetime, now: datetime | None = None) -> str:
    """Return a moment in local time: "14:05:40" today, "2026-12-04 08:10" on another day.

    For what stays on screen (a repair issue): no "in 2 minutes" that would grow stale.
    """
    local = dt_util.as_local(when)
    today = dt_util.as_local(now or dt_util.utcnow()).date()
    return f"{local:%H:%M:%S}" if local.date() == today else f"{local:%Y-%m-%d %H:%M}"


def moment_from_now(when: datetime, now: datetime | None = None) -> str:
    """Return a coming moment and how far off it is: "14:05:40 (in 2 minutes)".

    For an answer read the moment it is given (an error of a press, an action, a form).
    """
    now = now or dt_util.utcnow()
    return f"{moment(when, now)} (in {duration(when - now)})"


def address_problem_key(problem: WanAddressProblem, *, router: bool) -> str:
    """Return the translation key (exceptions) saying why an address cannot be sent.

    `router`: the router reports the address (else the user typed it, in the action).
    """
    return f"{'router_address' if router else 'invalid_ip'}_{problem.value}"
