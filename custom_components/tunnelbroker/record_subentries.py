"""The router entries' dns.he.net record subentries: which they are, and what they hold."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant

from .const import (
    CONF_DNS_KEY,
    CONF_HOSTNAME,
    CONF_IPV6_ADDRESS,
    DOMAIN,
    SUBENTRY_DNS_RECORD,
)
from .protocol.dns_client import RecordCredentials, RecordType


def record_subentries(entry: ConfigEntry) -> dict[str, ConfigSubentry]:
    """Return the entry's record subentries, by subentry id."""
    return {
        subentry_id: subentry
        for subentry_id, subentry in entry.subentries.items()
        if subentry.subentry_type == SUBENTRY_DNS_RECORD
    }


def record_credentials(subentry: ConfigSubentry) -> RecordCredentials:
    """Return the record's name and key."""
    return RecordCredentials(
        hostname=subentry.data[CONF_HOSTNAME], key=subentry.data[CONF_DNS_KEY]
    )


def record_ipv6_address(subentry: ConfigSubentry) -> str | None:
    """Return the address the record's AAAA points at, if it has one."""
    return subentry.data.get(CONF_IPV6_ADDRESS) or None


def record_types(subentry: ConfigSubentry) -> tuple[RecordType, ...]:
    """Return what the record holds: its A, and its AAAA if it has an address for it."""
    if record_ipv6_address(subentry) is None:
        return (RecordType.A,)
    return (RecordType.A, RecordType.AAAA)


def configured_record_names(hass: HomeAssistant) -> set[str]:
    """Return the names of every router entry's records."""
    return {
        subentry.data[CONF_HOSTNAME]
        for entry in hass.config_entries.async_entries(DOMAIN, include_ignore=False)
        for subentry in record_subentries(entry).values()
    }
