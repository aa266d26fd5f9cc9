"""The record forms: adding a dns.he.net dynamic record to a router, changing it, its reauth.

A record is checked the way a tunnel is: by sending HE the router's WAN address for its A
(through the record's one sender, in its turn, as update_policy allows), the one request
that both proves the name and key and points the record at home. Its AAAA, if an address is
given, is its own request. What HE answers is shown on the field it concerns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from ipaddress import IPv6Address, IPv6Network
from typing import Any

import voluptuous as vol

from homeassistant.components import network
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigSubentry,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowHandler, FlowResult
from homeassistant.helpers.selector import (
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .const import CONF_DNS_KEY, CONF_HOSTNAME, CONF_IPV6_ADDRESS, SUBENTRY_DNS_RECORD
from .developer_settings import min_update_interval
from .he_sender import RecordSender, Situation, async_record_sender
from .protocol.dns_client import RecordCredentials, RecordType, is_fqdn, normalized_name
from .protocol.he_client import UpdateStatus
from .protocol.update_policy import Caller, Why
from .protocol.wan_address import ipv6_host_problem, wan_address_problem
from .record_subentries import (
    configured_record_names,
    record_credentials,
    record_ipv6_address,
)
from .repair_issues import async_clear_record_issues
from .tunnel_flow import (
    UPDATE_ERRORS,
    async_form_wan_ip,
    async_update_and_reload,
    router_client,
)
from .wording import moment_from_now

# HE's answer -> the error shown in the record form (the others as for tunnels).
RECORD_ERRORS: dict[UpdateStatus, str] = UPDATE_ERRORS | {
    UpdateStatus.BADAUTH: "record_key_refused",
    UpdateStatus.NOHOST: "record_not_found",
    UpdateStatus.NOTFQDN: "not_fqdn",
    UpdateStatus.ABUSE: "record_abuse",
}
# Why a record form waits instead of asking HE -> the error that says until when.
RECORD_WAITS: dict[Why, str] = {
    Why.BLOCKED: "record_abuse_block_running",
    Why.AUTH_FAILURES: "record_too_many_key_failures",
}

# Errors about one field are shown on it; the others above the form.
_FIELD_OF_ERROR: dict[str, str] = {
    "not_fqdn": CONF_HOSTNAME,
    "record_not_found": CONF_HOSTNAME,
    "record_already_configured": CONF_HOSTNAME,
    "record_key_refused": CONF_DNS_KEY,
    "dns_key_required": CONF_DNS_KEY,
    "record_too_many_key_failures": CONF_DNS_KEY,
    "ipv6_not_global": CONF_IPV6_ADDRESS,
    "ipv6_not_in_prefix": CONF_IPV6_ADDRESS,
    "ipv6_refused": CONF_IPV6_ADDRESS,
}
# Errors that say the key is wrong: the form asks for it anew.
_KEY_ERRORS = {"record_key_refused", "record_too_many_key_failures"}

_HOSTNAME_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.TEXT))
_KEY_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="off")
)


def _ipv6_selector(candidates: list[str]) -> SelectSelector:
    """Offer this Home Assistant's addresses in a routed prefix; any other may be typed."""
    return SelectSelector(
        SelectSelectorConfig(
            options=candidates, custom_value=True, mode=SelectSelectorMode.DROPDOWN
        )
    )


@dataclass
class _RecordInput:
    """Outcome of a record form: the checked record, or what to show again."""

    data: dict[str, str] | None = None
    unchanged: bool = False  # as saved, HE holding its addresses
    errors: dict[str, str] = field(default_factory=dict)
    placeholders: dict[str, str] = field(default_factory=dict)


def routed_prefixes(entry: ConfigEntry) -> list[IPv6Network]:
    """Return the routed prefixes of the router's tunnels, as HE reported them."""
    if entry.state is not ConfigEntryState.LOADED:
        return []
    return [
        IPv6Network(prefix)
        for info in entry.runtime_data.tunnel_info.values()
        if info.data is not None
        for prefix in (info.data.routed_64, info.data.routed_48)
        if prefix is not None
    ]


async def async_host_addresses(
    hass: HomeAssistant, prefixes: list[IPv6Network]
) -> list[str]:
    """Return this Home Assistant's IPv6 addresses inside one of the prefixes."""
    found = []
    for adapter in await network.async_get_adapters(hass):
        if not adapter["enabled"]:
            continue
        for ipv6 in adapter["ipv6"]:
            address = IPv6Address(ipv6["address"])
            if any(address in prefix for prefix in prefixes):
                found.append(str(address))
    return sorted(set(found))


