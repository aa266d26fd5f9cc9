"""The entity ids Home Assistant gives the test router ("Simulated router") and tunnel (123456)."""

EXTERNAL_IP = "sensor.simulated_router_external_ip_address"
BUTTON = "button.tunnel_123456_update_endpoint"
ENDPOINT = "sensor.tunnel_123456_tunnel_endpoint"
EVENT = "event.tunnel_123456_endpoint_update"
NEXT_ATTEMPT = "sensor.tunnel_123456_next_attempt"
STATUS = "sensor.tunnel_123456_status"
