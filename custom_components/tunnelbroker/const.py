"""Constants for the Hurricane Electric Tunnelbroker integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

from .protocol.igd_client import IGD_DEVICE_TYPES

DOMAIN: Final = "tunnelbroker"
LOGGER = logging.getLogger(__package__)

# Config entry (one per router) and its subentries (one per tunnel).
CONF_LOCATION: Final = "location"
CONF_UPDATE_KEY: Final = "update_key"
CONF_TUNNEL_ID: Final = "tunnel_id"
CONF_AUTOMATIC_UPDATE: Final = "automatic_update"
DEFAULT_AUTOMATIC_UPDATE: Final = True
SUBENTRY_TUNNEL: Final = "tunnel"
# A dns.he.net dynamic record (its name and key; an AAAA address if it has one).
SUBENTRY_DNS_RECORD: Final = "dns_record"
CONF_HOSTNAME: Final = "hostname"
CONF_DNS_KEY: Final = "dns_key"
CONF_IPV6_ADDRESS: Final = "ipv6_address"
# Reauth flows name the tunnel whose update key HE refused.
REAUTH_SUBENTRY_ID: Final = "subentry_id"

ST_IGD_V1, ST_IGD_V2 = IGD_DEVICE_TYPES

# The router answers on the LAN: a local poll is cheap (core `upnp` polls as often).
# While the router's events are trusted, polling is only a safety net.
ROUTER_POLL_INTERVAL: Final = timedelta(seconds=30)
SAFETY_POLL_INTERVAL: Final = timedelta(minutes=10)
# Events that come in a burst (1-3 NOTIFYs per change) are read back from the router once.
EVENT_REFRESH_COOLDOWN: Final = 0.2
# After SUBSCRIBE was refused or failed: poll, and try subscribing again this much later.
RESUBSCRIBE_RETRY: Final = timedelta(minutes=5)
# A device sends an initial NOTIFY right after SUBSCRIBE (UDA 1.1, 4.2.1). None by then: the
# router's NOTIFYs do not reach Home Assistant (firewall, NAT, container), so poll fast.
INITIAL_EVENT_TIMEOUT: Final = timedelta(seconds=5)
# Events missing this long (several retries) become a repair issue.
EVENTS_ISSUE_AFTER: Final = timedelta(minutes=15)
CONF_LISTEN_PORT: Final = "listen_port"
CONF_CALLBACK_URL: Final = "callback_url"
# Which WAN connection of a multi-WAN router to read: a connection's key, or automatic (the
# IGD standard's choice).
CONF_WAN_CONNECTION: Final = "wan_connection"
AUTOMATIC_CONNECTION: Final = "automatic"
ROUTER_TIMEOUT: Final = 10
# Tunnel health: ICMPv6 echo through the tunnel to HE's server (or the address in the options),
# at an interval, at once after an update and once more after HEALTH_RECHECK_AFTER (a router
# may need that long to bring its 6in4 interface up on the new address).
CONF_HEALTH_TARGET: Final = "health_target"
CONF_HEALTH_INTERVAL: Final = "health_interval"  # minutes
DEFAULT_HEALTH_INTERVAL: Final = 5
HEALTH_INTERVAL_RANGE: Final = (1, 60)
HEALTH_RECHECK_AFTER: Final = timedelta(minutes=1)
# Unanswered this long while HE holds the router's address: a repair issue.
TUNNEL_DOWN_ISSUE_AFTER: Final = timedelta(minutes=15)

# Developer setting read at start-up: lets tests, benchmarks and the demo point the integration
# at a simulated HE server. Never settable from the UI, never stored in a config entry.
ENV_API_URL: Final = "TUNNELBROKER_API_URL"
# Developer setting for the real-router tests and the benchmark (see developer_settings).
ENV_MIN_UPDATE_INTERVAL: Final = "TUNNELBROKER_MIN_UPDATE_INTERVAL"
# Developer settings for the tunnel health check: the address it echoes (tests and the demo use
# ::1 or a namespace's address), and the wait before the repair issue (seconds).
ENV_HEALTH_TARGET: Final = "TUNNELBROKER_HEALTH_TARGET"
ENV_HEALTH_ISSUE_AFTER: Final = "TUNNELBROKER_HEALTH_ISSUE_AFTER"

# HE's tunnel information changes only when the user edits the tunnel or an update moves its
# endpoint. HE asks clients not to hammer its servers (it blocks abusive clients), so it is read
# rarely: at start-up, then at this interval.
TUNNEL_INFO_INTERVAL: Final = timedelta(hours=6)

# Bus event behind the device triggers.
EVENT_TUNNELBROKER: Final = f"{DOMAIN}_event"
TRIGGER_WAN_IP_CHANGED: Final = "wan_ip_changed"
TRIGGER_ENDPOINT_UPDATED: Final = "endpoint_updated"
TRIGGER_ENDPOINT_UPDATE_FAILED: Final = "endpoint_update_failed"
TRIGGER_TUNNEL_DOWN: Final = "tunnel_down"
TRIGGER_TUNNEL_UP: Final = "tunnel_up"
TRIGGER_RECORD_UPDATED: Final = "record_updated"
TRIGGER_RECORD_UPDATE_FAILED: Final = "record_update_failed"
ROUTER_TRIGGER_TYPES: Final = (TRIGGER_WAN_IP_CHANGED,)
TUNNEL_TRIGGER_TYPES: Final = (
    TRIGGER_ENDPOINT_UPDATED,
    TRIGGER_ENDPOINT_UPDATE_FAILED,
    TRIGGER_TUNNEL_DOWN,
    TRIGGER_TUNNEL_UP,
)
RECORD_TRIGGER_TYPES: Final = (TRIGGER_RECORD_UPDATED, TRIGGER_RECORD_UPDATE_FAILED)

SERVICE_UPDATE_ENDPOINT: Final = "update_endpoint"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
ATTR_DEVICE_ID: Final = "device_id"
ATTR_IP: Final = "ip"
ATTR_FORCE: Final = "force"

# A tunnel's page on tunnelbroker.net (the device's link, the repair issues' "learn more").
TUNNEL_PAGE_URL: Final = "https://tunnelbroker.net/tunnel_detail.php?tid={tunnel_id}"
# The device identifier of a tunnel (and the prefix of its entities' unique ids).
TUNNEL_IDENTIFIER_PREFIX: Final = "tunnel_"
# Where dynamic records are managed (a record's device link, its issues' "learn more").
DNS_PAGE_URL: Final = "https://dns.he.net/"
# The device identifier of a dns.he.net record (and the prefix of its entities' unique ids).
RECORD_IDENTIFIER_PREFIX: Final = "record_"
