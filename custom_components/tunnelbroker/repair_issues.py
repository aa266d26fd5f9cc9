"""Repair issues: what is wrong that only the user can fix, and how.

Each issue is raised when the problem is seen and deleted as soon as it is gone (the next
successful update, a public WAN address again), so the Repairs panel never shows a stale one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DNS_PAGE_URL, DOMAIN, TUNNEL_PAGE_URL
from .protocol.he_client import ICMP_PROBE_ADDRESS
from .protocol.update_policy import Backoff
from .protocol.wan_address import WanAddressProblem, wan_address_problem
from .wording import moment


class TunnelIssue(StrEnum):
    """A problem of one tunnel (translation key of its repair issue)."""

    ABUSE = "abuse_blocked"
    TUNNEL_NOT_FOUND = "tunnel_not_found"
    ICMP_BLOCKED = "icmp_blocked"
    UNEXPECTED_ANSWER = "unexpected_answer"
    # HE holds the right endpoint, but nothing answers through the tunnel (tunnel_health).
    TUNNEL_DOWN = "tunnel_unreachable"


# The issues HE's answers raise; an update HE takes clears them.
HE_ISSUES: Final = tuple(
    issue for issue in TunnelIssue if issue is not TunnelIssue.TUNNEL_DOWN
)


class RecordIssue(StrEnum):
    """A problem of one dns.he.net record (translation key of its repair issue)."""

    ABUSE = "record_abuse_blocked"
    # nohost or notfqdn: no dynamic record of that name (deleted, or not marked dynamic).
    NOT_FOUND = "record_not_found"
    CLIENT_REFUSED = "record_client_refused"  # badagent
    UNEXPECTED_ANSWER = "record_unexpected_answer"


class StoreIssue(StrEnum):
    """Why the remembered endpoints were not read whole (translation key of the issue)."""

    NEWER = "store_from_newer_version"
    DAMAGED = "store_damaged"


BEHIND_NAT_ISSUE = "behind_nat"
NO_PUBLIC_IPV4_ISSUE = "no_public_ipv4"


class EventsIssue(StrEnum):
    """Why a router's events do not reach Home Assistant (translation key of the issue)."""

    NOT_ARRIVING = "events_not_arriving"
    CANNOT_LISTEN = "events_cannot_listen"


def _issue_id(issue: StrEnum, subject: str) -> str:
    """Return the id of a tunnel's issue (its id) or a record's (its name)."""
    return f"{issue.value}_{subject}"


def _behind_nat_issue_id(entry_id: str) -> str:
    return f"{BEHIND_NAT_ISSUE}_{entry_id}"


@callback
def async_raise_tunnel_issue(
    hass: HomeAssistant,
    issue: TunnelIssue,
    *,
    tunnel_id: str,
    tunnel_name: str,
    backoff: Backoff | None = None,
    message: str = "",
) -> None:
    """Show the tunnel's problem in Repairs (replacing an older one of the same kind)."""
    _raise_he_issue(
        hass,
        issue,
        _issue_id(issue, tunnel_id),
        {
            "tunnel_id": tunnel_id,
            "name": tunnel_name,
            "probe": ICMP_PROBE_ADDRESS,
            "message": message or "-",
        },
        backoff=backoff,
        learn_more_url=TUNNEL_PAGE_URL.format(tunnel_id=tunnel_id),
    )


def _raise_he_issue(
    hass: HomeAssistant,
    issue: StrEnum,
    issue_id: str,
    placeholders: dict[str, str],
    *,
    backoff: Backoff | None,
    learn_more_url: str,
) -> None:
    """Show a problem HE's answer raised: until when a wait runs, where to fix it."""
    if backoff is not None:
        placeholders["until"] = moment(backoff.until)
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        is_persistent=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=issue.value,
        translation_placeholders=placeholders,
        learn_more_url=learn_more_url,
    )


@callback
def async_clear_tunnel_issues(
    hass: HomeAssistant, tunnel_id: str, issues: Iterable[TunnelIssue] = HE_ISSUES
) -> None:
    """Delete the tunnel's issues (by default HE's: HE took an update)."""
    for issue in issues:
        ir.async_delete_issue(hass, DOMAIN, _issue_id(issue, tunnel_id))


@callback
def async_raise_record_issue(
    hass: HomeAssistant,
    issue: RecordIssue,
    *,
    hostname: str,
    backoff: Backoff | None = None,
    message: str = "",
) -> None:
    """Show the record's problem in Repairs (replacing an older one of the same kind)."""
    _raise_he_issue(
        hass,
        issue,
        _issue_id(issue, hostname),
        {"name": hostname, "message": message or "-"},
        backoff=backoff,
        learn_more_url=DNS_PAGE_URL,
    )


@callback
def async_clear_record_issues(
    hass: HomeAssistant, hostname: str, issues: Iterable[RecordIssue] = RecordIssue
) -> None:
    """Delete the record's issues (by default all: HE took an update)."""
    for issue in issues:
        ir.async_delete_issue(hass, DOMAIN, _issue_id(issue, hostname))


ROUTER_MOVED_ISSUE = "router_moved"


