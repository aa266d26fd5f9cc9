"""Router-level tests: a real miniupnpd router and a real `hass`, in network namespaces."""
