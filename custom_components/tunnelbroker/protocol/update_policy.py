"""When a tunnel's endpoint, or a dns.he.net record's address, is sent to HE: one decision.

No Home Assistant imports: the rules are plain arithmetic on facts and datetimes, tested on
their own. A dynamic DNS record (its A, and its AAAA, each on its own) follows the same rules
as a tunnel; HE's `interval` answer (too many updates of a record) is a retry. Every caller (the automatic update, the Update endpoint button, the action with and
without `force`, the setup/reauth/reconfigure flows) and the tunnel's Status read `decide`;
nothing else decides.

The waits:
- HE or the network failed, or HE answered something nobody knows (5xx, 911, dnserr, a
  timeout, a redirect, an HTML page): retry after 1 min, 2, 4, ... at most 1 h.
- HE answered `abuse`: it has blocked this client; wait 1 h, then 2, 4, ... at most 24 h.
  Sending during a block only prolongs it.
- Any request that reached HE, or may have: the next one waits at least MIN_UPDATE_INTERVAL,
  whoever sends it, so a flapping WAN link costs one update per interval (the address current
  when the wait ends is the one sent) and two callers at once cost one request.
- HE refused the credentials (`badauth`) AUTH_FAILURE_LIMIT times within AUTH_FAILURE_WINDOW:
  a flow waits until the oldest of them leaves the window. HE blocks clients that keep
  failing to authenticate too, and a form can be submitted again and again.
Every wait is jittered so that many installations that failed together do not retry together.

What HE holds is *confirmed* only by HE's word: an answer to an update (good, nochg, or a
refusal that says it changed nothing) or its tunnel information. An update whose answer was
lost leaves it unconfirmed: the router's address then never counts as unchanged until HE's
answer or its tunnel information settles it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
import random
from typing import Final

from .he_client import UpdateStatus
from .wan_address import WanAddressProblem, ipv6_host_problem, wan_address_problem

RETRY_INITIAL: Final = timedelta(minutes=1)
RETRY_MAX: Final = timedelta(hours=1)
ABUSE_INITIAL: Final = timedelta(hours=1)
ABUSE_MAX: Final = timedelta(hours=24)
# HE publishes no limit; one user was blocked after three updates within a minute. Two minutes
# apart, no minute ever sees two.
MIN_UPDATE_INTERVAL: Final = timedelta(minutes=2)
# Refused credentials a person may try within the window, before the flow waits.
AUTH_FAILURE_LIMIT: Final = 3
AUTH_FAILURE_WINDOW: Final = timedelta(minutes=15)
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
class Backoff:
    """No automatic update before `until`; why, and how many times in a row it happened."""

    until: datetime
    failures: int = 0  # failures in a row (outage, unknown answer)
    abuse_blocks: int = 0  # abuse replies in a row
    abuse: bool = False  # this wait is HE's block (not a retry after a failure)

    def abuse_block_until(self, now: datetime) -> datetime | None:
        """Return when HE's abuse block is expected to end, while it still runs."""
        return self.until if self.abuse and now < self.until else None

    def after_failure(
        self, now: datetime, rand: Callable[[], float] = random.random
    ) -> Backoff:
        """Return the backoff after one more failure (a block that still runs stays)."""
        failures = self.failures + 1
        if self.abuse_block_until(now) is not None:
            # A forced send during HE's block failed: the block is HE's, it still runs.
            return replace(self, failures=failures)
        return replace(
            self,
            until=now + retry_delay(failures, rand),
            failures=failures,
            abuse=False,
        )

    def after_abuse(
        self, now: datetime, rand: Callable[[], float] = random.random
    ) -> Backoff:
        """Return the backoff after one more abuse reply."""
        blocks = self.abuse_blocks + 1
        return replace(
            self, until=now + abuse_delay(blocks, rand), abuse_blocks=blocks, abuse=True
        )


# The state before any failure: nothing to wait for.
NO_BACKOFF: Final = Backoff(until=datetime.min.replace(tzinfo=UTC))


@dataclass(frozen=True, slots=True)
class Refusal:
    """HE refused an address for a reason only the user can fix: it is not sent again."""

    ip: str
    status: UpdateStatus

    @property
    def needs_user(self) -> bool:
        """Return whether it is about what is updated (credentials, tunnel id, record), not the address."""
        return self.status in _ABOUT_THE_TARGET


