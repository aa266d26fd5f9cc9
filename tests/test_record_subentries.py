"""The DNS record subentries of router entries: which they are, what they hold."""

from __future__ import annotations

from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tunnelbroker.const import DOMAIN
from custom_components.tunnelbroker.protocol.dns_client import RecordType
from custom_components.tunnelbroker.record_subentries import (
    configured_record_names,
    record_credentials,
    record_ipv6_address,
    record_subentries,
    record_types,
)
from homeassistant.core import HomeAssistant

from .conftest import (
    OTHER_RECORD_KEY,
    OTHER_RECORD_NAME,
    RECORD_KEY,
    RECORD_NAME,
    record_subentry,
    tunnel_subentry,
)

HOST = "2001:470:1f0b:1234::10"


async def test_records_of_every_router_and_what_they_hold(hass: HomeAssistant) -> None:
    first = MockConfigEntry(
        domain=DOMAIN,
        unique_id="router-1",
        subentries_data=[tunnel_subentry(), record_subentry(ipv6=HOST)],
    )
    second = MockConfigEntry(
        domain=DOMAIN,
        unique_id="router-2",
        subentries_data=[record_subentry(OTHER_RECORD_NAME, OTHER_RECORD_KEY)],
    )
    first.add_to_hass(hass)
    second.add_to_hass(hass)

    (record,) = record_subentries(first).values()  # the tunnel is not one
    credentials = record_credentials(record)
    assert (credentials.hostname, credentials.key) == (RECORD_NAME, RECORD_KEY)
    assert RECORD_KEY not in repr(credentials)
    assert record_ipv6_address(record) == HOST
    assert record_types(record) == (RecordType.A, RecordType.AAAA)
    (other,) = record_subentries(second).values()
    assert record_ipv6_address(other) is None
    assert record_types(other) == (RecordType.A,)
    assert configured_record_names(hass) == {RECORD_NAME, OTHER_RECORD_NAME}
