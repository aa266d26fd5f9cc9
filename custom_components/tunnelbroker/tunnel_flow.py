"""The tunnel forms: adding a tunnel to a router, and the checks every tunnel form shares.

The setup flow's tunnel step, reauth and the tunnel subentry's add and reconfigure steps all
ask for a tunnel's credentials and check them with HE through the tunnel's one sender
(he_sender); this module maps what HE answered to the field it concerns, nothing more.
Adding and reconfiguring differ in what an empty update key means: the key of the account's
other tunnel on this router (ADD_TUNNEL_SCHEMA), or the tunnel's current key
(RECONFIGURE_TUNNEL_SCHEMA).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import voluptuous as vol

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigSubentry,
    ConfigSubentryData,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import FlowHandler, FlowResult
from homeassistant.helpers.selector import (
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.util import dt as dt_util

from .clients import create_he_client
from .const import CONF_TUNNEL_ID, CONF_UPDATE_KEY, SUBENTRY_TUNNEL
from .developer_settings import min_update_interval
from .devices import async_remove_device, tunnel_device_identifier
from .endpoint_store import async_get_endpoint_store
from .he_sender import Situation, TunnelSender, async_tunnel_sender
from .protocol.he_client import TunnelCredentials, UpdateStatus, held_attempt
from .protocol.igd_client import IgdClient, RouterConnectionError, RouterError
from .protocol.update_policy import Caller, Why
from .protocol.wan_address import WanAddressProblem, wan_address_problem
from .repair_issues import async_clear_tunnel_issues
from .runtime_data import TunnelbrokerConfigEntry
from .tunnel_subentries import (
    configured_tunnel_ids,
    tunnel_credentials,
    tunnel_subentries,
)
from .wording import moment_from_now

# HE's answer -> the error shown in the tunnel form.
UPDATE_ERRORS: dict[UpdateStatus, str] = {
    UpdateStatus.BADAUTH: "invalid_auth",
    UpdateStatus.NOHOST: "unknown_tunnel",
    UpdateStatus.UNAVAILABLE: "cannot_connect",
    UpdateStatus.ABUSE: "abuse",
    UpdateStatus.ICMP_BLOCKED: "icmp_blocked",
    UpdateStatus.BADIP: "address_refused",
    UpdateStatus.ERROR: "he_error",
    UpdateStatus.UNKNOWN: "unknown",
    # HE's tunnel updates are not known to give these; dns.he.net's record updates do.
    UpdateStatus.NOTFQDN: "unknown",
    UpdateStatus.BADAGENT: "client_refused",
    UpdateStatus.INTERVAL: "interval",
}

_USERNAME_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.TEXT, autocomplete="username")
)
_UPDATE_KEY_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="off")
)
_TUNNEL_ID_SELECTOR = TextSelector()

TUNNEL_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_USERNAME): _USERNAME_SELECTOR,
        vol.Required(CONF_UPDATE_KEY): _UPDATE_KEY_SELECTOR,
        vol.Required(CONF_TUNNEL_ID): _TUNNEL_ID_SELECTOR,
    }
)
# Reauth: the tunnel stays, its credentials are typed again.
REAUTH_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_USERNAME): _USERNAME_SELECTOR,
        vol.Required(CONF_UPDATE_KEY): _UPDATE_KEY_SELECTOR,
    }
)
# Add a tunnel to a router that has one: an empty update key is the account's other tunnel's.
ADD_TUNNEL_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_USERNAME): _USERNAME_SELECTOR,
        vol.Optional(CONF_UPDATE_KEY): _UPDATE_KEY_SELECTOR,
        vol.Required(CONF_TUNNEL_ID): _TUNNEL_ID_SELECTOR,
    }
)
# Reconfigure a tunnel: an empty update key keeps the current one.
RECONFIGURE_TUNNEL_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_USERNAME): _USERNAME_SELECTOR,
        vol.Optional(CONF_UPDATE_KEY): _UPDATE_KEY_SELECTOR,
        vol.Required(CONF_TUNNEL_ID): _TUNNEL_ID_SELECTOR,
    }
)


def _default_tunnel_title(tunnel_id: str) -> str:
    return f"Tunnel {tunnel_id}"


def tunnel_subentry(credentials: TunnelCredentials) -> ConfigSubentryData:
    """Return a tunnel's subentry, as every flow stores it."""
    return ConfigSubentryData(
        data={
            CONF_USERNAME: credentials.username,
            CONF_UPDATE_KEY: credentials.update_key,
            CONF_TUNNEL_ID: credentials.tunnel_id,
        },
        subentry_type=SUBENTRY_TUNNEL,
        title=_default_tunnel_title(credentials.tunnel_id),
        unique_id=credentials.tunnel_id,
    )