# Refusals that no address can get past: the credentials, the tunnel or record, the client.
_ABOUT_THE_TARGET: Final = frozenset(
    {
        UpdateStatus.BADAUTH,
        UpdateStatus.NOHOST,
        UpdateStatus.NOTFQDN,
        UpdateStatus.BADAGENT,
    }
)


class Caller(StrEnum):
    """Who asks for an update."""

    AUTOMATIC = "automatic"  # a router read, the end of a wait, a start or reload
    BUTTON = "button"  # Update endpoint: sends even when HE holds the address
    ACTION = "action"  # tunnelbroker.update_endpoint (`force`: even held, even blocked)
    FLOW = "flow"  # setup, reauth, reconfigure: checks new credentials with HE


class Act(StrEnum):
    """What to do now."""

    SEND = "send"
    ASK_HE = "ask_he"  # read HE's tunnel information first, then decide again
    WAIT = "wait"  # nothing before `until`
    NOTHING = "nothing"


class Why(StrEnum):
    """The reason of a decision."""

    DUE = "due"
    ROUTER_UNKNOWN = "router_unknown"
    NO_USABLE_ADDRESS = "no_usable_address"
    NEEDS_USER = "needs_user"  # badauth or nohost: the tunnel must be fixed first
    REFUSED_BEFORE = "refused_before"  # HE refused this address (badip, ICMP)
    IN_SYNC = "in_sync"
    BLOCKED = "blocked"  # HE's abuse block runs
    RETRYING = "retrying"  # after a failure
    AUTOMATIC_OFF = "automatic_off"
    RATE_LIMITED = "rate_limited"  # the last request is within the minimum interval
    UNCONFIRMED = "unconfirmed"  # an answer was lost: HE's word is needed first
    AUTH_FAILURES = "auth_failures"  # HE refused credentials too often: a flow waits


# Why a person's request (button, action, flow) can be refused: each has its words.
USER_REFUSALS: Final = frozenset(
    {
        Why.ROUTER_UNKNOWN,
        Why.NO_USABLE_ADDRESS,
        Why.NEEDS_USER,
        Why.BLOCKED,
        Why.RATE_LIMITED,
        Why.AUTH_FAILURES,
    }
)


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do, why, and until when (WAIT)."""

    act: Act
    why: Why
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything a decision depends on, as of one moment."""

    # What would be sent (the router's, or the action's); None: unknown.
    address: str | None
    endpoint: str | None  # what HE holds as far as we know
    confirmed: bool  # HE's last word on `endpoint` stands (no answer lost since)
    sent_at: datetime | None  # the last request that reached HE, or may have
    backoff: Backoff | None
    refusal: Refusal | None
    automatic: bool = True
    can_ask_he: bool = False  # HE's tunnel information can settle it, if unconfirmed
    min_interval: timedelta = MIN_UPDATE_INTERVAL
    # When HE answered badauth to this tunnel's requests lately (oldest first).
    failed_auths: tuple[datetime, ...] = ()
    # The IP version sent: 4 (a tunnel's endpoint, a record's A), 6 (a record's AAAA).
    version: int = 4

    @property
    def address_problem(self) -> WanAddressProblem | None:
        """Return why the address cannot be sent, or None when it can."""
        if self.version == 6:
            return ipv6_host_problem(self.address)
        return wan_address_problem(self.address)

    @property
    def in_sync(self) -> bool:
        """Return whether HE is known to hold the address."""
        return (
            self.confirmed
            and self.address is not None
            and self.endpoint == self.address
        )

    @property
    def rate_limited_until(self) -> datetime | None:
        """Return when the minimum interval since the last request ends."""
        return None if self.sent_at is None else self.sent_at + self.min_interval


def _nothing(why: Why) -> Decision:
    return Decision(Act.NOTHING, why)


