"""Is the tunnel carrying IPv6? Each tunnel's echo check, its events and its repair issue.

HE holding the right endpoint is not a working tunnel: the router must bring its 6in4
interface up on the new address, and its firewall must pass protocol 41. So HE's tunnel server
(`serverv6` of the tunnel information, or the address in the options) is echoed from this host
every few minutes, at once after each update of the endpoint and once more a minute later.
The echo is also traffic through the tunnel, which HE sees (it deletes tunnels unused for long).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from ipaddress import ip_interface

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import (
    CONF_HEALTH_INTERVAL,
    CONF_HEALTH_TARGET,
    DEFAULT_HEALTH_INTERVAL,
    DOMAIN,
    HEALTH_RECHECK_AFTER,
    LOGGER,
    TRIGGER_TUNNEL_DOWN,
    TRIGGER_TUNNEL_UP,
)
from .developer_settings import health_issue_after, health_target
from .devices import async_fire_device_event
from .protocol.he_client import UpdateAttempt
from .protocol.icmp_echo import (
    EchoOutcome,
    EchoResult,
    async_echo,
    async_icmp_privilege,
)
from .repair_issues import (
    TunnelIssue,
    async_clear_tunnel_issues,
    async_raise_tunnel_down_issue,
)
from .tunnel_updater import TunnelStatePublisher

DATA_PRIVILEGE: HassKey[bool | None] = HassKey(f"{DOMAIN}_icmp_privilege")


async def async_icmp_privilege_of(hass: HomeAssistant) -> bool | None:
    """Return (once found, then remembered) which ICMP sockets this host allows."""
    if DATA_PRIVILEGE not in hass.data:
        privilege = hass.data[DATA_PRIVILEGE] = await async_icmp_privilege()
        if privilege is None:
            LOGGER.warning(
                "Neither raw nor unprivileged ICMP sockets are allowed: the tunnel health"
                " check cannot run (give Home Assistant CAP_NET_RAW, or allow its group in"
                " net.ipv4.ping_group_range)"
            )
    return hass.data[DATA_PRIVILEGE]


class TunnelHealth(DataUpdateCoordinator[EchoResult | None]):
    """One tunnel's echo check; None while there is nothing to echo (no target known)."""

    config_entry: ConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        state_publisher: TunnelStatePublisher,
        *,
        tunnel_id: str,
        tunnel_name: str,
        device_id: str,
        privileged: bool | None,
    ) -> None:
        """Initialize for one tunnel, following its state (HE's information, updates)."""
        minutes = int(entry.options.get(CONF_HEALTH_INTERVAL, DEFAULT_HEALTH_INTERVAL))
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} tunnel {tunnel_id} health",
            update_interval=timedelta(minutes=minutes),
            always_update=True,
        )
        self.state_publisher = state_publisher
        self.tunnel_id = tunnel_id
        self._tunnel_name = tunnel_name
        self._privileged = privileged
        self.down_since: datetime | None = None
        self.device_id = device_id  # the tunnel's device, for the events
        self._last_confirmed: UpdateAttempt | None = None
        self._cancel_recheck: CALLBACK_TYPE | None = None

    @property
    def target(self) -> str | None:
        """Return the address echoed: developer setting, else the option, else HE's server."""
        if override := health_target(self.hass):
            return override
        if configured := self.config_entry.options.get(CONF_HEALTH_TARGET):
            return str(configured)
        info = self.state_publisher.data.info
        if info is None or not info.server_v6:
            return None
        return str(ip_interface(info.server_v6).ip)

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Check again after each update of the endpoint; return the remover."""
        self._last_confirmed = self._confirmed_attempt()
        remove = self.state_publisher.async_add_listener(self._async_on_tunnel_state)

        @callback
        def _stop() -> None:
            remove()
            self._cancel_pending_recheck()

        return _stop

    def _confirmed_attempt(self) -> UpdateAttempt | None:
        attempt = self.state_publisher.data.last_attempt
        return attempt if attempt is not None and attempt.result.success else None

    @callback
    def _async_on_tunnel_state(self) -> None:
        confirmed = self._confirmed_attempt()
        if confirmed is None or confirmed is self._last_confirmed:
            return
        self._last_confirmed = confirmed
        self.hass.async_create_task(
            self.async_request_refresh(), f"{DOMAIN} check tunnel {self.tunnel_id}"
        )
        self._cancel_pending_recheck()
        self._cancel_recheck = async_call_later(
            self.hass, HEALTH_RECHECK_AFTER, self._async_recheck
        )

    async def _async_recheck(self, _now: datetime) -> None:
        self._cancel_recheck = None
        await self.async_request_refresh()

    def _cancel_pending_recheck(self) -> None:
        if self._cancel_recheck is not None:
            self._cancel_recheck()
            self._cancel_recheck = None

    async def _async_update_data(self) -> EchoResult | None:
        if (target := self.target) is None:
            return None
        result = await async_echo(target, self._privileged)
        self._follow(result)
        return result

    def _follow(self, result: EchoResult) -> None:
        """Tell automations when the tunnel goes down or comes back; raise or clear the issue."""
        previous = self.data.outcome if self.data is not None else None
        now = dt_util.utcnow()
        if result.outcome is EchoOutcome.ANSWERED:
            self.down_since = None
            async_clear_tunnel_issues(
                self.hass, self.tunnel_id, [TunnelIssue.TUNNEL_DOWN]
            )
            if previous is EchoOutcome.NO_ANSWER:
                self._fire(TRIGGER_TUNNEL_UP, result)
            return
        if result.outcome is not EchoOutcome.NO_ANSWER:
            return  # not a verdict on the tunnel: no route, or no ICMP socket here
        if self.down_since is None:
            self.down_since = now
            LOGGER.info(
                "Tunnel %s: %s does not answer through the tunnel",
                self.tunnel_id,
                result.target,
            )
        if previous is not EchoOutcome.NO_ANSWER:
            self._fire(TRIGGER_TUNNEL_DOWN, result)
        if (
            self.state_publisher.data.holds_address
            and now - self.down_since >= health_issue_after(self.hass)
        ):
            async_raise_tunnel_down_issue(
                self.hass,
                tunnel_id=self.tunnel_id,
                tunnel_name=self._tunnel_name,
                target=result.target,
                since=self.down_since,
            )

    def _fire(self, trigger_type: str, result: EchoResult) -> None:
        async_fire_device_event(
            self.hass,
            self.device_id,
            trigger_type,
            tunnel_id=self.tunnel_id,
            target=result.target,
        )