def _credentials(user_input: Mapping[str, Any]) -> TunnelCredentials:
    return TunnelCredentials(
        username=str(user_input[CONF_USERNAME]).strip(),
        update_key=str(user_input[CONF_UPDATE_KEY]),
        tunnel_id=str(user_input[CONF_TUNNEL_ID]).strip(),
    )


async def async_validate_tunnel(
    hass: HomeAssistant,
    credentials: TunnelCredentials,
    wan_ip: str | None,
    *,
    replacing: str | None = None,
) -> tuple[str | None, dict[str, str]]:
    """Check the credentials with HE; return (error key or None, placeholders).

    Through the tunnel's one sender, in its turn: HE's tunnel information (`tunnelInfo.php?tid=`,
    which takes the update key) is read first, and when HE holds the router's address already,
    nothing is sent. Otherwise, or when HE refuses the read, the router's address is sent (its
    answer checks the credentials), unless update_policy says to wait. `replacing` is the id of
    the tunnel whose settings are being changed: it is not a duplicate of itself. On success HE
    holds the address, and that is remembered: setting up sends nothing more.
    """
    placeholders = {"ip": wan_ip or "-", "tunnel_id": credentials.tunnel_id}
    if not credentials.tunnel_id.isdigit():
        return "invalid_tunnel_id", placeholders
    if credentials.tunnel_id in configured_tunnel_ids(hass) - {replacing}:
        return "tunnel_already_configured", placeholders
    if (problem := wan_address_problem(wan_ip)) is WanAddressProblem.DS_LITE:
        return "wan_ds_lite", placeholders
    if wan_ip is None or problem is not None:
        return "wan_not_public", placeholders
    sender = await async_tunnel_sender(hass, credentials.tunnel_id)
    try:
        return await _async_check_with_he(
            hass, sender, credentials, wan_ip, placeholders
        )
    finally:
        # A loaded updater of this tunnel shows what the flow's request changed.
        sender.async_changed_by_flow()


async def _async_check_with_he(
    hass: HomeAssistant,
    sender: TunnelSender,
    credentials: TunnelCredentials,
    wan_ip: str,
    placeholders: dict[str, str],
) -> tuple[str | None, dict[str, str]]:
    situation = Situation(address=wan_ip, min_interval=min_update_interval(hass))
    async with sender.lock:
        decision = sender.decide(situation, Caller.FLOW)
        if decision.why in WAITS:
            # Sending now would only prolong HE's block, or add to its count of failures.
            assert decision.until is not None
            placeholders["until"] = moment_from_now(decision.until)
            return WAITS[decision.why], placeholders
        info = await create_he_client(hass).async_get_tunnel_info(credentials)
        if info.info is not None and info.info.client_v4 == wan_ip:
            attempt = held_attempt(wan_ip, dt_util.utcnow(), automatic=False)
            await sender.store.async_confirmed(
                credentials.tunnel_id, wan_ip, attempt.at
            )
        else:
            attempt = await sender.async_send(
                credentials, wan_ip, caller=Caller.FLOW, remember_refusal=False
            )
            if not attempt.result.success:
                placeholders["message"] = attempt.result.message
                return UPDATE_ERRORS[attempt.result.status], placeholders
        # The tunnel's event entity shows this attempt once the entry has (re)loaded.
        sender.note_unshown(attempt)
    async_clear_tunnel_issues(hass, credentials.tunnel_id)
    return None, placeholders


async def async_form_wan_ip(
    client: IgdClient | None,
    submitted: bool,
    errors: dict[str, str],
    placeholders: dict[str, str],
) -> str | None:
    """Return the router's WAN address for a form, which says it (`ip`); None: unknown.

    A router that does not answer is an error only once the form was `submitted`.
    """
    try:
        wan_ip = await async_read_wan_ip(client)
    except RouterError as err:
        wan_ip = None
        if submitted:
            errors["base"] = "cannot_read_wan_address"
            placeholders["error"] = str(err)
    placeholders["ip"] = wan_ip or "unknown"
    return wan_ip


async def async_read_wan_ip(client: IgdClient | None) -> str | None:
    """Return the router's WAN address (None: it has none); raise RouterError if it is silent."""
    if client is None:
        raise RouterConnectionError("the router's entry is not loaded")
    return (await client.async_get_wan_status()).external_ip


# Why a flow waits instead of asking HE -> the error that says until when.
WAITS: dict[Why, str] = {
    Why.BLOCKED: "abuse_block_running",
    Why.AUTH_FAILURES: "too_many_auth_failures",
}

# Errors that say the update key is wrong: the form asks for it anew.
_KEY_ERRORS = {"invalid_auth", "update_key_required", "too_many_auth_failures"}