def decide(
    facts: Facts, caller: Caller, now: datetime, *, force: bool = False
) -> Decision:
    """Return what `caller` may do now.

    The order is the order of what matters: an address that cannot work, a tunnel HE refuses,
    an address HE holds, HE's block, a running backoff (automatic only: a user may retry a
    failure), automatic updates off, the minimum interval (`force` included), an unconfirmed
    endpoint that HE can settle (automatic only), then send.

    A flow is a person checking credentials they just typed: it waits for HE's block only
    (each submit is one deliberate request, and a typo must not cost minutes), but what it
    sends starts the minimum interval for every other caller.
    """
    address = facts.address
    if address is None:
        return _nothing(Why.ROUTER_UNKNOWN)
    if facts.address_problem is not None:
        return _nothing(Why.NO_USABLE_ADDRESS)
    refusal = facts.refusal
    if refusal is not None and caller is not Caller.FLOW:
        # The flow brings new credentials; a user press may follow a fix at HE (a recreated
        # tunnel, an opened firewall), but never with credentials HE refused.
        if refusal.status is UpdateStatus.BADAUTH or (
            refusal.needs_user and caller is Caller.AUTOMATIC
        ):
            return _nothing(Why.NEEDS_USER)
        if caller is Caller.AUTOMATIC and refusal.ip == address:
            return _nothing(Why.REFUSED_BEFORE)
    if facts.in_sync and (
        caller is Caller.AUTOMATIC or (caller is Caller.ACTION and not force)
    ):
        return _nothing(Why.IN_SYNC)
    backoff = facts.backoff
    if backoff is not None and now < backoff.until:
        if backoff.abuse and not (caller is Caller.ACTION and force):
            return Decision(Act.WAIT, Why.BLOCKED, backoff.until)
    if caller is Caller.FLOW and (until := _auth_failures_until(facts, now)):
        return Decision(Act.WAIT, Why.AUTH_FAILURES, until)
    if backoff is not None and now < backoff.until:
        if caller is Caller.AUTOMATIC:
            retry = max(backoff.until, facts.rate_limited_until or backoff.until)
            return Decision(Act.WAIT, Why.RETRYING, retry)
    if caller is Caller.AUTOMATIC and not facts.automatic:
        return _nothing(Why.AUTOMATIC_OFF)
    until = facts.rate_limited_until
    if caller is not Caller.FLOW and until is not None and now < until:
        return Decision(Act.WAIT, Why.RATE_LIMITED, until)
    if caller is Caller.AUTOMATIC and not facts.confirmed and facts.can_ask_he:
        return Decision(Act.ASK_HE, Why.UNCONFIRMED)
    return Decision(Act.SEND, Why.DUE)


def _auth_failures_until(facts: Facts, now: datetime) -> datetime | None:
    """Return when a flow may try credentials again, while too many were refused lately."""
    recent = [at for at in facts.failed_auths if now - at < AUTH_FAILURE_WINDOW]
    if len(recent) < AUTH_FAILURE_LIMIT:
        return None
    return recent[-AUTH_FAILURE_LIMIT] + AUTH_FAILURE_WINDOW


class EndpointStatus(StrEnum):
    """Where a tunnel's endpoint at HE stands, and what it waits for (an enum sensor's states)."""

    IN_SYNC = "in_sync"  # HE confirmed it holds the router's address
    UPDATING = "updating"  # the router's address is being sent (or HE asked first)
    RATE_LIMITED = "rate_limited"  # waiting for the minimum interval to end
    RETRYING = "retrying"  # HE failed or answered oddly: waiting before the next try
    BLOCKED = "blocked"  # HE answered abuse: waiting for the block to end
    REFUSED = "refused"  # HE refused the credentials, the tunnel id or this address
    NO_PUBLIC_ADDRESS = "no_public_address"  # behind another NAT, or no address
    AUTOMATIC_OFF = "automatic_off"  # the address changed; automatic update is off


_STATUS_OF: Final[dict[Why, EndpointStatus | None]] = {
    Why.DUE: EndpointStatus.UPDATING,
    Why.UNCONFIRMED: EndpointStatus.UPDATING,
    Why.ROUTER_UNKNOWN: None,
    Why.NO_USABLE_ADDRESS: EndpointStatus.NO_PUBLIC_ADDRESS,
    Why.NEEDS_USER: EndpointStatus.REFUSED,
    Why.REFUSED_BEFORE: EndpointStatus.REFUSED,
    Why.IN_SYNC: EndpointStatus.IN_SYNC,
    Why.BLOCKED: EndpointStatus.BLOCKED,
    Why.RETRYING: EndpointStatus.RETRYING,
    Why.AUTOMATIC_OFF: EndpointStatus.AUTOMATIC_OFF,
    Why.RATE_LIMITED: EndpointStatus.RATE_LIMITED,
}


def endpoint_status(decision: Decision) -> EndpointStatus | None:
    """Return the Status the automatic caller's decision shows (None: router unknown)."""
    return _STATUS_OF[decision.why]