def _ipv6_error(address: str, prefixes: list[IPv6Network]) -> str | None:
    if ipv6_host_problem(address) is not None:
        return "ipv6_not_global"
    if prefixes and not any(IPv6Address(address) in prefix for prefix in prefixes):
        return "ipv6_not_in_prefix"
    return None


async def async_record_input(
    hass: HomeAssistant,
    entry: ConfigEntry,
    user_input: Mapping[str, Any] | None,
    current: ConfigSubentry | None = None,
    *,
    keep_ipv6: bool = False,
) -> _RecordInput:
    """Check what the user typed (if anything) with HE, with the router's WAN address.

    `current` is the record being changed: its name stays, an empty key keeps its key, and
    with `keep_ipv6` (a form without the field) its AAAA address stays.
    """
    prefixes = routed_prefixes(entry)
    step = _RecordInput(
        placeholders={
            "name": entry.title,
            "prefixes": ", ".join(str(prefix) for prefix in prefixes) or "-",
        }
    )
    if current is not None:
        step.placeholders["record"] = current.title
    wan_ip = await async_form_wan_ip(
        router_client(entry), user_input is not None, step.errors, step.placeholders
    )
    if user_input is None or step.errors:
        return step
    data = _typed(user_input, current)
    if keep_ipv6 and current is not None and (kept := record_ipv6_address(current)):
        data[CONF_IPV6_ADDRESS] = kept
    hostname = data[CONF_HOSTNAME]
    step.placeholders["hostname"] = hostname
    if not is_fqdn(hostname):
        step.errors[CONF_HOSTNAME] = "not_fqdn"
    elif current is None and hostname in configured_record_names(hass):
        step.errors[CONF_HOSTNAME] = "record_already_configured"
    if not data[CONF_DNS_KEY]:
        step.errors[CONF_DNS_KEY] = "dns_key_required"
    ipv6 = data.get(CONF_IPV6_ADDRESS)
    if ipv6 and (error := _ipv6_error(ipv6, prefixes)) is not None:
        step.errors[CONF_IPV6_ADDRESS] = error
    if wan_ip is None or wan_address_problem(wan_ip) is not None:
        step.errors["base"] = "record_wan_not_public"
    if step.errors:
        return step
    assert wan_ip is not None
    credentials = RecordCredentials(hostname, data[CONF_DNS_KEY])
    same_key = current is not None and credentials == record_credentials(current)
    sent = False
    for record_type, address in ((RecordType.A, wan_ip), (RecordType.AAAA, ipv6)):
        if not address:
            continue
        sender = await async_record_sender(hass, hostname, record_type)
        memory = sender.memory
        if same_key and memory.holds(address) and memory.refusal is None:
            continue  # a key HE took, an address HE holds: nothing to check
        sent = True
        error = await _async_send_for_check(hass, sender, credentials, address, step)
        if error is not None:
            if record_type is RecordType.AAAA and error == "address_refused":
                step.errors[CONF_IPV6_ADDRESS] = "ipv6_refused"
            else:
                step.errors[_FIELD_OF_ERROR.get(error, "base")] = error
            return step
    step.data = data
    step.unchanged = current is not None and data == dict(current.data) and not sent
    async_clear_record_issues(hass, hostname)
    return step


def _typed(
    user_input: Mapping[str, Any], current: ConfigSubentry | None
) -> dict[str, str]:
    """Return the record's data from what was typed (over the current record's)."""
    data = {
        CONF_HOSTNAME: normalized_name(str(user_input.get(CONF_HOSTNAME, ""))),
        CONF_DNS_KEY: str(user_input.get(CONF_DNS_KEY) or ""),
    }
    if ipv6 := str(user_input.get(CONF_IPV6_ADDRESS) or "").strip():
        data[CONF_IPV6_ADDRESS] = ipv6
    if current is not None:
        data[CONF_HOSTNAME] = record_credentials(current).hostname
        data[CONF_DNS_KEY] = data[CONF_DNS_KEY] or record_credentials(current).key
    return data


