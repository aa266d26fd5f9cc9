"""What a loaded config entry (one router and its tunnels) holds at run time."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry

from .coordinator import RouterCoordinator
from .router_events import RouterEvents
from .tunnel_updater import TunnelUpdater


@dataclass
class TunnelbrokerRuntimeData:
    """The router's coordinator, its events, and one updater per tunnel (by subentry id)."""

    router: RouterCoordinator
    events: RouterEvents
    tunnels: dict[str, TunnelUpdater]


type TunnelbrokerConfigEntry = ConfigEntry[TunnelbrokerRuntimeData]
