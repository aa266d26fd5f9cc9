"""The one decision: the waits (doubling, capped, jittered in the safe direction) and who may send when."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
import random
from typing import Any

import pytest

from custom_components.tunnelbroker.protocol.he_client import REFUSALS, UpdateStatus
from custom_components.tunnelbroker.protocol.update_policy import (
    ABUSE_INITIAL,
    ABUSE_MAX,
    AUTH_FAILURE_WINDOW,
    JITTER,
    MIN_UPDATE_INTERVAL,
    NO_BACKOFF,
    RETRY_INITIAL,
    RETRY_MAX,
    USER_REFUSALS,
    Act,
    Caller,
    Decision,
    EndpointStatus,
    Facts,
    Refusal,
    Why,
    abuse_delay,
    decide,
    endpoint_status,
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
    # A (forced) send that fails during HE's block leaves the block as it is.
    during = backoff.after_failure(NOW + timedelta(minutes=5), rand=lambda: 0.0)
    assert (during.until, during.abuse, during.failures) == (
        NOW + ABUSE_INITIAL,
        True,
        2,
    )
    # After the block, a failure is a retry again.
    after = NOW + ABUSE_INITIAL
    backoff = backoff.after_failure(after, rand=lambda: 0.0)
    assert (backoff.until, backoff.failures) == (after + RETRY_INITIAL * 2, 2)
    assert not backoff.abuse


# -- the one decision ------------------------------------------------------------------------
A, B = "84.17.0.1", "84.17.0.2"


def facts(**changes: Any) -> Facts:
    """Return HE holding A (confirmed), the router at A, nothing running, then `changes`."""
    base: dict[str, Any] = {
        "address": A,
        "endpoint": A,
        "confirmed": True,
        "sent_at": None,
        "backoff": None,
        "refusal": None,
        "can_ask_he": True,
    }
    return Facts(**(base | changes))


def test_an_unconfirmed_endpoint_is_never_unchanged() -> None:
    """A lost reply, then the router back at the old address: HE's word is asked first."""
    lost = facts(confirmed=False)
    assert decide(lost, Caller.AUTOMATIC, NOW) == Decision(Act.ASK_HE, Why.UNCONFIRMED)
    assert decide(lost, Caller.ACTION, NOW).act is Act.SEND
    # Without HE's information to ask, the update itself settles it.
    no_info = facts(confirmed=False, can_ask_he=False)
    assert decide(no_info, Caller.AUTOMATIC, NOW) == Decision(Act.SEND, Why.DUE)
    assert decide(facts(), Caller.AUTOMATIC, NOW) == Decision(Act.NOTHING, Why.IN_SYNC)


@pytest.mark.parametrize("caller", list(Caller))
def test_no_caller_sends_within_the_minimum_interval_but_a_flow(caller: Caller) -> None:
    recent = facts(address=B, sent_at=NOW - MIN_UPDATE_INTERVAL / 2)
    decision = decide(recent, caller, NOW, force=True)
    if caller is Caller.FLOW:
        assert decision.act is Act.SEND
    else:
        assert decision == Decision(
            Act.WAIT, Why.RATE_LIMITED, NOW + MIN_UPDATE_INTERVAL / 2
        )
    assert decide(
        facts(address=B, sent_at=NOW - MIN_UPDATE_INTERVAL), caller, NOW
    ).act is (Act.SEND)


def test_a_retry_waits_for_the_later_of_backoff_and_interval() -> None:
    backoff = NO_BACKOFF.after_failure(NOW, rand=lambda: 1.0)  # 48 s
    decision = decide(
        facts(address=B, backoff=backoff, sent_at=NOW), Caller.AUTOMATIC, NOW
    )
    assert decision == Decision(Act.WAIT, Why.RETRYING, NOW + MIN_UPDATE_INTERVAL)
    assert endpoint_status(decision) is EndpointStatus.RETRYING
    # A person may retry a failure at once (past the interval), not an abuse block.
    later = NOW + MIN_UPDATE_INTERVAL
    assert decide(
        facts(address=B, backoff=backoff, sent_at=NOW), Caller.BUTTON, later
    ).act is (Act.SEND)


