"""Keeps the router's WAN state: the one poll every tunnel of this router shares."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import (
    DOMAIN,
    EVENT_REFRESH_COOLDOWN,
    LOGGER,
    ROUTER_POLL_INTERVAL,
    SAFETY_POLL_INTERVAL,
    TRIGGER_WAN_IP_CHANGED,
)
from .devices import async_fire_device_event
from .protocol.igd_client import (
    IgdClient,
    RouterConnectionError,
    RouterError,
    WanStatus,
)
from .protocol.wan_address import wan_address_problem
from .repair_issues import async_update_behind_nat_issue, behind_nat
from .wording import address_problem_key

# Why the router's address cannot be sent, in words (translation keys).


def router_error_translation(err: RouterError) -> dict[str, Any]:
    """Return the translated-exception arguments that describe a router failure."""
    unreachable = isinstance(err, RouterConnectionError)
    return {
        "translation_domain": DOMAIN,
        "translation_key": "router_unreachable" if unreachable else "router_bad_reply",
        "translation_placeholders": {"error": str(err)},
    }


class RouterCoordinator(DataUpdateCoordinator[WanStatus]):
    """Polls the router for its WAN address; fires an event when the address changes."""

    config_entry: ConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        client: IgdClient,
        *,
        device_id: str,
    ) -> None:
        """Initialize for one router and its device."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {client.info.friendly_name}",
            update_interval=ROUTER_POLL_INTERVAL,
            always_update=False,
            request_refresh_debouncer=Debouncer(
                hass, LOGGER, cooldown=EVENT_REFRESH_COOLDOWN, immediate=True
            ),
        )
        self.client = client
        # The router's events arrive (its first NOTIFY came): polling is a safety net.
        self.events_trusted = False
        self.device_id = device_id

    def set_events_trusted(self, trusted: bool) -> None:
        """Poll rarely while the router's events arrive, often while they do not."""
        if trusted == self.events_trusted:
            return
        self.events_trusted = trusted
        self.update_interval = self._poll_interval(read_ok=self.last_update_success)
        if self._listeners:
            self._schedule_refresh()

    def _poll_interval(self, *, read_ok: bool) -> timedelta:
        """Poll rarely only while events flow and the last read worked.

        A router whose reads fail may still accept renewals: its events say nothing about
        when reads work again, so it is polled often until one does.
        """
        if self.events_trusted and read_ok:
            return SAFETY_POLL_INTERVAL
        return ROUTER_POLL_INTERVAL

    @property
    def udn(self) -> str:
        """Return the router's unique device name."""
        return self.client.info.udn

    def usable_external_ip(self) -> str:
        """Return the router's WAN address for an update asked for now, or raise why not."""
        if not self.last_update_success or self.data is None:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="router_unavailable",
                translation_placeholders={"title": self.config_entry.title},
            )
        current = self.data.external_ip
        if (problem := wan_address_problem(current)) is not None:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=address_problem_key(problem, router=True),
                translation_placeholders={"ip": current or "-"},
            )
        assert current is not None
        return current

    async def _async_update_data(self) -> WanStatus:
        try:
            status = await self.client.async_get_wan_status()
        except RouterError as err:
            self.update_interval = self._poll_interval(read_ok=False)
            raise UpdateFailed(**router_error_translation(err)) from err
        self.update_interval = self._poll_interval(read_ok=True)
        previous = self.data.external_ip if self.data is not None else None
        if previous is not None and status.external_ip != previous:
            self._fire_wan_ip_changed(previous, status.external_ip)
        async_update_behind_nat_issue(
            self.hass,
            self.config_entry.entry_id,
            self.config_entry.title,
            status.external_ip,
            raised=behind_nat(
                wan_address_problem(status.external_ip), status.connected
            ),
        )
        return status

    def _fire_wan_ip_changed(self, previous: str, current: str | None) -> None:
        LOGGER.debug(
            "WAN address of %s changed: %s -> %s", self.name, previous, current
        )
        async_fire_device_event(
            self.hass,
            self.device_id,
            TRIGGER_WAN_IP_CHANGED,
            ip=current,
            previous_ip=previous,
        )