@callback
def async_raise_router_moved_issue(
    hass: HomeAssistant, entry_id: str, *, name: str, current: str, announced: str
) -> None:
    """Say that another host announced the router: not followed without the user."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"{ROUTER_MOVED_ISSUE}_{entry_id}",
        is_fixable=False,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ROUTER_MOVED_ISSUE,
        translation_placeholders={
            "name": name,
            "current": current,
            "announced": announced,
        },
    )


@callback
def async_clear_router_moved_issue(hass: HomeAssistant, entry_id: str) -> None:
    """Delete it: the entry was set up at a location the user chose."""
    ir.async_delete_issue(hass, DOMAIN, f"{ROUTER_MOVED_ISSUE}_{entry_id}")


@callback
def async_raise_store_issue(hass: HomeAssistant, issue: StoreIssue) -> None:
    """Say that what was remembered about the tunnels could not be read whole."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue.value,
        is_fixable=False,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=issue.value,
    )


def behind_nat(problem: WanAddressProblem | None, connected: bool) -> bool:
    """Return whether the router's address says another NAT sits between it and the Internet.

    A private, carrier-grade NAT, link-local or otherwise non-public address does; so does no
    address at all while the router calls its WAN link connected. A disconnected link with no
    address is just down (the "WAN connected" sensor shows that), and garbage is a router fault.
    """
    if problem is WanAddressProblem.MISSING:
        return connected
    return problem in (
        WanAddressProblem.BEHIND_NAT,
        WanAddressProblem.DS_LITE,
        WanAddressProblem.NOT_PUBLIC,
    )


@callback
def async_update_behind_nat_issue(
    hass: HomeAssistant,
    entry_id: str,
    router_name: str,
    address: str | None,
    *,
    raised: bool,
) -> None:
    """Raise the "behind another NAT" issue while it stands, with the address; else clear it."""
    issue_id = _behind_nat_issue_id(entry_id)
    if not raised:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        # DS-Lite: no NAT to get out from behind; the line has no public IPv4 at all.
        translation_key=(
            NO_PUBLIC_IPV4_ISSUE
            if wan_address_problem(address) is WanAddressProblem.DS_LITE
            else BEHIND_NAT_ISSUE
        ),
        translation_placeholders={"name": router_name, "address": address or "none"},
    )


@callback
def async_raise_tunnel_down_issue(
    hass: HomeAssistant,
    *,
    tunnel_id: str,
    tunnel_name: str,
    target: str,
    since: datetime,
) -> None:
    """Show that HE holds the right endpoint but the tunnel carries nothing."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        _issue_id(TunnelIssue.TUNNEL_DOWN, tunnel_id),
        is_fixable=False,
        is_persistent=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=TunnelIssue.TUNNEL_DOWN.value,
        translation_placeholders={
            "name": tunnel_name,
            "tunnel_id": tunnel_id,
            "target": target,
            "since": moment(since),
        },
        learn_more_url=TUNNEL_PAGE_URL.format(tunnel_id=tunnel_id),
    )


def _events_issue_id(issue: EventsIssue, entry_id: str) -> str:
    return f"{issue.value}_{entry_id}"


@callback
def async_raise_events_issue(
    hass: HomeAssistant, issue: EventsIssue, entry_id: str, placeholders: dict[str, str]
) -> None:
    """Show that the router's events cannot arrive (the other kind goes)."""
    async_clear_events_issues(hass, entry_id)
    ir.async_create_issue(
        hass,
        DOMAIN,
        _events_issue_id(issue, entry_id),
        is_fixable=False,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=issue.value,
        translation_placeholders=placeholders,
    )


@callback
def async_clear_events_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Delete the router's events issues (events arrive, or the entry is unloaded)."""
    for issue in EventsIssue:
        ir.async_delete_issue(hass, DOMAIN, _events_issue_id(issue, entry_id))


@callback
def async_clear_entry_issues(
    hass: HomeAssistant, entry_id: str, tunnel_ids: set[str], hostnames: set[str]
) -> None:
    """Delete the issues of a removed router entry, of its tunnels and of its records."""
    ir.async_delete_issue(hass, DOMAIN, _behind_nat_issue_id(entry_id))
    async_clear_router_moved_issue(hass, entry_id)
    async_clear_events_issues(hass, entry_id)
    for tunnel_id in tunnel_ids:
        async_clear_tunnel_issues(hass, tunnel_id, TunnelIssue)
    for hostname in hostnames:
        async_clear_record_issues(hass, hostname)


@callback
def async_clear_stale_issues(
    hass: HomeAssistant, tunnel_ids: set[str], hostnames: set[str]
) -> None:
    """Delete the issues of tunnels and records no longer configured (a removed subentry)."""
    kinds: list[tuple[StrEnum, set[str]]] = [
        *((kind, tunnel_ids) for kind in TunnelIssue),
        *((kind, hostnames) for kind in RecordIssue),
    ]
    stale = [
        issue_id
        for (domain, issue_id) in ir.async_get(hass).issues
        if domain == DOMAIN
        for kind, configured in kinds
        if issue_id.startswith(f"{kind}_")
        and issue_id.removeprefix(f"{kind}_") not in configured
    ]
    for issue_id in stale:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
