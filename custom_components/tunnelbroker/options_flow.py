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
        """Automatic update, event listener, tunnel check, and (multi-WAN) the connection read."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = _number_errors(user_input)
            if not errors:
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
            # Whole numbers, checked here so that what is wrong is said in words.
            vol.Optional(CONF_LISTEN_PORT): _WHOLE_NUMBER,
            vol.Optional(CONF_CALLBACK_URL): TextSelector(
                TextSelectorConfig(type=TextSelectorType.URL)
            ),
            vol.Optional(CONF_HEALTH_TARGET): TextSelector(),
            vol.Required(
                CONF_HEALTH_INTERVAL,
                default=options.get(CONF_HEALTH_INTERVAL, DEFAULT_HEALTH_INTERVAL),
            ): _WHOLE_NUMBER,
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
                    for key in (
                        CONF_LISTEN_PORT,
                        CONF_CALLBACK_URL,
                        CONF_HEALTH_TARGET,
                        CONF_HEALTH_INTERVAL,
                    )
                    # An old listen port of 0 (any port) shows as empty.
                    if shown.get(key) not in (None, "")
                    and (key != CONF_LISTEN_PORT or shown[key])
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


# No min or max here: the selector would refuse out of range in its own (English, untranslated)
# words; the range is checked below and said on the field.
_WHOLE_NUMBER = NumberSelector(
    NumberSelectorConfig(step=1, mode=NumberSelectorMode.BOX)
)
# Each number option's range, and the error that says it.
_NUMBER_RANGES: dict[str, tuple[int, int]] = {
    CONF_LISTEN_PORT: (1, 65535),
    CONF_HEALTH_INTERVAL: HEALTH_INTERVAL_RANGE,
}
_NUMBER_ERRORS: dict[str, str] = {
    CONF_LISTEN_PORT: "listen_port_not_a_port",
    CONF_HEALTH_INTERVAL: "health_interval_out_of_range",
}


def _whole_number(value: Any) -> int | None:
    """Return the whole number typed (2, "2", 2.0), else None (2.5, "two")."""
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _number_errors(user_input: Mapping[str, Any]) -> dict[str, str]:
    """Return an error for each number option that is not a whole number in its range."""
    errors: dict[str, str] = {}
    for key, (low, high) in _NUMBER_RANGES.items():
        value = user_input.get(key)
        if value in (None, "") or (
            key == CONF_LISTEN_PORT and _whole_number(value) == 0
        ):
            continue  # empty (or an old 0): the default
        number = _whole_number(value)
        if number is None or not low <= number <= high:
            errors[key] = _NUMBER_ERRORS[key]
    return errors


def _cleaned_options(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Return the options as stored: the port an int, empty fields left out."""
    cleaned = dict(user_input)
    if not _whole_number(cleaned.get(CONF_LISTEN_PORT)):  # empty or 0: any port
        cleaned.pop(CONF_LISTEN_PORT, None)
    else:
        cleaned[CONF_LISTEN_PORT] = _whole_number(cleaned[CONF_LISTEN_PORT])
    for key in (CONF_CALLBACK_URL, CONF_HEALTH_TARGET):
        if not str(cleaned.get(key) or "").strip():
            cleaned.pop(key, None)
        else:
            cleaned[key] = str(cleaned[key]).strip()
    if (interval := _whole_number(cleaned.get(CONF_HEALTH_INTERVAL))) is None:
        cleaned.pop(CONF_HEALTH_INTERVAL, None)
    else:
        cleaned[CONF_HEALTH_INTERVAL] = interval
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
