"""Config flow: find the router (SSDP or description URL), then add its first HE tunnel.

The entry is the router (unique per UPnP device), each tunnel a config subentry: one router serves
any number of tunnels and is polled once. The tunnel's credentials are checked by sending HE the
router's current address: the one request that both proves them and sets the endpoint.

Later changes: reauth (HE refused a tunnel's credentials) and the tunnel subentry's reconfigure
check the new credentials the same way; the router entry's reconfigure changes its description URL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from ipaddress import IPv6Address
from typing import Any
from urllib.parse import urlsplit

import voluptuous as vol

from homeassistant.components import ssdp
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentry,
    ConfigSubentryData,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import FlowHandler, FlowResult
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
from homeassistant.helpers.service_info.ssdp import (
    ATTR_UPNP_DEVICE_TYPE,
    ATTR_UPNP_FRIENDLY_NAME,
    ATTR_UPNP_UDN,
    SsdpServiceInfo,
)
from homeassistant.util import dt as dt_util

from .clients import async_create_igd_client
from .const import (
    AUTOMATIC_CONNECTION,
    CONF_AUTOMATIC_UPDATE,
    CONF_CALLBACK_URL,
    CONF_HEALTH_INTERVAL,
    CONF_HEALTH_TARGET,
    CONF_LISTEN_PORT,
    CONF_LOCATION,
    CONF_TUNNEL_ID,
    CONF_UDN,
    CONF_UPDATE_KEY,
    CONF_WAN_CONNECTION,
    DEFAULT_AUTOMATIC_UPDATE,
    DEFAULT_HEALTH_INTERVAL,
    DOMAIN,
    HEALTH_INTERVAL_RANGE,
    REAUTH_SUBENTRY_ID,
    ST_IGD_V1,
    ST_IGD_V2,
    SUBENTRY_TUNNEL,
)
from .developer_settings import min_update_interval
from .devices import async_remove_tunnel_device
from .endpoint_store import async_get_endpoint_store
from .protocol.he_client import TunnelCredentials, UpdateStatus, held_attempt
from .protocol.igd_client import (
    IGD_DEVICE_TYPES,
    IgdClient,
    NotAnIgdError,
    NoWanServiceError,
    RouterConnectionError,
    RouterError,
    WanStatus,
)
from .protocol.local_network import default_gateway, followed_location
from .protocol.update_policy import Caller, Decision, Why
from .protocol.wan_address import wan_address_problem
from .repair_issues import async_clear_tunnel_issues, async_raise_router_moved_issue
from .runtime_data import TunnelbrokerConfigEntry
from .tunnel_sender import Situation, TunnelSender, async_tunnel_sender
from .tunnel_subentries import (
    configured_tunnel_ids,
    tunnel_credentials,
    tunnel_subentries,
)

CONF_ROUTER = "router"
MANUAL_ENTRY = "manual"
# HE's answer -> the error shown in the tunnel form.
_UPDATE_ERRORS: dict[UpdateStatus, str] = {
    UpdateStatus.BADAUTH: "invalid_auth",
    UpdateStatus.NOHOST: "unknown_tunnel",
    UpdateStatus.UNAVAILABLE: "cannot_connect",
    UpdateStatus.ABUSE: "abuse",
    UpdateStatus.ICMP_BLOCKED: "icmp_blocked",
    UpdateStatus.BADIP: "address_refused",
    UpdateStatus.ERROR: "he_error",
    UpdateStatus.UNKNOWN: "unknown",
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
LOCATION_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_LOCATION): TextSelector(
            TextSelectorConfig(type=TextSelectorType.URL)
        )
    }
)


def _default_tunnel_title(tunnel_id: str) -> str:
    return f"Tunnel {tunnel_id}"


def _tunnel_subentry(credentials: TunnelCredentials) -> ConfigSubentryData:
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
    if wan_ip is None or wan_address_problem(wan_ip) is not None:
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
        if decision.why is Why.BLOCKED:
            # Sending now would only prolong HE's block.
            placeholders["message"] = f"blocked until {_until(decision)}"
            return "abuse", placeholders
        info = await sender.client.async_get_tunnel_info(credentials)
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
                return _UPDATE_ERRORS[attempt.result.status], placeholders
        # The tunnel's event entity shows this attempt once the entry has (re)loaded.
        sender.note_unshown(attempt)
    async_clear_tunnel_issues(hass, credentials.tunnel_id)
    return None, placeholders


def _until(decision: Decision) -> str:
    assert decision.until is not None
    return f"{dt_util.as_local(decision.until):%H:%M:%S}"


async def _async_read_wan_ip(client: IgdClient | None) -> str | None:
    """Return the router's WAN address (None: it has none); raise RouterError if it is silent."""
    if client is None:
        raise RouterConnectionError("the router's entry is not loaded")
    return (await client.async_get_wan_status()).external_ip


