"""What a loaded config entry (one router and its tunnels) holds at run time."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry

from .coordinator import RouterCoordinator
from .router_events import RouterEvents
from .tunnel_info import TunnelInfoCoordinator
from .tunnel_updater import TunnelUpdater


@dataclass
class TunnelbrokerRuntimeData:
    """The router's coordinator, its events; per tunnel (by subentry id) an updater and HE's info."""

    router: RouterCoordinator
    events: RouterEvents
    tunnels: dict[str, TunnelUpdater]
    tunnel_info: dict[str, TunnelInfoCoordinator]


type TunnelbrokerConfigEntry = ConfigEntry[TunnelbrokerRuntimeData]
