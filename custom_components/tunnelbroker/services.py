"""The `tunnelbroker.update_endpoint` action: send the router's address to HE on demand.

To a router's tunnels and records, to one tunnel, or to one record (its A; its AAAA keeps the
host's address).
"""

from __future__ import annotations

import voluptuous as vol

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util.json import JsonValueType

from .address_updater import async_request_together, update_failed_error
from .const import (
    ATTR_CONFIG_ENTRY_ID,
    ATTR_DEVICE_ID,
    ATTR_FORCE,
    ATTR_IP,
    DOMAIN,
    SERVICE_UPDATE_ENDPOINT,
)
from .devices import async_entry_of_device
from .protocol.he_client import UpdateAttempt
from .protocol.update_policy import Caller
from .protocol.wan_address import wan_address_problem
from .record_updater import RecordUpdater
from .runtime_data import TunnelbrokerConfigEntry
from .tunnel_updater import TunnelUpdater
from .wording import address_problem_key

UPDATE_ENDPOINT_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional(ATTR_DEVICE_ID): cv.string,
        vol.Optional(ATTR_IP): cv.string,
        vol.Optional(ATTR_FORCE, default=False): cv.boolean,
    }
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_UPDATE_ENDPOINT,
        _async_update_endpoint,
        schema=UPDATE_ENDPOINT_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )


def _validation_error(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders or None,
    )


def _loaded_entry(hass: HomeAssistant, entry_id: str) -> TunnelbrokerConfigEntry:
    entry: TunnelbrokerConfigEntry | None = hass.config_entries.async_get_entry(
        entry_id
    )
    if entry is None or entry.domain != DOMAIN:
        raise _validation_error("entry_not_found", entry_id=entry_id)
    if entry.state is not ConfigEntryState.LOADED:
        raise _validation_error("entry_not_loaded", title=entry.title)
    return entry


def _targets(
    hass: HomeAssistant, call: ServiceCall
) -> tuple[TunnelbrokerConfigEntry, list[TunnelUpdater], list[RecordUpdater]]:
    """Return the entry, and the tunnels and records the call is about."""
    entry_id: str | None = call.data.get(ATTR_CONFIG_ENTRY_ID)
    device_id: str | None = call.data.get(ATTR_DEVICE_ID)
    if entry_id is None and device_id is None:
        raise _validation_error("target_missing")
    if entry_id is not None and device_id is not None:
        raise _validation_error("target_both")
    if entry_id is None:
        assert device_id is not None
        if (entry_id := async_entry_of_device(hass, device_id)) is None:
            raise _validation_error("device_not_found", device_id=str(device_id))
    entry = _loaded_entry(hass, entry_id)
    runtime = entry.runtime_data
    everything = device_id in (None, runtime.router.device_id)
    tunnels = [
        tunnel
        for tunnel in runtime.tunnels.values()
        if everything or tunnel.device_id == device_id
    ]
    records = [
        record
        for types in runtime.records.values()
        for record in types
        if everything or record.device_id == device_id
    ]
    if not tunnels and not records:
        raise _validation_error("no_tunnel", title=entry.title)
    return entry, tunnels, records


def _checked_address(requested: str | None) -> str | None:
    """Return the address asked for, checked (None: the router's, read in each turn)."""
    if requested is None:
        return None
    if (problem := wan_address_problem(requested)) is not None:
        raise _validation_error(
            address_problem_key(problem, router=False), ip=requested
        )
    return requested.strip()


async def _async_update_endpoint(call: ServiceCall) -> ServiceResponse:
    _, tunnels, records = _targets(call.hass, call)
    answers = await async_request_together(
        [*tunnels, *records],
        Caller.ACTION,
        ipv4=_checked_address(call.data.get(ATTR_IP)),
        force=bool(call.data[ATTR_FORCE]),
    )
    if (error := update_failed_error(answers)) is not None:
        raise error
    response: dict[str, JsonValueType] = {
        "tunnels": [
            {"tunnel_id": updater.tunnel_id, **_result(ip, attempt)}
            for updater, ip, attempt in answers
            if isinstance(updater, TunnelUpdater)
        ]
    }
    if records:
        response["records"] = [
            {
                "hostname": updater.hostname,
                "record_type": updater.record_type.value,
                **_result(ip, attempt),
            }
            for updater, ip, attempt in answers
            if isinstance(updater, RecordUpdater)
        ]
    return response


def _result(ip: str, attempt: UpdateAttempt | None) -> dict[str, JsonValueType]:
    """Return what the action answers for one update (None: HE held the address already)."""
    if attempt is None:
        return {"ip": ip, "result": "unchanged", "sent": False}
    return {
        "ip": ip,
        "result": attempt.result.status.value,
        "sent": attempt.sent,
        "message": attempt.result.message,
    }