def _discovery_udn(discovery_info: SsdpServiceInfo) -> str | None:
    return discovery_info.ssdp_udn or discovery_info.upnp.get(ATTR_UPNP_UDN)


def _discovery_name(discovery_info: SsdpServiceInfo) -> str:
    return str(
        discovery_info.upnp.get(ATTR_UPNP_FRIENDLY_NAME) or discovery_info.ssdp_location
    )


class TunnelbrokerConfigFlow(ConfigFlow, domain=DOMAIN):
    """Find the router, confirm it, then ask for the tunnel's credentials."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with no router chosen."""
        self._location: str | None = None
        self._client: IgdClient | None = None
        self._discoveries: dict[str, SsdpServiceInfo] = {}
        self._reauth_subentry_id = ""
        # Reauth: the refused tunnels checked so far (subentry id -> their new credentials).
        self._reauth_done: dict[str, TunnelCredentials] = {}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> TunnelbrokerOptionsFlow:
        """Return the options flow."""
        return TunnelbrokerOptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Tunnels are added to a router as subentries."""
        return {SUBENTRY_TUNNEL: TunnelSubentryFlow}

    # -- discovery -------------------------------------------------------------------------
    async def async_step_ssdp(
        self, discovery_info: SsdpServiceInfo
    ) -> ConfigFlowResult:
        """Handle an Internet Gateway Device found by SSDP."""
        udn = _discovery_udn(discovery_info)
        if not udn or not discovery_info.ssdp_location:
            return self.async_abort(reason="incomplete_discovery")
        if discovery_info.upnp.get(ATTR_UPNP_DEVICE_TYPE) not in IGD_DEVICE_TYPES:
            return self.async_abort(reason="not_igd")
        await self.async_set_unique_id(udn)
        if (
            entry := self.hass.config_entries.async_entry_for_domain_unique_id(
                DOMAIN, udn
            )
        ) is not None:
            await self._async_follow_known_router(entry, discovery_info)
        self._abort_if_unique_id_configured()
        self._location = discovery_info.ssdp_location
        self.context["title_placeholders"] = {"name": _discovery_name(discovery_info)}
        return await self.async_step_confirm()

    async def _async_follow_known_router(
        self, entry: ConfigEntry, discovery_info: SsdpServiceInfo
    ) -> None:
        """Follow a known router's announcement to a new description URL, if it is the router.

        Followed on the router's own host (a reboot moved the port) or on this host's default
        gateway (a new lease); another host that names the router's UDN is not followed: the
        user is asked (repair issue) instead. Aborts the flow either way.
        """
        announced = discovery_info.ssdp_all_locations or {
            discovery_info.ssdp_location or ""
        }
        current = str(entry.data[CONF_LOCATION])
        if current in announced:
            self._abort_if_unique_id_configured()
        gateway = await self.hass.async_add_executor_job(default_gateway)
        location = followed_location(current, announced, gateway)
        if location is None:
            async_raise_router_moved_issue(
                self.hass,
                entry.entry_id,
                name=entry.title,
                current=current,
                announced=discovery_info.ssdp_location or "-",
            )
            self._abort_if_unique_id_configured()
        self._abort_if_unique_id_configured(updates={CONF_LOCATION: location})

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Let the user confirm the discovered router."""
        errors: dict[str, str] = {}
        if user_input is not None:
            assert self._location is not None
            if (error := await self._async_connect(self._location)) is None:
                return await self.async_step_tunnel()
            errors["base"] = error
        return self.async_show_form(
            step_id="confirm",
            description_placeholders=self.context["title_placeholders"],
            errors=errors,
        )

    # -- started by the user ---------------------------------------------------------------
    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer the routers SSDP has seen, or a description URL typed by hand."""
        errors: dict[str, str] = {}
        if user_input is not None:
            if (location := user_input[CONF_ROUTER]) == MANUAL_ENTRY:
                return await self.async_step_manual()
            await self.async_set_unique_id(
                _discovery_udn(self._discoveries[location]), raise_on_progress=False
            )
            self._abort_if_unique_id_configured()
            if (error := await self._async_connect(location)) is None:
                return await self.async_step_tunnel()
            errors["base"] = error
        else:
            self._discoveries = await self._async_new_discoveries()
            if not self._discoveries:
                return await self.async_step_manual()
        options = [
            SelectOptionDict(
                value=location, label=f"{_discovery_name(info)} ({location})"
            )
            for location, info in self._discoveries.items()
        ]
        options.append(SelectOptionDict(value=MANUAL_ENTRY, label=MANUAL_ENTRY))
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_ROUTER): SelectSelector(
                        SelectSelectorConfig(
                            options=options, translation_key=CONF_ROUTER
                        )
                    )
                }
            ),
            errors=errors,
        )

    async def async_step_manual(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the router's description URL (its SSDP LOCATION)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            location = str(user_input[CONF_LOCATION]).strip()
            if (error := await self._async_connect(location)) is None:
                assert self._client is not None
                await self.async_set_unique_id(
                    self._client.info.udn, raise_on_progress=False
                )
                self._abort_if_unique_id_configured(updates={CONF_LOCATION: location})
                return await self.async_step_tunnel()
            errors["base"] = error
        return _show_location_form(self, "manual", user_input, errors)

    async def _async_new_discoveries(self) -> dict[str, SsdpServiceInfo]:
        configured = self._async_current_ids(include_ignore=True)
        found: dict[str, SsdpServiceInfo] = {}
        for st in (ST_IGD_V1, ST_IGD_V2):
            for info in await ssdp.async_get_discovery_info_by_st(self.hass, st):
                udn = _discovery_udn(info)
                if (
                    udn
                    and info.ssdp_location
                    and udn not in configured
                    and info.upnp.get(ATTR_UPNP_DEVICE_TYPE) in IGD_DEVICE_TYPES
                    and all(_discovery_udn(seen) != udn for seen in found.values())
                ):
                    found[info.ssdp_location] = info
        return found

    async def _async_connect(self, location: str) -> str | None:
        """Read the router's description; return an error key or None."""
        try:
            self._client = await async_create_igd_client(self.hass, location)
        except RouterConnectionError:
            return "cannot_connect_router"
        except NotAnIgdError:
            return "not_igd"
        except NoWanServiceError:
            return "no_wan_service"
        except RouterError:
            return "invalid_description"
        self._location = location
        return None

    # -- the first tunnel ------------------------------------------------------------------
    async def async_step_tunnel(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the tunnel's credentials and check them with HE."""
        assert self._client is not None and self._location is not None
        info = self._client.info
        step = await _async_tunnel_input(
            self.hass, self._client, user_input, info.friendly_name
        )
        if step.credentials is not None:
            return self.async_create_entry(
                title=info.friendly_name,
                data={CONF_LOCATION: self._location, CONF_UDN: info.udn},
                subentries=[_tunnel_subentry(step.credentials)],
            )
        return _show_tunnel_form(self, "tunnel", step, user_input)

    # -- HE refused a tunnel's credentials -------------------------------------------------
    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Start from the runtime's badauth: entry data plus the tunnel's subentry id."""
        self._reauth_subentry_id = str(entry_data.get(REAUTH_SUBENTRY_ID) or "")
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the tunnel's username and new update key; check them with HE.

        HE may refuse several tunnels of the router at once, and Home Assistant opens one
        reauth flow per entry: this flow asks for each refused tunnel in turn.
        """
        entry: TunnelbrokerConfigEntry = self._get_reauth_entry()
        if (subentry := entry.subentries.get(self._reauth_subentry_id)) is None:
            return self.async_abort(reason="reauth_tunnel_unknown")
        step = await _async_tunnel_input(
            self.hass, _router_client(entry), user_input, entry.title, subentry
        )
        if step.credentials is not None:
            self._reauth_done[subentry.subentry_id] = step.credentials
            if (following := await self._async_next_refused(entry)) is not None:
                # Saved at the end: saving reloads the entry, which ends reauth flows.
                self._reauth_subentry_id = following
                return await self.async_step_reauth_confirm()
            for subentry_id, credentials in self._reauth_done.items():
                if (fixed := entry.subentries.get(subentry_id)) is not None:
                    await _async_update_tunnel(self.hass, entry, fixed, credentials)
            return self.async_abort(reason="reauth_successful")
        return _show_tunnel_form(
            self,
            "reauth_confirm",
            step,
            user_input,
            schema=REAUTH_SCHEMA,
            current=subentry,
        )

    async def _async_next_refused(self, entry: TunnelbrokerConfigEntry) -> str | None:
        """Return the subentry id of another tunnel whose credentials HE refused."""
        store = await async_get_endpoint_store(self.hass)
        for subentry_id, subentry in tunnel_subentries(entry).items():
            if subentry_id in self._reauth_done:
                continue
            refusal = store.get_refusal(str(subentry.data[CONF_TUNNEL_ID]))
            if refusal is not None and refusal.status is UpdateStatus.BADAUTH:
                return subentry_id
        return None

    # -- the router moved, or SSDP cannot see it -------------------------------------------
    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the router's description URL; it must still be the same router."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            location = str(user_input[CONF_LOCATION]).strip()
            if (error := await self._async_connect(location)) is None:
                assert self._client is not None
                await self.async_set_unique_id(
                    self._client.info.udn, raise_on_progress=False
                )
                self._abort_if_unique_id_mismatch(reason="wrong_router")
                _async_update_and_reload(
                    self.hass,
                    entry,
                    partial(
                        self.hass.config_entries.async_update_entry,
                        entry,
                        data={**entry.data, CONF_LOCATION: location},
                    ),
                )
                return self.async_abort(reason="reconfigure_successful")
            errors["base"] = error
        return _show_location_form(
            self, "reconfigure", user_input or entry.data, errors
        )


def _show_location_form(
    flow: ConfigFlow,
    step_id: str,
    suggested: Mapping[str, Any] | None,
    errors: dict[str, str],
) -> ConfigFlowResult:
    """Ask for the router's description URL."""
    return flow.async_show_form(
        step_id=step_id,
        data_schema=flow.add_suggested_values_to_schema(LOCATION_SCHEMA, suggested),
        errors=errors,
    )


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
    errors: dict[str, str] = field(default_factory=dict)
    placeholders: dict[str, str] = field(default_factory=dict)


async def _async_tunnel_input(
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
    try:
        wan_ip = await _async_read_wan_ip(client)
    except RouterError as err:
        wan_ip = None
        if user_input is not None:
            step.errors["base"] = "cannot_read_wan_address"
            step.placeholders["error"] = str(err)
    # The form says which address would be sent.
    step.placeholders["ip"] = wan_ip or "unknown"
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


def _show_tunnel_form[ResultT: FlowResult[Any, Any]](
    flow: FlowHandler[Any, ResultT, Any],
    step_id: str,
    step: _TunnelInput,
    user_input: Mapping[str, Any] | None,
    *,
    schema: vol.Schema = TUNNEL_SCHEMA,
    current: ConfigSubentry | None = None,
    suggested: Mapping[str, Any] | None = None,
) -> ResultT:
    """Show a tunnel form, filled with what was typed (or is set) except the update key.

    `suggested`: values to offer before anything was typed (another tunnel's username).
    """
    fields = {str(key) for key in schema.schema}
    suggested = {
        **(suggested or {}),
        **(current.data if current else {}),
        **(user_input or {}),
    }
    return flow.async_show_form(
        step_id=step_id,
        data_schema=flow.add_suggested_values_to_schema(
            schema, _without_key(suggested or None)
        ),
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


def _without_key(user_input: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """Return what to show again in a form after an error: everything but the secret."""
    if user_input is None:
        return None
    return {key: value for key, value in user_input.items() if key != CONF_UPDATE_KEY}


def _router_client(entry: TunnelbrokerConfigEntry) -> IgdClient | None:
    """Return the router's client while its entry is loaded, else None."""
    if entry.state is ConfigEntryState.LOADED:
        return entry.runtime_data.router.client
    return None


async def _async_update_tunnel(
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
        async_remove_tunnel_device(hass, entry, old_id)
    new = _tunnel_subentry(credentials)
    default_title = subentry.title == _default_tunnel_title(old_id)
    _async_update_and_reload(
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
def _async_update_and_reload(
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
        step = await _async_tunnel_input(
            self.hass, entry.runtime_data.router.client, user_input, entry.title
        )
        if step.credentials is not None:
            subentry = _tunnel_subentry(step.credentials)
            return self.async_create_entry(
                title=subentry["title"],
                data=subentry["data"],
                unique_id=subentry["unique_id"],
            )
        first = _sibling_tunnel(entry, None)
        step.placeholders["sibling"] = first.title if first is not None else "-"
        return _show_tunnel_form(
            self,
            "user",
            step,
            user_input,
            schema=ADD_TUNNEL_SCHEMA if first is not None else TUNNEL_SCHEMA,
            current=None,
            suggested=(
                {CONF_USERNAME: first.data[CONF_USERNAME]}
                if first is not None
                else None
            ),
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a tunnel's username, update key or id (the fix for HE's nohost)."""
        entry: TunnelbrokerConfigEntry = self._get_entry()
        subentry = self._get_reconfigure_subentry()
        step = await _async_tunnel_input(
            self.hass,
            _router_client(entry),
            user_input,
            entry.title,
            subentry,
            reconfiguring=True,
        )
        if step.credentials is not None:
            await _async_update_tunnel(self.hass, entry, subentry, step.credentials)
            return self.async_abort(reason="reconfigure_successful")
        return _show_tunnel_form(
            self,
            "reconfigure",
            step,
            user_input,
            schema=RECONFIGURE_TUNNEL_SCHEMA,
            current=subentry,
        )


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