# Errors about one field are shown on it; the others above the form.
_FIELD_OF_ERROR: dict[str, str] = {
    "invalid_tunnel_id": CONF_TUNNEL_ID,
    "tunnel_already_configured": CONF_TUNNEL_ID,
    "unknown_tunnel": CONF_TUNNEL_ID,
    "invalid_auth": CONF_UPDATE_KEY,
    "update_key_required": CONF_UPDATE_KEY,
}


@dataclass
class _TunnelInput:
    """Outcome of the tunnel form: checked credentials, or what to show again."""

    credentials: TunnelCredentials | None = None
    unchanged: bool = False  # the tunnel's settings as saved, HE holding the address
    errors: dict[str, str] = field(default_factory=dict)
    placeholders: dict[str, str] = field(default_factory=dict)


async def async_tunnel_input(
    hass: HomeAssistant,
    client: IgdClient | None,
    user_input: Mapping[str, Any] | None,
    router_name: str,
    current: ConfigSubentry | None = None,
    *,
    reconfiguring: bool = False,
) -> _TunnelInput:
    """Check what the user typed (if anything) against HE with the router's address.

    `current` is the tunnel being changed: what the form does not ask (or leaves empty, as the
    update key) is taken from it, and its own id is not a duplicate. `client` is None while the
    router's entry is not loaded: the router's address is then unknown.
    """
    step = _TunnelInput(placeholders={"name": router_name})
    if current is not None:
        step.placeholders.update(
            tunnel=current.title, tunnel_id=str(current.data[CONF_TUNNEL_ID])
        )
    wan_ip = await async_form_wan_ip(
        client, user_input is not None, step.errors, step.placeholders
    )
    if user_input is None or step.errors:
        return step
    replacing = None if current is None else str(current.data[CONF_TUNNEL_ID])
    merged = _over_current(current, user_input)
    if not merged.get(CONF_UPDATE_KEY):
        step.errors["base"] = "update_key_required"
        return step
    credentials = _credentials(merged)
    if reconfiguring and await _async_in_sync(hass, credentials, current, wan_ip):
        step.credentials = credentials  # nothing changed, nothing to tell HE
        step.unchanged = True
        return step
    error, details = await async_validate_tunnel(
        hass, credentials, wan_ip, replacing=replacing
    )
    step.placeholders.update(details)
    if error is None:
        step.credentials = credentials
    else:
        step.errors["base"] = error
    return step


def _sibling_tunnel(entry: ConfigEntry, username: str | None) -> ConfigSubentry | None:
    """Return the router's tunnel whose update key a new tunnel may share.

    The one of the same account (`username`), or with none given, the router's first tunnel.
    """
    for subentry in tunnel_subentries(entry).values():
        if username is None or subentry.data[CONF_USERNAME] == username.strip():
            return subentry
    return None


async def _async_in_sync(
    hass: HomeAssistant,
    credentials: TunnelCredentials,
    current: ConfigSubentry | None,
    wan_ip: str | None,
) -> bool:
    """Return whether the tunnel is unchanged, HE holds the router's address, none refused."""
    if current is None or credentials != tunnel_credentials(current) or wan_ip is None:
        return False
    store = await async_get_endpoint_store(hass)
    return (
        store.holds(credentials.tunnel_id, wan_ip)
        and store.get_refusal(credentials.tunnel_id) is None
    )


def _over_current(
    current: ConfigSubentry | None, user_input: Mapping[str, Any]
) -> Mapping[str, Any]:
    """Return what the user typed over the tunnel's current data (an empty key keeps it)."""
    if current is None:
        return user_input
    merged = {**current.data, **user_input}
    if not user_input.get(CONF_UPDATE_KEY):
        merged[CONF_UPDATE_KEY] = current.data[CONF_UPDATE_KEY]
    return merged


def show_tunnel_form[ResultT: FlowResult[Any, Any]](
    flow: FlowHandler[Any, ResultT, Any],
    step_id: str,
    step: _TunnelInput,
    user_input: Mapping[str, Any] | None,
    *,
    schema: vol.Schema = TUNNEL_SCHEMA,
    current: ConfigSubentry | None = None,
    suggested: Mapping[str, Any] | None = None,
) -> ResultT:
    """Show a tunnel form again, filled with what was typed (or is set).

    The update key saved for the tunnel is never shown; the one typed stays unless HE refused
    it (a typo in the tunnel ID must not cost the key). `suggested`: values to offer before
    anything was typed (another tunnel's username).
    """
    fields = {str(key) for key in schema.schema}
    typed = dict(user_input or {})
    if set(step.errors.values()) & _KEY_ERRORS:
        typed.pop(CONF_UPDATE_KEY, None)
    suggested = {
        **(suggested or {}),
        **_without_key(current.data if current else {}),
        **typed,
    }
    return flow.async_show_form(
        step_id=step_id,
        data_schema=flow.add_suggested_values_to_schema(schema, suggested),
        description_placeholders=step.placeholders,
        # On the field concerned, if the form has it; else above the form.
        errors={
            (
                field_name
                if (field_name := _FIELD_OF_ERROR.get(error)) in fields
                else "base"
            ): error
            for error in step.errors.values()
        },
    )


