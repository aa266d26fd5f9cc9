"""A dns.he.net record of a loaded router entry: its A follows the router, its AAAA a host.

What to send and when, and what an answer leads to, is every updater's (address_updater): the
same decision, the same minimum interval, nothing sent when HE holds the address (after a
restart too), nothing after unload. A record has one updater per type it holds, each with its
own sender: dns.he.net takes an IPv4 and an IPv6 address only in separate requests. Their
repair issues are the record's (one per kind and name), shared: one type taken does not clear
what the other still meets (RecordIssues).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError

from .address_updater import (
    REFUSED_REQUEST,
    AddressState,
    AddressUpdater,
    issues_to_clear,
)
from .const import DOMAIN, TRIGGER_RECORD_UPDATE_FAILED, TRIGGER_RECORD_UPDATED
from .he_sender import RecordSender
from .protocol.dns_client import RecordCredentials, RecordType
from .protocol.he_client import UpdateAttempt, UpdateStatus
from .protocol.update_policy import MIN_UPDATE_INTERVAL, Backoff, Why
from .protocol.wan_address import ipv6_host_problem
from .record_subentries import record_credentials, record_ipv6_address
from .repair_issues import (
    RecordIssue,
    async_clear_record_issues,
    async_raise_record_issue,
)

if TYPE_CHECKING:
    from .coordinator import RouterCoordinator

# A record's key, not a tunnel's update key; HE's block of a record.
RECORD_REFUSED_REQUEST: dict[Why, str] = REFUSED_REQUEST | {
    Why.NEEDS_USER: "record_refused",
    Why.BLOCKED: "record_abuse_block_running",
}


class RecordIssues:
    """A record's repair issues, and which of its types (A, AAAA) each one stands for.

    An issue is the record's (its id is the kind and the name), but the A and the AAAA are
    sent apart: an issue goes only once no type still stands for it.
    """

    def __init__(self, hass: HomeAssistant, hostname: str) -> None:
        """Initialize for one record: no issue raised yet."""
        self._hass = hass
        self._hostname = hostname
        self._raised: dict[RecordType, set[RecordIssue]] = {}

    @callback
    def async_raise(
        self,
        record_type: RecordType,
        issue: RecordIssue,
        backoff: Backoff | None,
        message: str,
    ) -> None:
        """Show the problem one type met in Repairs."""
        self._raised.setdefault(record_type, set()).add(issue)
        async_raise_record_issue(
            self._hass,
            issue,
            hostname=self._hostname,
            backoff=backoff,
            message=message,
        )

    @callback
    def async_clear(
        self, record_type: RecordType, issues: Iterable[RecordIssue]
    ) -> None:
        """One type no longer meets these problems: delete those no other type meets."""
        gone = set(issues)
        self._raised.setdefault(record_type, set()).difference_update(gone)
        standing = set[RecordIssue]().union(
            *(
                raised
                for kind, raised in self._raised.items()
                if kind is not record_type
            )
        )
        async_clear_record_issues(self._hass, self._hostname, gone - standing)


class RecordUpdater(AddressUpdater[RecordCredentials, AddressState]):
    """One record's A (the router's WAN address) or AAAA (a host of the routed prefix)."""

    refused_request = RECORD_REFUSED_REQUEST
    stopped_key = "record_stopped"
    abuse_issue = RecordIssue.ABUSE
    unexpected_issue = RecordIssue.UNEXPECTED_ANSWER
    updated_trigger = TRIGGER_RECORD_UPDATED
    failed_trigger = TRIGGER_RECORD_UPDATE_FAILED

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        subentry: ConfigSubentry,
        record_type: RecordType,
        *,
        router: RouterCoordinator,
        sender: RecordSender,
        device_id: str,
        issues: RecordIssues,
        min_interval: timedelta = MIN_UPDATE_INTERVAL,
    ) -> None:
        """Initialize for one type of the record's subentry (`issues`: the record's)."""
        self.record_type = record_type
        self._issues = issues
        self.version = 6 if record_type is RecordType.AAAA else 4
        super().__init__(
            hass,
            entry,
            subentry,
            router=router,
            sender=sender,
            credentials=record_credentials(subentry),
            device_id=device_id,
            min_interval=min_interval,
        )

    @property
    def hostname(self) -> str:
        """Return the record's name."""
        return self.credentials.hostname

    @property
    def address(self) -> str | None:
        """Return the router's WAN address (A), or the host's address (AAAA)."""
        if self.record_type is RecordType.AAAA:
            return record_ipv6_address(self.subentry)
        return self.router_address

    def usable_address(self) -> str:
        """Return the address to send now, or raise why there is none."""
        if self.record_type is RecordType.A:
            return super().usable_address()
        address = record_ipv6_address(self.subentry)
        if address is None or ipv6_host_problem(address) is not None:
            # Checked by the flow; a subentry edited by hand may still hold one.
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="record_ipv6_unusable",
                translation_placeholders={"name": self.hostname, "ip": address or "-"},
            )
        return address

    def snapshot(self) -> AddressState:
        """Return what the record's entities of this type show, as of now."""
        return AddressState(**self._state_fields())

    def _report_refused_target(self, status: UpdateStatus) -> None:
        if status in (UpdateStatus.NOHOST, UpdateStatus.NOTFQDN):
            self._raise_issue(RecordIssue.NOT_FOUND)
        elif status is UpdateStatus.BADAGENT:
            self._raise_issue(RecordIssue.CLIENT_REFUSED)

    def _raise_issue(
        self, issue: StrEnum, backoff: Backoff | None = None, message: str = ""
    ) -> None:
        if self.stopped:
            return
        self._issues.async_raise(self.record_type, RecordIssue(issue), backoff, message)

    def _clear_issues(self, *, keep_block: bool = False) -> None:
        self._issues.async_clear(
            self.record_type,
            issues_to_clear(RecordIssue, RecordIssue.ABUSE, keep_block=keep_block),
        )

    def _event_details(self, attempt: UpdateAttempt) -> dict[str, Any]:
        return {"hostname": self.hostname, "record_type": self.record_type.value}
