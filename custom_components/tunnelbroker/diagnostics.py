"""Diagnostics: what the integration knows, with credentials and public addresses redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import CONF_USERNAME
from homeassistant.core import HomeAssistant

from .address_updater import AddressUpdater
from .const import (
    CONF_DNS_KEY,
    CONF_HOSTNAME,
    CONF_IPV6_ADDRESS,
    CONF_TUNNEL_ID,
    CONF_UPDATE_KEY,
)
from .protocol.igd_client import RouterError
from .runtime_data import TunnelbrokerConfigEntry
from .tunnel_health import TunnelHealth
from .tunnel_updater import TunnelUpdater

TO_REDACT = {
    CONF_USERNAME,
    CONF_UPDATE_KEY,
    CONF_TUNNEL_ID,
    "external_ip",
    "endpoint",
    "unsettled",
    "ip",
    "message",
    "serial_number",
    "title",
    # HE's tunnel information: the user's tunnel addresses and prefixes, HE's server, a label.
    "description",
    "server_v4",
    "client_v4",
    "server_v6",
    "client_v6",
    "routed_64",
    "routed_48",
    # The tunnel check's address (HE's server, or the user's own).
    "target",
    # A dns.he.net record: its name, its key, the host its AAAA points at.
    CONF_HOSTNAME,
    CONF_DNS_KEY,
    CONF_IPV6_ADDRESS,
    "address",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: TunnelbrokerConfigEntry
) -> dict[str, Any]:
    """Return the router's, the tunnels' and the records' state for a bug report."""
    data = entry.runtime_data
    router = data.router
    tunnels = []
    for subentry_id, tunnel in data.tunnels.items():
        info = data.tunnel_info[subentry_id]
        tunnels.append(
            _updater(tunnel)
            | {
                "health": _health(data.health[subentry_id]),
                "info": asdict(info.data) if info.data else None,
                "info_refused": _scrubbed(info.refused, tunnel),
                "info_last_update_success": info.last_update_success,
            }
        )
    return async_redact_data(
        {
            "entry": {"data": dict(entry.data), "options": dict(entry.options)},
            "router": asdict(router.client.info),
            "wan_services": router.client.wan_service_types,
            "wan_connections": [
                asdict(connection)
                | (
                    {"error": str(read)}
                    if isinstance(read, RouterError)
                    else {"status": asdict(read)}
                )
                for connection, read in await router.client.async_read_connections()
            ],
            "wan_connection_read": router.client.event_service.control_url,
            "wan_status": asdict(router.data) if router.data else None,
            "last_update_success": router.last_update_success,
            "events": {
                "state": data.events.state.value,
                "callback_url": data.events.callback_url,
                "subscribed": data.events.subscribed,
                "trusted": router.events_trusted,
                "poll_interval_s": router.update_interval.total_seconds()
                if router.update_interval
                else None,
                "last_error": data.events.last_error,
            },
            "tunnels": tunnels,
            "records": [
                _updater(record) | {"record_type": record.record_type.value}
                for types in data.records.values()
                for record in types
            ],
        },
        TO_REDACT,
    )


def _updater(updater: AddressUpdater[Any, Any]) -> dict[str, Any]:
    """Return what a tunnel's or record's updater knows and remembers."""
    state = updater.state_publisher.data
    memory = updater.sender.memory
    record = state.record
    last = state.last_attempt
    return {
        "subentry": dict(updater.subentry.data) | {"title": updater.subentry.title},
        "automatic": updater.automatic,
        "status": state.status.value if state.status else None,
        "next_attempt": state.next_attempt.isoformat() if state.next_attempt else None,
        "endpoint": record.endpoint if record else None,
        "confirmed_at": record.updated_at.isoformat() if record else None,
        "last_attempt": {
            "ip": last.ip,
            "status": last.result.status.value,
            "message": last.result.message,
            "at": last.at.isoformat(),
            "automatic": last.automatic,
            "sent": last.sent,
        }
        if last
        else None,
        "unsettled": memory.unsettled,
        "backoff": {
            "until": backoff.until.isoformat(),
            "failures": backoff.failures,
            "abuse_blocks": backoff.abuse_blocks,
        }
        if (backoff := memory.backoff)
        else None,
        "refusal": memory.refusal.status.value if memory.refusal else None,
    }


def _health(health: TunnelHealth) -> dict[str, Any]:
    """Return the tunnel check's state: why it is unavailable, when it stopped answering."""
    echo = health.data
    return {
        "target": health.target,
        "interval_s": health.update_interval.total_seconds()
        if health.update_interval
        else None,
        "outcome": echo.outcome.value if echo else None,
        "rtt_ms": echo.rtt_ms if echo else None,
        "sent": echo.sent if echo else None,
        "received": echo.received if echo else None,
        "detail": echo.detail if echo else None,
        "down_since": health.down_since.isoformat() if health.down_since else None,
    }


def _scrubbed(text: str | None, tunnel: TunnelUpdater) -> str | None:
    """Return HE's short refusal reason without the tunnel's id or the account name."""
    if text is None:
        return None
    for secret in (tunnel.tunnel_id, tunnel.credentials.username):
        text = text.replace(secret, REDACTED)
    return text
