"""What a loaded config entry (one router and its tunnels) holds at run time."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry

from .coordinator import RouterCoordinator
from .router_events import RouterEvents
from .tunnel_health import TunnelHealth
from .tunnel_info import TunnelInfoCoordinator
from .tunnel_updater import TunnelUpdater


@dataclass
class TunnelbrokerRuntimeData:
    """The router's coordinator and its events; each tunnel's parts, by subentry id.

    Per tunnel: its updater, HE's information and its health check.
    """

    router: RouterCoordinator
    events: RouterEvents
    tunnels: dict[str, TunnelUpdater]
    tunnel_info: dict[str, TunnelInfoCoordinator]
    health: dict[str, TunnelHealth]


type TunnelbrokerConfigEntry = ConfigEntry[TunnelbrokerRuntimeData]
