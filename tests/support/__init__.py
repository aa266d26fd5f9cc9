"""Test support: a real UPnP router (miniupnpd) in network namespaces, and a real `hass` process."""
