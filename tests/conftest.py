"""Fixtures: a simulated router and a simulated HE server, both real HTTP servers on loopback."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator
from datetime import timedelta
import logging
from typing import Any
from unittest.mock import patch

from async_upnp_client.const import SsdpSource
from async_upnp_client.ssdp import decode_ssdp_packet
from async_upnp_client.ssdp_listener import SsdpDevice
from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
import pytest_socket
from syrupy.assertion import SnapshotAssertion

from custom_components.tunnelbroker.const import (
    CONF_DNS_KEY,
    CONF_HOSTNAME,
    CONF_IPV6_ADDRESS,
    CONF_LOCATION,
    CONF_TUNNEL_ID,
    CONF_UPDATE_KEY,
    DOMAIN,
    ENV_API_URL,
    ENV_HEALTH_TARGET,
    ROUTER_POLL_INTERVAL,
    ST_IGD_V2,
    SUBENTRY_DNS_RECORD,
)
from custom_components.tunnelbroker.endpoint_store import (
    DATA_ENDPOINT_STORE,
    STORAGE_KEY,
)
from custom_components.tunnelbroker.he_sender import DATA_SENDERS, record_key
from custom_components.tunnelbroker.protocol.dns_client import RecordType
from custom_components.tunnelbroker.protocol.he_client import TunnelCredentials
from custom_components.tunnelbroker.tunnel_flow import (
    tunnel_subentry as build_tunnel_subentry,
)
from homeassistant.components.ssdp import DOMAIN as SSDP_DOMAIN
from homeassistant.components.ssdp.const import SSDP_SCANNER
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.service_info.ssdp import (
    ATTR_UPNP_DEVICE_TYPE,
    ATTR_UPNP_FRIENDLY_NAME,
    ATTR_UPNP_UDN,
    SsdpServiceInfo,
)
from homeassistant.util import dt as dt_util
from simulators.he import HeSimulator
from simulators.igd import IgdSimulator, RouterShape

from .support.values import (
    OTHER_RECORD_KEY,
    OTHER_RECORD_NAME,
    RECORD_KEY,
    RECORD_NAME,
    ROUTER_UDN,
    TUNNEL_ID,
    UPDATE_KEY,
    USERNAME,
    WAN_IP,
)

__all__ = [
    "OTHER_RECORD_KEY",
    "OTHER_RECORD_NAME",
    "RECORD_KEY",
    "RECORD_NAME",
    "ROUTER_UDN",
    "TUNNEL_ID",
    "UPDATE_KEY",
    "USERNAME",
    "WAN_IP",
]

# The test tunnel, as a user types it into the tunnel step.
CREDENTIALS = {
    CONF_USERNAME: USERNAME,
    CONF_UPDATE_KEY: UPDATE_KEY,
    CONF_TUNNEL_ID: TUNNEL_ID,
}


class _Snapshots(HomeAssistantSnapshotExtension):
    """Home Assistant's snapshots in tests/snapshots/, for syrupy 5 (floor) and 6 (newest).

    The test plugin's extension names that folder through `dirname`, which syrupy 6 no longer
    asks: it reads `snapshot_dirname`.
    """

    snapshot_dirname = "snapshots"


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots with Home Assistant's serializer, in tests/snapshots/ on both lines."""
    return snapshot.use_extension(_Snapshots)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/ in every test."""


@pytest.fixture(autouse=True)
def loopback_both_families(socket_enabled: None) -> None:
    """Loopback is loopback in IPv6 too (the tunnel health check's echo to ::1)."""
    pytest_socket.socket_allow_hosts(["127.0.0.1", "::1"])


@pytest.fixture(autouse=True)
def auto_socket_enabled(socket_enabled: None) -> None:
    """Allow sockets: the simulators are real servers (connections stay limited to 127.0.0.1)."""


@pytest.fixture(autouse=True)
def update_key_never_logged(caplog: pytest.LogCaptureFixture) -> Generator[None]:
    """Fail any test in which the update key, or a record's key, shows up in a log record.

    At any level.
    """
    caplog.set_level(logging.DEBUG)
    yield
    records = [
        *caplog.get_records("setup"),
        *caplog.get_records("call"),
        *caplog.records,  # this teardown so far
    ]
    # The whole record as a handler writes it: message, traceback and stack included.
    formatter = logging.Formatter()
    secrets = (UPDATE_KEY, RECORD_KEY, OTHER_RECORD_KEY)
    leaked = [
        r.getMessage()
        for r in records
        if any(secret in formatter.format(r) for secret in secrets)
    ]
    assert not leaked, f"a key in log records: {leaked}"


@pytest.fixture(autouse=True)
def no_deprecated_usage(caplog: pytest.LogCaptureFixture) -> Generator[None]:
    """Fail any test in which Home Assistant reports a deprecated call of this integration.

    HA logs such reports ("Detected that custom integration 'tunnelbroker' calls ...") instead
    of warning; the call stops working in a later release.
    """
    yield
    reports = [
        record.getMessage()
        for record in [*caplog.get_records("setup"), *caplog.get_records("call")]
        if record.name.startswith("homeassistant.helpers.frame")
        and DOMAIN in record.getMessage()
    ]
    assert not reports, f"deprecated usage reported: {reports}"


@pytest.fixture(autouse=True)
def never_real_he(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point HE's URL at a closed loopback port unless a test starts the HE simulator.

    A test that forgot the `he` fixture then fails to connect instead of reaching HE.
    """
    monkeypatch.setenv(ENV_API_URL, "http://127.0.0.1:9")


@pytest.fixture(autouse=True)
def tunnel_check_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tunnel health check echoes ::1, never HE's server (the simulated one is real)."""
    monkeypatch.setenv(ENV_HEALTH_TARGET, "::1")


def seed_endpoint(
    hass_storage: dict[str, Any],
    endpoint: str,
    tunnel_id: str = TUNNEL_ID,
    he: HeSimulator | None = None,
) -> None:
    """Make the integration remember that HE holds `endpoint` (as after an earlier run).

    With `he`, the simulated HE holds it too (HE's tunnel information agrees).
    """
    if he is not None:
        he.tunnel(tunnel_id).endpoint = endpoint
    hass_storage[STORAGE_KEY] = {
        "version": 1,
        "minor_version": 1,
        "key": STORAGE_KEY,
        "data": {
            tunnel_id: {"endpoint": endpoint, "updated_at": "2026-11-01T10:00:00+00:00"}
        },
    }


def seed_record(
    hass_storage: dict[str, Any],
    hostname: str = RECORD_NAME,
    a: str | None = WAN_IP,
    aaaa: str | None = None,
    he: HeSimulator | None = None,
) -> None:
    """Make the integration remember that dns.he.net holds the record's `a` (and `aaaa`).

    Added to what seed_endpoint (or an earlier seed_record) remembers. With `he`, the
    simulated dns.he.net holds them too.
    """
    if he is not None:
        he.record(hostname).a = a
        he.record(hostname).aaaa = aaaa
    stored = hass_storage.setdefault(
        STORAGE_KEY,
        {"version": 1, "minor_version": 1, "key": STORAGE_KEY, "data": {}},
    )
    for record_type, address in ((RecordType.A, a), (RecordType.AAAA, aaaa)):
        if address is not None:
            stored["data"][record_key(hostname, record_type)] = {
                "endpoint": address,
                "updated_at": "2026-11-01T10:00:00+00:00",
            }


@pytest.fixture(autouse=True)
def no_ssdp_network() -> Generator[None]:
    """Keep HA's SSDP scanner and server off the test machine's network.

    The `ssdp` dependency is set up for real; only its multicast sockets are not opened
    (the tests' network is loopback only). Discoveries reach the flow as SsdpServiceInfo.
    """
    with (
        patch("homeassistant.components.ssdp.scanner.Scanner.async_start"),
        patch("homeassistant.components.ssdp.scanner.Scanner.async_stop"),
        patch("homeassistant.components.ssdp.server.Server.async_start"),
        patch("homeassistant.components.ssdp.server.Server.async_stop"),
    ):
        yield


@pytest.fixture(params=[RouterShape.IGD2_MINIUPNPD])
async def igd(request: pytest.FixtureRequest) -> AsyncGenerator[IgdSimulator]:
    """A simulated router serving its description on loopback."""
    simulator = IgdSimulator(request.param, udn=ROUTER_UDN, external_ip=WAN_IP)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def he(monkeypatch: pytest.MonkeyPatch) -> AsyncGenerator[HeSimulator]:
    """A simulated HE server with one tunnel and two dynamic records, pointed at.

    The records point elsewhere (an older address) until something updates them.
    """
    simulator = HeSimulator()
    simulator.add_tunnel(USERNAME, TUNNEL_ID, UPDATE_KEY, endpoint="198.51.100.1")
    simulator.add_record(RECORD_NAME, RECORD_KEY, a="198.51.100.1")
    simulator.add_record(OTHER_RECORD_NAME, OTHER_RECORD_KEY, a="198.51.100.1")
    monkeypatch.setenv(ENV_API_URL, await simulator.start())
    yield simulator
    await simulator.stop()
    # Keys travel only in the Authorization header, never in a URL.
    urls = [
        r.path_qs
        for r in [
            *simulator.requests,
            *simulator.info_requests,
            *simulator.dns_requests,
        ]
    ]
    assert not [
        url
        for url in urls
        if UPDATE_KEY in url or RECORD_KEY in url or OTHER_RECORD_KEY in url
    ]


def ssdp_discovery(
    location: str, st: str = ST_IGD_V2, udn: str = ROUTER_UDN
) -> SsdpServiceInfo:
    """What HA's SSDP scanner hands a flow for an IGD."""
    return SsdpServiceInfo(
        ssdp_usn=f"{udn}::{st}",
        ssdp_st=st,
        ssdp_location=location,
        ssdp_udn=udn,
        upnp={
            ATTR_UPNP_DEVICE_TYPE: st,
            ATTR_UPNP_FRIENDLY_NAME: "Simulated router",
            ATTR_UPNP_UDN: udn,
        },
    )


def tunnel_subentry(
    tunnel_id: str = TUNNEL_ID, update_key: str = UPDATE_KEY
) -> ConfigSubentryData:
    """Return a tunnel subentry as the flows create it (the integration's own builder)."""
    return build_tunnel_subentry(TunnelCredentials(USERNAME, update_key, tunnel_id))


def record_subentry(
    hostname: str = RECORD_NAME, key: str = RECORD_KEY, ipv6: str | None = None
) -> ConfigSubentryData:
    """Return a record subentry as the Add DNS record flow creates it."""
    data = {CONF_HOSTNAME: hostname, CONF_DNS_KEY: key}
    if ipv6 is not None:
        data[CONF_IPV6_ADDRESS] = ipv6
    return ConfigSubentryData(
        data=data, subentry_type=SUBENTRY_DNS_RECORD, title=hostname, unique_id=hostname
    )


def router_entry(
    location: str, *tunnels: ConfigSubentryData, udn: str = ROUTER_UDN
) -> MockConfigEntry:
    """Return a router entry as the config flow creates it, holding `tunnels`."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Simulated router",
        unique_id=udn,
        data={CONF_LOCATION: location},
        subentries_data=list(tunnels),
    )


@pytest.fixture
def config_entry(igd: IgdSimulator) -> MockConfigEntry:
    """A router entry with one tunnel, pointing at the simulated router."""
    return router_entry(igd.location, tunnel_subentry())


@pytest.fixture
async def loaded(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> MockConfigEntry:
    """The router entry, set up, with HE already holding the router's address.

    The clock is frozen first, so every timer and renewal is set on the test's clock.
    """
    seed_endpoint(hass_storage, WAN_IP)
    he.tunnel(TUNNEL_ID).endpoint = WAN_IP
    await setup_entry(hass, config_entry)
    return config_entry


async def poll(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    delta: timedelta = ROUTER_POLL_INTERVAL,
) -> None:
    """Let `delta` pass: the router is polled, and what follows runs to its end."""
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def wan_change(
    hass: HomeAssistant, igd: IgdSimulator, freezer: FrozenDateTimeFactory, ip: str
) -> None:
    """Change the router's WAN address and let what follows run to its end.

    The router tells its subscribers (GENA NOTIFY); without a subscription the next poll
    finds the new address. Either way the change is handled when this returns.
    """
    igd.set_external_ip(ip)
    await igd.gena.drain()
    await hass.async_block_till_done(wait_background_tasks=True)
    await poll(hass, freezer)


async def setup_entry(
    hass: HomeAssistant, entry: MockConfigEntry, options: dict[str, Any] | None = None
) -> None:
    """Add the entry (with `options`) and set it up, waiting for the work it starts."""
    entry.add_to_hass(hass)
    if options is not None:
        hass.config_entries.async_update_entry(entry, options=options)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def routed_host(he: HeSimulator) -> str:
    """Return an address of the tunnel's routed /64 (where a record's AAAA may point)."""
    return he.tunnel(TUNNEL_ID).routed_64.split("/")[0].rstrip(":") + "::10"


async def records_loaded(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    *,
    ipv6: str | None = None,
    both: bool = True,
) -> MockConfigEntry:
    """Set up the tunnel and home.example.org (with an AAAA at `ipv6`), HE holding them.

    With `both`, vpn.example.org too. Nothing is sent to dns.he.net at setup.
    """
    seed_endpoint(hass_storage, WAN_IP, he=he)
    seed_record(hass_storage, RECORD_NAME, aaaa=ipv6, he=he)
    records = [record_subentry(ipv6=ipv6)]
    if both:
        seed_record(hass_storage, OTHER_RECORD_NAME, he=he)
        records.append(record_subentry(OTHER_RECORD_NAME, OTHER_RECORD_KEY))
    entry = router_entry(igd.location, tunnel_subentry(), *records)
    await setup_entry(hass, entry)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert he.dns_requests == []
    return entry


@pytest.fixture
async def with_aaaa(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> MockConfigEntry:
    """The tunnel and home.example.org with an AAAA in the routed /64, both held by HE."""
    return await records_loaded(
        hass, hass_storage, igd, he, ipv6=routed_host(he), both=False
    )


def find_device(hass: HomeAssistant, identifier: str) -> dr.DeviceEntry | None:
    """Return the device (DOMAIN, identifier) of any of this integration's entries.

    Looked up through the entries: since Home Assistant 2026.8 identifiers are unique only
    within a config entry, and a lookup by identifier alone is deprecated.
    """
    registry = dr.async_get(hass)
    for entry in hass.config_entries.async_entries(DOMAIN):
        for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
            if (DOMAIN, identifier) in device.identifiers:
                return device
    return None


async def router_announces(
    hass: HomeAssistant, location: str, *, boot_id: str, alive: bool = True
) -> None:
    """Let HA's ssdp integration hear the router's SSDP NOTIFY; its callbacks run.

    The packet is what a router multicasts (alive or byebye, with its BOOTID); only the
    socket is skipped: the scanner's own handler gets the decoded announcement.
    """
    nts = "ssdp:alive" if alive else "ssdp:byebye"
    packet = (
        "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\n"
        f"LOCATION: {location}\r\nNT: upnp:rootdevice\r\nNTS: {nts}\r\n"
        f"USN: {ROUTER_UDN}::upnp:rootdevice\r\nBOOTID.UPNP.ORG: {boot_id}\r\n"
        "SERVER: Linux UPnP/1.1 MiniUPnPd/2.3.1\r\n\r\n"
    ).encode()
    _, headers = decode_ssdp_packet(packet, None, ("127.0.0.1", 1900))
    device = SsdpDevice(ROUTER_UDN, dt_util.now() + timedelta(minutes=30))
    device.add_location(location, dt_util.now() + timedelta(minutes=30))
    device.advertisement_headers["upnp:rootdevice"] = headers
    scanner = hass.data[SSDP_DOMAIN][SSDP_SCANNER]
    source = (
        SsdpSource.ADVERTISEMENT_ALIVE if alive else SsdpSource.ADVERTISEMENT_BYEBYE
    )
    scanner._ssdp_listener_process_callback(device, "upnp:rootdevice", source, {})
    await hass.async_block_till_done()


async def restart(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    while_stopped: Callable[[], object] | None = None,
) -> None:
    """Stop the entry and start it as a new Home Assistant would: from .storage only.

    What lived in memory is gone: the loaded store, the tunnels' senders, and the repair
    issues (they are not kept). `while_stopped` runs in between (the router changes, say).
    """
    assert await hass.config_entries.async_unload(entry.entry_id)
    if while_stopped is not None:
        while_stopped()
    issues = ir.async_get(hass)
    for domain, issue_id in list(issues.issues):
        if domain == DOMAIN:
            ir.async_delete_issue(hass, DOMAIN, issue_id)
    hass.data.pop(DATA_ENDPOINT_STORE)
    hass.data.pop(DATA_SENDERS, None)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