def _without_key(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return a tunnel's data without its secret."""
    return {key: value for key, value in data.items() if key != CONF_UPDATE_KEY}


def router_client(entry: TunnelbrokerConfigEntry) -> IgdClient | None:
    """Return the router's client while its entry is loaded, else None."""
    if entry.state is ConfigEntryState.LOADED:
        return entry.runtime_data.router.client
    return None


async def async_update_tunnel(
    hass: HomeAssistant,
    entry: TunnelbrokerConfigEntry,
    subentry: ConfigSubentry,
    credentials: TunnelCredentials,
) -> None:
    """Store a tunnel's checked settings and reload the router's entry.

    A default title follows a new tunnel id. The old id's remembered endpoint and device go:
    the tunnel's entities and device are keyed by its id, and the reload makes new ones.
    """
    old_id = str(subentry.data[CONF_TUNNEL_ID])
    if old_id != credentials.tunnel_id:
        await (await async_tunnel_sender(hass, old_id)).async_forget()
        async_remove_device(hass, entry, tunnel_device_identifier(old_id))
    new = tunnel_subentry(credentials)
    default_title = subentry.title == _default_tunnel_title(old_id)
    async_update_and_reload(
        hass,
        entry,
        partial(
            hass.config_entries.async_update_subentry,
            entry,
            subentry,
            data=new["data"],
            title=new["title"] if default_title else subentry.title,
            unique_id=new["unique_id"],
        ),
    )


@callback
def async_update_and_reload(
    hass: HomeAssistant, entry: ConfigEntry, update: Callable[[], bool]
) -> None:
    """Apply `update` (True if it changed the entry) and have the entry reload once.

    While loaded, the entry's update listener reloads it on any change: at once, so that the
    listener is gone when `update` returns (hence the look before). Otherwise (not loaded, or
    nothing changed, e.g. the same key that HE now accepts) the entry is reloaded here.
    """
    listening = bool(entry.update_listeners)
    if not (update() and listening):
        hass.config_entries.async_schedule_reload(entry.entry_id)


class TunnelSubentryFlow(ConfigSubentryFlow):
    """Add another tunnel to a router that is already set up."""

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Ask for the tunnel's credentials and check them with HE."""
        entry: TunnelbrokerConfigEntry = self._get_entry()
        if entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="router_not_loaded")
        sibling = _sibling_tunnel(
            entry, None if user_input is None else user_input.get(CONF_USERNAME)
        )
        if user_input is not None and sibling is not None:
            # An empty update key: the one of the account's tunnel on this router.
            user_input = {
                CONF_UPDATE_KEY: sibling.data[CONF_UPDATE_KEY],
                **{k: v for k, v in user_input.items() if v},
            }
        step = await async_tunnel_input(
            self.hass, entry.runtime_data.router.client, user_input, entry.title
        )
        if step.credentials is not None:
            subentry = tunnel_subentry(step.credentials)
            return self.async_create_entry(
                title=subentry["title"],
                data=subentry["data"],
                unique_id=subentry["unique_id"],
            )
        if (first := _sibling_tunnel(entry, None)) is None:
            # No other tunnel whose key an empty field could mean: the key is asked for.
            return show_tunnel_form(self, "tunnel", step, user_input)
        step.placeholders["sibling"] = first.title
        return show_tunnel_form(
            self,
            "user",
            step,
            user_input,
            schema=ADD_TUNNEL_SCHEMA,
            suggested={CONF_USERNAME: first.data[CONF_USERNAME]},
        )

    async def async_step_tunnel(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Ask for a tunnel on a router with no tunnel left: the update key is required."""
        return await self.async_step_user(user_input)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a tunnel's username, update key or id (the fix for HE's nohost)."""
        entry: TunnelbrokerConfigEntry = self._get_entry()
        subentry = self._get_reconfigure_subentry()
        step = await async_tunnel_input(
            self.hass,
            router_client(entry),
            user_input,
            entry.title,
            subentry,
            reconfiguring=True,
        )
        if step.unchanged:
            return self.async_abort(reason="reconfigure_unchanged")
        if step.credentials is not None:
            await async_update_tunnel(self.hass, entry, subentry, step.credentials)
            return self.async_abort(reason="reconfigure_successful")
        return show_tunnel_form(
            self,
            "reconfigure",
            step,
            user_input,
            schema=RECONFIGURE_TUNNEL_SCHEMA,
            current=subentry,
        )