def test_an_abuse_block_holds_everyone_but_a_forced_action() -> None:
    block = NO_BACKOFF.after_abuse(NOW, rand=lambda: 0.0)
    blocked = facts(address=B, backoff=block)
    for caller in Caller:
        decision = decide(blocked, caller, NOW)
        assert decision == Decision(Act.WAIT, Why.BLOCKED, NOW + ABUSE_INITIAL)
    assert decide(blocked, Caller.ACTION, NOW, force=True).act is Act.SEND
    # Status shows the block even with automatic updates off.
    off = decide(
        facts(address=B, backoff=block, automatic=False), Caller.AUTOMATIC, NOW
    )
    assert endpoint_status(off) is EndpointStatus.BLOCKED


def test_refusals() -> None:
    badauth = facts(address=B, refusal=Refusal(A, UpdateStatus.BADAUTH))
    for caller in (Caller.AUTOMATIC, Caller.BUTTON, Caller.ACTION):
        assert decide(badauth, caller, NOW).why is Why.NEEDS_USER
    assert decide(badauth, Caller.FLOW, NOW).act is Act.SEND  # new credentials
    nohost = facts(address=B, refusal=Refusal(A, UpdateStatus.NOHOST))
    assert decide(nohost, Caller.AUTOMATIC, NOW).why is Why.NEEDS_USER
    assert decide(nohost, Caller.BUTTON, NOW).act is Act.SEND  # recreated at HE
    icmp = facts(address=B, refusal=Refusal(B, UpdateStatus.ICMP_BLOCKED))
    assert decide(icmp, Caller.AUTOMATIC, NOW).why is Why.REFUSED_BEFORE
    assert decide(icmp, Caller.BUTTON, NOW).act is Act.SEND  # firewall opened
    other = facts(address=B, refusal=Refusal(A, UpdateStatus.BADIP))
    assert decide(other, Caller.AUTOMATIC, NOW).act is Act.SEND
    assert (
        endpoint_status(decide(icmp, Caller.AUTOMATIC, NOW)) is EndpointStatus.REFUSED
    )


def test_unusable_and_unknown_addresses_send_nothing() -> None:
    assert decide(facts(address=None), Caller.AUTOMATIC, NOW).why is Why.ROUTER_UNKNOWN
    assert endpoint_status(decide(facts(address=None), Caller.AUTOMATIC, NOW)) is None
    for address in ("", "10.0.0.1", "100.64.1.1", "garbage"):
        decision = decide(facts(address=address), Caller.BUTTON, NOW, force=True)
        assert decision.why is Why.NO_USABLE_ADDRESS


def test_held_addresses_go_out_only_when_a_person_insists() -> None:
    assert decide(facts(), Caller.ACTION, NOW).why is Why.IN_SYNC
    assert decide(facts(), Caller.ACTION, NOW, force=True).act is Act.SEND
    assert decide(facts(), Caller.BUTTON, NOW).act is Act.SEND
    off = facts(address=B, automatic=False)
    assert decide(off, Caller.AUTOMATIC, NOW).why is Why.AUTOMATIC_OFF
    assert decide(off, Caller.ACTION, NOW).act is Act.SEND


def test_a_form_waits_after_credentials_were_refused_too_often() -> None:
    """HE blocks clients that keep failing to sign in: the third refusal in 15 min stops a flow."""
    twice = facts(
        address=B, failed_auths=(NOW - timedelta(minutes=9), NOW - timedelta(minutes=1))
    )
    assert decide(twice, Caller.FLOW, NOW).act is Act.SEND
    thrice = replace(
        twice, failed_auths=(NOW - timedelta(minutes=20), *twice.failed_auths, NOW)
    )
    decision = decide(thrice, Caller.FLOW, NOW)
    assert (decision.act, decision.why) == (Act.WAIT, Why.AUTH_FAILURES)
    # Until the oldest of the last three leaves the window.
    assert decision.until == NOW - timedelta(minutes=9) + AUTH_FAILURE_WINDOW
    assert decide(thrice, Caller.FLOW, decision.until).act is Act.SEND
    # Only forms: the tunnel's own updates never send refused credentials anyway.
    assert decide(thrice, Caller.BUTTON, NOW).why is not Why.AUTH_FAILURES


