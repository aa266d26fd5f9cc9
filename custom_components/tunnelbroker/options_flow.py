"""The options flow: automatic updates, the event listener, the tunnel check, the WAN connection."""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv6Address
from typing import Any
from urllib.parse import urlsplit

import voluptuous as vol

from homeassistant.config_entries import ConfigEntryState, ConfigFlowResult, OptionsFlow
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .const import (
    AUTOMATIC_CONNECTION,
    CONF_AUTOMATIC_UPDATE,
    CONF_CALLBACK_URL,
    CONF_HEALTH_INTERVAL,
    CONF_HEALTH_TARGET,
    CONF_LISTEN_PORT,
    CONF_WAN_CONNECTION,
    DEFAULT_AUTOMATIC_UPDATE,
    DEFAULT_HEALTH_INTERVAL,
    HEALTH_INTERVAL_RANGE,
)
from .protocol.igd_client import WanStatus
from .runtime_data import TunnelbrokerConfigEntry


class TunnelbrokerOptionsFlow(OptionsFlow):
    """Options of a router's tunnels."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Automatic update, event listener, and (multi-WAN routers) the connection read."""
        errors: dict[str, str] = {}
        if user_input is not None:
            user_input = _cleaned_options(user_input)
            errors = _event_option_errors(user_input) | _health_option_errors(
                user_input
            )
            if not errors:
                return self.async_create_entry(data=user_input)
        options = self.config_entry.options
        fields: dict[vol.Marker, Any] = {
            vol.Required(
                CONF_AUTOMATIC_UPDATE,
                default=options.get(CONF_AUTOMATIC_UPDATE, DEFAULT_AUTOMATIC_UPDATE),
            ): bool,
            vol.Optional(CONF_LISTEN_PORT): NumberSelector(
                NumberSelectorConfig(
                    min=1, max=65535, step=1, mode=NumberSelectorMode.BOX
                )
            ),
            vol.Optional(CONF_CALLBACK_URL): TextSelector(
                TextSelectorConfig(type=TextSelectorType.URL)
            ),
            vol.Optional(CONF_HEALTH_TARGET): TextSelector(),
            vol.Required(
                CONF_HEALTH_INTERVAL,
                default=options.get(CONF_HEALTH_INTERVAL, DEFAULT_HEALTH_INTERVAL),
            ): NumberSelector(
                NumberSelectorConfig(
                    min=HEALTH_INTERVAL_RANGE[0],
                    max=HEALTH_INTERVAL_RANGE[1],
                    step=1,
                    mode=NumberSelectorMode.BOX,
                    unit_of_measurement="min",
                )
            ),
        }
        if connections := await self._async_connection_choices():
            fields[
                vol.Required(
                    CONF_WAN_CONNECTION,
                    default=options.get(CONF_WAN_CONNECTION, AUTOMATIC_CONNECTION),
                )
            ] = SelectSelector(
                SelectSelectorConfig(
                    options=connections, translation_key=CONF_WAN_CONNECTION
                )
            )
        shown = user_input if user_input is not None else options
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(fields),
                {
                    key: shown[key]
                    for key in (CONF_LISTEN_PORT, CONF_CALLBACK_URL, CONF_HEALTH_TARGET)
                    if shown.get(key)
                },
            ),
            errors=errors,
        )

    async def _async_connection_choices(self) -> list[SelectOptionDict]:
        """Return automatic and each WAN connection, when the router has more than one."""
        entry: TunnelbrokerConfigEntry = self.config_entry
        if entry.state is not ConfigEntryState.LOADED:
            return []
        client = entry.runtime_data.router.client
        if len(client.connections) < 2:
            return []
        choices = [
            SelectOptionDict(value=AUTOMATIC_CONNECTION, label=AUTOMATIC_CONNECTION)
        ]
        for connection, read in await client.async_read_connections():
            kind = connection.service_type.rsplit(":", 2)[-2]
            label = f"{connection.device_name} ({kind})"
            if isinstance(read, WanStatus):
                label += f": {read.external_ip or '-'}, {read.connection_status or '-'}"
            choices.append(SelectOptionDict(value=connection.key, label=label))
        return choices


def _cleaned_options(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Return the options as stored: the port an int, empty fields left out."""
    cleaned = dict(user_input)
    if cleaned.get(CONF_LISTEN_PORT) in (None, "", 0):
        cleaned.pop(CONF_LISTEN_PORT, None)
    else:
        cleaned[CONF_LISTEN_PORT] = int(cleaned[CONF_LISTEN_PORT])
    for key in (CONF_CALLBACK_URL, CONF_HEALTH_TARGET):
        if not str(cleaned.get(key) or "").strip():
            cleaned.pop(key, None)
        else:
            cleaned[key] = str(cleaned[key]).strip()
    if CONF_HEALTH_INTERVAL in cleaned:
        cleaned[CONF_HEALTH_INTERVAL] = int(cleaned[CONF_HEALTH_INTERVAL])
    return cleaned


def _health_option_errors(options: Mapping[str, Any]) -> dict[str, str]:
    """Check the tunnel check's address: an IPv6 address (the tunnel carries IPv6)."""
    if (target := options.get(CONF_HEALTH_TARGET)) is None:
        return {}
    try:
        IPv6Address(target)
    except ValueError:
        return {CONF_HEALTH_TARGET: "health_target_not_ipv6"}
    return {}


def _event_option_errors(options: Mapping[str, Any]) -> dict[str, str]:
    """Check the event options; return the errors by field.

    Routers send events over plain HTTP to the callback URL, which must name a host (the
    address the router reaches Home Assistant at) and may name a port. With a callback URL,
    the port Home Assistant listens on must be fixed: it is the one forwarded to.
    """
    if (url := options.get(CONF_CALLBACK_URL)) is None:
        return {}
    parts = urlsplit(url)
    if parts.scheme != "http":
        return {CONF_CALLBACK_URL: "callback_url_not_http"}
    if not parts.hostname:
        return {CONF_CALLBACK_URL: "callback_url_no_host"}
    try:
        port = parts.port
    except ValueError:  # not a number, or beyond 65535
        port = 0
    if port == 0:
        return {CONF_CALLBACK_URL: "callback_url_bad_port"}
    if CONF_LISTEN_PORT not in options:
        return {CONF_LISTEN_PORT: "listen_port_required"}
    return {}
