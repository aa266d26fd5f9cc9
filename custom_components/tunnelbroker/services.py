"""The `tunnelbroker.update_endpoint` action: send a tunnel's endpoint to HE on demand."""

from __future__ import annotations

from contextlib import AsyncExitStack

import voluptuous as vol

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util.json import JsonValueType

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


def _target_tunnels(
    hass: HomeAssistant, call: ServiceCall
) -> tuple[TunnelbrokerConfigEntry, list[TunnelUpdater]]:
    """Return the entry and the tunnels the call is about."""
    entry_id: str | None = call.data.get(ATTR_CONFIG_ENTRY_ID)
    device_id: str | None = call.data.get(ATTR_DEVICE_ID)
    if entry_id is None and device_id is None:
        raise _validation_error("target_missing")
    if entry_id is not None and device_id is not None:
        raise _validation_error("target_both")
    if entry_id is not None:
        entry = _loaded_entry(hass, entry_id)
        tunnels = list(entry.runtime_data.tunnels.values())
    else:
        assert device_id is not None
        if (owner := async_entry_of_device(hass, device_id)) is None:
            raise _validation_error("device_not_found", device_id=str(device_id))
        entry = _loaded_entry(hass, owner)
        runtime = entry.runtime_data
        tunnels = [
            tunnel
            for tunnel in runtime.tunnels.values()
            if device_id in (runtime.router.device_id, tunnel.device_id)
        ]
    if not tunnels:
        raise _validation_error("no_tunnel", title=entry.title)
    return entry, tunnels


def _address_to_send(entry: TunnelbrokerConfigEntry, requested: str | None) -> str:
    """Return the address asked for (checked), or the router's as of now.

    The router's is read again in each tunnel's turn: a call that waited sends the address
    of then.
    """
    if requested is not None:
        if (problem := wan_address_problem(requested)) is not None:
            raise _validation_error(
                address_problem_key(problem, router=False), ip=requested
            )
        return requested.strip()
    return entry.runtime_data.router.usable_external_ip()


async def _async_update_endpoint(call: ServiceCall) -> ServiceResponse:
    entry, tunnels = _target_tunnels(call.hass, call)
    requested: str | None = call.data.get(ATTR_IP)
    ip = _address_to_send(entry, requested)
    force = bool(call.data[ATTR_FORCE])
    results: list[JsonValueType] = []
    failures: list[str] = []
    async with AsyncExitStack() as turns:
        # Every tunnel's turn (in one order: no two calls wait on each other), then all of
        # the call or nothing: each tunnel is decided before anything is sent.
        for tunnel in sorted(tunnels, key=lambda tunnel: tunnel.tunnel_id):
            await turns.enter_async_context(tunnel.sender.lock)
        ip = _address_to_send(entry, requested)  # the router's of now, in the turns
        for tunnel in tunnels:
            tunnel.check_request(Caller.ACTION, ip, force=force)
        for tunnel in tunnels:
            attempt = await tunnel.async_request_in_turn(Caller.ACTION, ip, force=force)
            results.append(_result(tunnel, ip, attempt))
            if attempt is not None and not attempt.result.success:
                failures.append(f"{tunnel.tunnel_id}: {attempt.describe()}")
    if failures:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="update_failed",
            translation_placeholders={"details": "; ".join(failures)},
        )
    return {"tunnels": results}


def _result(
    tunnel: TunnelUpdater, ip: str, attempt: UpdateAttempt | None
) -> JsonValueType:
    """Return what the action answers for one tunnel (None: HE held the address already)."""
    if attempt is None:
        return {
            "tunnel_id": tunnel.tunnel_id,
            "ip": ip,
            "result": "unchanged",
            "sent": False,
        }
    return {
        "tunnel_id": tunnel.tunnel_id,
        "ip": ip,
        "result": attempt.result.status.value,
        "sent": attempt.sent,
        "message": attempt.result.message,
    }
