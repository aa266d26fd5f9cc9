"""Config flow: find the router (SSDP or description URL), then add its first HE tunnel.

The entry is the router (unique per UPnP device), each tunnel a config subentry: one router serves
any number of tunnels and is polled once. The tunnel's credentials are checked by sending HE the
router's current address: the one request that both proves them and sets the endpoint.

Later changes: reauth (HE refused a tunnel's credentials) and the tunnel subentry's reconfigure
check the new credentials the same way; the router entry's reconfigure changes its description URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from async_upnp_client.exceptions import UpnpResponseError
import voluptuous as vol

from homeassistant.components import ssdp
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
)
from homeassistant.core import callback
from homeassistant.helpers.selector import (
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

from .clients import async_create_igd_client
from .const import (
    CONF_LOCATION,
    CONF_TUNNEL_ID,
    DOMAIN,
    REAUTH_SUBENTRY_ID,
    ST_IGD_V1,
    ST_IGD_V2,
    SUBENTRY_DNS_RECORD,
    SUBENTRY_TUNNEL,
)
from .endpoint_store import async_get_endpoint_store
from .options_flow import TunnelbrokerOptionsFlow
from .protocol.he_client import TunnelCredentials, UpdateStatus
from .protocol.igd_client import (
    IGD_DEVICE_TYPES,
    IgdClient,
    NotAnIgdError,
    NoWanServiceError,
    RouterConnectionError,
    RouterError,
)
from .protocol.local_network import default_gateway, followed_location
from .record_flow import (
    RecordSubentryFlow,
    async_record_input,
    async_update_record,
    is_record,
    record_schema,
    show_record_form,
)
from .repair_issues import async_raise_router_moved_issue
from .runtime_data import TunnelbrokerConfigEntry
from .tunnel_flow import (
    REAUTH_SCHEMA,
    TunnelSubentryFlow,
    async_tunnel_input,
    async_update_and_reload,
    async_update_tunnel,
    router_client,
    show_tunnel_form,
    tunnel_subentry,
)
from .tunnel_subentries import tunnel_subentries

CONF_ROUTER = "router"
MANUAL_ENTRY = "manual"
LOCATION_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_LOCATION): TextSelector(
            TextSelectorConfig(type=TextSelectorType.URL)
        )
    }
)


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
        # What an error in a form names (an HTTP status).
        self._placeholders: dict[str, str] = {}
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
        """Tunnels and dns.he.net records are added to a router as subentries."""
        return {
            SUBENTRY_TUNNEL: TunnelSubentryFlow,
            SUBENTRY_DNS_RECORD: RecordSubentryFlow,
        }

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
            errors[CONF_LOCATION] = error
        return _show_location_form(
            self, "manual", user_input, errors, self._placeholders
        )

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
        """Read the router's description; return an error key or None.

        Each way a description URL can be wrong has its own words: not a URL, nothing
        answering, an HTTP error (its status in `_placeholders`), not a description, not a
        gateway, no WAN service.
        """
        parts = urlsplit(location)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "location_not_url"
        try:
            self._client = await async_create_igd_client(self.hass, location)
        except RouterConnectionError:
            return "cannot_connect_router"
        except NotAnIgdError:
            return "not_igd"
        except NoWanServiceError:
            return "no_wan_service"
        except RouterError as err:
            if isinstance(err.__cause__, UpnpResponseError):
                self._placeholders["status"] = str(err.__cause__.status)
                return "description_http_error"
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
        step = await async_tunnel_input(
            self.hass, self._client, user_input, info.friendly_name
        )
        if step.credentials is not None:
            return self.async_create_entry(
                title=info.friendly_name,
                data={CONF_LOCATION: self._location},
                subentries=[tunnel_subentry(step.credentials)],
            )
        return show_tunnel_form(self, "tunnel", step, user_input)

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
        if is_record(subentry):
            return await self.async_step_reauth_record()
        step = await async_tunnel_input(
            self.hass, router_client(entry), user_input, entry.title, subentry
        )
        if step.credentials is not None:
            self._reauth_done[subentry.subentry_id] = step.credentials
            if (following := await self._async_next_refused(entry)) is not None:
                # Saved at the end: saving reloads the entry, which ends reauth flows.
                self._reauth_subentry_id = following
                return await self.async_step_reauth_confirm()
            for subentry_id, credentials in self._reauth_done.items():
                if (fixed := entry.subentries.get(subentry_id)) is not None:
                    await async_update_tunnel(self.hass, entry, fixed, credentials)
            return self.async_abort(reason="reauth_successful")
        return show_tunnel_form(
            self,
            "reauth_confirm",
            step,
            user_input,
            schema=REAUTH_SCHEMA,
            current=subentry,
        )

    async def async_step_reauth_record(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a record's new key (HE refused it); check it with HE."""
        entry: TunnelbrokerConfigEntry = self._get_reauth_entry()
        if (subentry := entry.subentries.get(self._reauth_subentry_id)) is None:
            return self.async_abort(reason="reauth_tunnel_unknown")
        step = await async_record_input(
            self.hass, entry, user_input, subentry, keep_ipv6=True
        )
        if step.data is not None:
            await async_update_record(self.hass, entry, subentry, step.data)
            return self.async_abort(reason="reauth_successful")
        return show_record_form(
            self,
            "reauth_record",
            step,
            user_input,
            record_schema(None, adding=False),
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
                if location == entry.data[CONF_LOCATION]:
                    # The same URL: nothing to change; a router that was not loaded is
                    # set up again now that it answers there.
                    loaded = entry.state is ConfigEntryState.LOADED
                    if not loaded:
                        self.hass.config_entries.async_schedule_reload(entry.entry_id)
                    return self.async_abort(
                        reason="reconfigure_unchanged"
                        if loaded
                        else "reconfigure_retried",
                        description_placeholders={"name": entry.title},
                    )
                async_update_and_reload(
                    self.hass,
                    entry,
                    partial(
                        self.hass.config_entries.async_update_entry,
                        entry,
                        data={**entry.data, CONF_LOCATION: location},
                    ),
                )
                return self.async_abort(reason="reconfigure_successful")
            errors[CONF_LOCATION] = error
        return _show_location_form(
            self, "reconfigure", user_input or entry.data, errors, self._placeholders
        )


def _show_location_form(
    flow: ConfigFlow,
    step_id: str,
    suggested: Mapping[str, Any] | None,
    errors: dict[str, str],
    placeholders: dict[str, str],
) -> ConfigFlowResult:
    """Ask for the router's description URL; what is wrong with it is said on the field."""
    return flow.async_show_form(
        step_id=step_id,
        data_schema=flow.add_suggested_values_to_schema(LOCATION_SCHEMA, suggested),
        errors=errors,
        description_placeholders=placeholders,
    )


# Errors about one field are shown on it; the others above the form.