def test_every_reason_a_person_can_meet_has_its_words() -> None:
    """Over many random facts, a user's request is sent, unchanged, or refused in words."""
    rand = random.Random(20261203)  # noqa: S311 (a seeded, repeatable sample)
    addresses = [None, "", A, B, "10.0.0.1"]
    seen: set[Why] = set()
    for _ in range(5000):
        backoff = rand.choice(
            [
                None,
                NO_BACKOFF.after_failure(NOW - timedelta(minutes=rand.randint(0, 90))),
                NO_BACKOFF.after_abuse(NOW - timedelta(hours=rand.randint(0, 3))),
            ]
        )
        refusal = rand.choice(
            [None, *(Refusal(rand.choice([A, B]), s) for s in REFUSALS)]
        )
        sample = Facts(
            address=rand.choice(addresses),
            endpoint=rand.choice([None, A, B]),
            confirmed=rand.random() < 0.7,
            sent_at=rand.choice([None, NOW - timedelta(seconds=rand.randint(0, 300))]),
            backoff=backoff,
            refusal=refusal,
            automatic=rand.random() < 0.8,
            can_ask_he=rand.random() < 0.5,
            failed_auths=tuple(
                NOW - timedelta(minutes=m)
                for m in sorted(
                    rand.sample(range(30), rand.randint(0, 3)), reverse=True
                )
            ),
        )
        for caller in (Caller.BUTTON, Caller.ACTION, Caller.FLOW):
            decision = decide(sample, caller, NOW, force=rand.random() < 0.5)
            assert decision.act is not Act.ASK_HE
            if decision.act is not Act.SEND and decision.why is not Why.IN_SYNC:
                seen.add(decision.why)
        automatic = decide(sample, Caller.AUTOMATIC, NOW)
        # Status says In sync only when HE's last word confirms the router's address.
        if endpoint_status(automatic) is EndpointStatus.IN_SYNC:
            assert sample.confirmed and sample.endpoint == sample.address
    assert seen == USER_REFUSALS


def test_a_records_aaaa_is_decided_on_an_ipv6_host_address() -> None:
    """A record's AAAA: an IPv6 host address is sendable, the router's kind of check is not."""
    host, other = "2001:470:1f0b:1234::10", "2001:470:1f0b:1234::11"
    held = facts(address=host, endpoint=host, version=6, can_ask_he=False)
    assert decide(held, Caller.AUTOMATIC, NOW) == Decision(Act.NOTHING, Why.IN_SYNC)
    moved = facts(address=other, endpoint=host, version=6, can_ask_he=False)
    assert decide(moved, Caller.AUTOMATIC, NOW) == Decision(Act.SEND, Why.DUE)
    not_global = facts(address="fd00::1", endpoint=host, version=6)
    assert decide(not_global, Caller.BUTTON, NOW).why is Why.NO_USABLE_ADDRESS
    # An IPv4 address is no AAAA, and an IPv6 one no tunnel endpoint.
    assert decide(facts(address=A, version=6), Caller.ACTION, NOW).why is (
        Why.NO_USABLE_ADDRESS
    )
    assert decide(facts(address=host), Caller.ACTION, NOW).why is Why.NO_USABLE_ADDRESS


@pytest.mark.parametrize(
    "status", [UpdateStatus.NOTFQDN, UpdateStatus.BADAGENT, UpdateStatus.NOHOST]
)
def test_a_refused_record_waits_for_the_user(status: UpdateStatus) -> None:
    """No such record, or HE refusing this client: no address gets past it by itself."""
    refused = facts(address=B, refusal=Refusal(ip=A, status=status))
    assert decide(refused, Caller.AUTOMATIC, NOW) == Decision(
        Act.NOTHING, Why.NEEDS_USER
    )
    # A press may follow a fix on dns.he.net.
    assert decide(refused, Caller.BUTTON, NOW).act is Act.SEND