async def _async_send_for_check(
    hass: HomeAssistant,
    sender: RecordSender,
    credentials: RecordCredentials,
    address: str,
    step: _RecordInput,
) -> str | None:
    """Send one address in the sender's turn, unless HE's block or failures say wait."""
    situation = Situation(
        address=address,
        min_interval=min_update_interval(hass),
        version=6 if ":" in address else 4,
    )
    try:
        async with sender.lock:
            decision = sender.decide(situation, Caller.FLOW)
            if decision.why in RECORD_WAITS:
                assert decision.until is not None
                step.placeholders["until"] = moment_from_now(decision.until)
                return RECORD_WAITS[decision.why]
            attempt = await sender.async_send(
                credentials, address, caller=Caller.FLOW, remember_refusal=False
            )
            if not attempt.result.success:
                step.placeholders["message"] = attempt.result.message
                return RECORD_ERRORS[attempt.result.status]
            # The record's event entity shows this attempt once the entry has (re)loaded.
            sender.note_unshown(attempt)
    finally:
        sender.async_changed_by_flow()
    return None


def record_schema(
    candidates: list[str] | None, *, adding: bool, key_required: bool = True
) -> vol.Schema:
    """Return a record form: the name (when adding), the key, an AAAA address.

    `candidates` None: no AAAA field (reauth asks for the key only).
    """
    fields: dict[vol.Marker, Any] = {}
    if adding:
        fields[vol.Required(CONF_HOSTNAME)] = _HOSTNAME_SELECTOR
    if key_required:
        fields[vol.Required(CONF_DNS_KEY)] = _KEY_SELECTOR
    else:
        fields[vol.Optional(CONF_DNS_KEY)] = _KEY_SELECTOR
    if candidates is not None:
        fields[vol.Optional(CONF_IPV6_ADDRESS)] = _ipv6_selector(candidates)
    return vol.Schema(fields)


def show_record_form[ResultT: FlowResult[Any, Any]](
    flow: FlowHandler[Any, ResultT, Any],
    step_id: str,
    step: _RecordInput,
    user_input: Mapping[str, Any] | None,
    schema: vol.Schema,
    *,
    current: ConfigSubentry | None = None,
) -> ResultT:
    """Show a record form again, filled with what was typed (never a saved key)."""
    typed = dict(user_input or {})
    if set(step.errors.values()) & _KEY_ERRORS:
        typed.pop(CONF_DNS_KEY, None)
    suggested: dict[str, Any] = {}
    if current is not None and (ipv6 := record_ipv6_address(current)):
        suggested[CONF_IPV6_ADDRESS] = ipv6
    return flow.async_show_form(
        step_id=step_id,
        data_schema=flow.add_suggested_values_to_schema(schema, suggested | typed),
        description_placeholders=step.placeholders,
        errors=step.errors,
    )


async def async_update_record(
    hass: HomeAssistant,
    entry: ConfigEntry,
    subentry: ConfigSubentry,
    data: dict[str, str],
) -> None:
    """Store a record's checked settings and reload the router's entry.

    An AAAA no longer set is forgotten, so that setting it again sends it.
    """
    if CONF_IPV6_ADDRESS not in data:
        hostname = data[CONF_HOSTNAME]
        await (
            await async_record_sender(hass, hostname, RecordType.AAAA)
        ).async_forget()
    async_update_and_reload(
        hass,
        entry,
        partial(hass.config_entries.async_update_subentry, entry, subentry, data=data),
    )


class RecordSubentryFlow(ConfigSubentryFlow):
    """Add a dns.he.net dynamic record to a router, or change one."""

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Ask for the record's name and key (and an AAAA address); check them with HE."""
        entry = self._get_entry()
        if entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="router_not_loaded")
        step = await async_record_input(self.hass, entry, user_input)
        if step.data is not None:
            return self.async_create_entry(
                title=step.data[CONF_HOSTNAME],
                data=step.data,
                unique_id=step.data[CONF_HOSTNAME],
            )
        candidates = await async_host_addresses(self.hass, routed_prefixes(entry))
        return show_record_form(
            self, "user", step, user_input, record_schema(candidates, adding=True)
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a record's key or its AAAA address (the name is the record)."""
        entry = self._get_entry()
        subentry = self._get_reconfigure_subentry()
        step = await async_record_input(self.hass, entry, user_input, subentry)
        if step.unchanged:
            return self.async_abort(reason="reconfigure_unchanged")
        if step.data is not None:
            await async_update_record(self.hass, entry, subentry, step.data)
            return self.async_abort(reason="reconfigure_successful")
        candidates = await async_host_addresses(self.hass, routed_prefixes(entry))
        return show_record_form(
            self,
            "reconfigure",
            step,
            user_input,
            record_schema(candidates, adding=False, key_required=False),
            current=subentry,
        )


def is_record(subentry: ConfigSubentry) -> bool:
    """Return whether the subentry is a dns.he.net record."""
    return subentry.subentry_type == SUBENTRY_DNS_RECORD
