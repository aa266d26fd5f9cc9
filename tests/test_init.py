"""Setting up and unloading a router entry against the simulated router and HE."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import logging
import re
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tunnelbroker.clients import create_he_client
from custom_components.tunnelbroker.const import (
    DOMAIN,
    ENV_API_URL,
    SAFETY_POLL_INTERVAL,
)
from custom_components.tunnelbroker.developer_settings import api_url, info_api_url
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from simulators.he import HeSimulator
from simulators.igd import Fault, IgdSimulator

from .conftest import (
    ROUTER_UDN,
    TUNNEL_ID,
    UPDATE_KEY,
    USERNAME,
    WAN_IP,
    find_device,
    poll,
    router_entry,
    setup_entry,
    tunnel_subentry,
    wan_change,
)
from .support.entity_ids import EXTERNAL_IP


async def test_setup_and_unload(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    await setup_entry(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    router = find_device(hass, ROUTER_UDN)
    assert router is not None
    assert router.manufacturer == "MiniUPnP"
    assert router.model == "MiniUPnPd"
    # miniupnpd's modelNumber is its version: the firmware, not a model ID.
    assert router.model_id is None
    assert router.sw_version == "2.3.1"
    # presentationURL, on the router's own host: the device page links to it.
    assert router.configuration_url == f"http://{igd.host}:{igd.port}/"
    assert router.serial_number == "00000000"
    tunnel = find_device(hass, f"tunnel_{TUNNEL_ID}")
    assert tunnel is not None
    assert tunnel.via_device_id == router.id
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.NOT_LOADED


async def test_router_unreachable_at_setup_retries(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    await igd.stop()
    await setup_entry(hass, config_entry)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert not he.requests


@pytest.mark.parametrize(
    ("fault", "state"),
    [
        (Fault.HTTP_500, ConfigEntryState.SETUP_RETRY),  # description unreadable
        (Fault.SOAP_FAULT, ConfigEntryState.SETUP_RETRY),  # first WAN read fails
        (Fault.MALFORMED_SOAP, ConfigEntryState.SETUP_RETRY),
    ],
)
async def test_router_faults_at_setup(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    fault: Fault,
    state: ConfigEntryState,
) -> None:
    igd.set_fault(fault)
    await setup_entry(hass, config_entry)
    assert config_entry.state is state
    assert he.requests == []


async def test_not_an_igd_is_an_error(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    igd.edit_description("InternetGatewayDevice:2", "MediaRenderer:1")
    await setup_entry(hass, config_entry)
    assert config_entry.state is ConfigEntryState.SETUP_ERROR


async def test_api_url_override_is_logged(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        await setup_entry(hass, config_entry)
    assert f"{ENV_API_URL} is set: tunnel updates go to {he.url}" in caplog.text


async def test_insecure_api_url_override_is_ignored(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plain-http override towards a real host is ignored: HE's own URLs are used.

    No entry is set up: it would read the tunnel's information from HE itself at once.
    """
    monkeypatch.setenv(ENV_API_URL, "http://tunnelbroker.example")
    create_he_client(hass)
    assert (
        "Ignoring TUNNELBROKER_API_URL (plain http is allowed only towards loopback)"
        in caplog.text
    )
    assert api_url(hass) == "https://ipv4.tunnelbroker.net"
    assert info_api_url(hass) == "https://tunnelbroker.net"


async def test_removing_the_router_forgets_its_endpoints(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    await setup_entry(hass, config_entry)
    assert TUNNEL_ID in hass_storage["tunnelbroker.endpoints"]["data"]
    await hass.config_entries.async_remove(config_entry.entry_id)
    await hass.async_block_till_done()
    assert hass_storage["tunnelbroker.endpoints"]["data"] == {}


async def test_removing_a_tunnel_removes_its_device_and_issues(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    config_entry = router_entry(igd.location, tunnel_subentry(), tunnel_subentry("777"))
    he.add_tunnel(USERNAME, "777", UPDATE_KEY)
    he.force_reply("nohost")
    await setup_entry(hass, config_entry)
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, "tunnel_not_found_777") is not None
    assert issues.async_get_issue(DOMAIN, f"tunnel_not_found_{TUNNEL_ID}") is not None
    assert find_device(hass, "tunnel_777") is not None
    subentry_id = next(
        sid for sid, sub in config_entry.subentries.items() if sub.unique_id == "777"
    )
    assert hass.config_entries.async_remove_subentry(config_entry, subentry_id)
    await hass.async_block_till_done()
    assert find_device(hass, "tunnel_777") is None
    assert issues.async_get_issue(DOMAIN, "tunnel_not_found_777") is None
    assert issues.async_get_issue(DOMAIN, f"tunnel_not_found_{TUNNEL_ID}") is not None
    # Removing the router drops the rest.
    await hass.config_entries.async_remove(config_entry.entry_id)
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, f"tunnel_not_found_{TUNNEL_ID}") is None


async def test_without_override_requests_go_to_he(
    hass: HomeAssistant,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Updates go to HE's update host, tunnel information to its main host.

    No entry is set up: it would read the tunnel's information from HE itself at once.
    """
    monkeypatch.delenv(ENV_API_URL)
    create_he_client(hass)
    assert api_url(hass) == "https://ipv4.tunnelbroker.net"
    assert info_api_url(hass) == "https://tunnelbroker.net"
    assert ENV_API_URL not in caplog.text


async def test_override_serves_updates_and_tunnel_information(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
) -> None:
    """The developer override redirects both HE hosts to the same (simulated) server."""
    await setup_entry(hass, config_entry)
    assert api_url(hass) == info_api_url(hass) == he.url
    # The start's read of the tunnel information reached the simulator.
    assert [r.tunnel_id for r in he.info_requests] == [TUNNEL_ID]


# -- hostile and broken routers (issue #4, router side) ---------------------------------------

BAD_REPLY = "The router's answer could not be used: "
UNREACHABLE = "The router did not answer: "


@pytest.mark.parametrize(
    ("break_router", "reason"),
    [
        pytest.param(
            lambda igd: igd.set_fault(Fault.ENTITY_BOMB),
            f"{BAD_REPLY}.*refused XML with entity declarations",
            id="entity-bomb",
        ),
        pytest.param(
            lambda igd: igd.set_fault(Fault.EXTERNAL_ENTITY),
            f"{BAD_REPLY}.*refused XML with entity declarations",
            id="external-entity",
        ),
        pytest.param(
            lambda igd: igd.set_fault(Fault.HUGE_BODY),
            f"{BAD_REPLY}.*reply longer than the 262144 bytes read",
            id="huge",
        ),
        pytest.param(
            lambda igd: igd.set_fault(Fault.HUGE_BODY_ANNOUNCED),
            f"{BAD_REPLY}.*reply of 52428800 bytes",
            id="huge-announced",
        ),
        pytest.param(
            lambda igd: igd.set_fault(Fault.HTTP_404),
            f"{BAD_REPLY}.*Did not receive HTTP 200 but 404",
            id="http-404",
        ),
        pytest.param(
            lambda igd: igd.edit_description("</root>", ""),
            f"{BAD_REPLY}.*no element found",
            id="malformed",
        ),
        pytest.param(
            lambda igd: igd.edit_description(
                "WANIPConnection:2", "WANIPv6FirewallControl:1"
            ),
            f"{BAD_REPLY}.*no WAN service with GetExternalIPAddress",
            id="no-wan-service",
        ),
        pytest.param(
            lambda igd: igd.set_fault(Fault.HANG_UP),
            f"{UNREACHABLE}.*Server disconnected",
            id="hang-up",
        ),
        pytest.param(
            lambda igd: igd.set_external_ip("not-an-ip"),
            f"{BAD_REPLY}.*reported 'not-an-ip' as its external IPv4 address",
            id="address-not-an-ip",
        ),
    ],
)
async def test_broken_router_at_setup_is_retried_with_the_reason(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    config_entry: MockConfigEntry,
    break_router: Callable[[IgdSimulator], None],
    reason: str,
) -> None:
    """Setup is retried (the router may heal) and the entry says why, translated."""
    break_router(igd)
    await setup_entry(hass, config_entry)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert config_entry.reason is not None
    assert re.match(reason, config_entry.reason), config_entry.reason
    assert len(config_entry.reason) < 400
    assert igd.state.external_entity_fetches == 0
    assert he.requests == []


@pytest.fixture
async def running(
    hass: HomeAssistant, loaded: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> MockConfigEntry:
    """The loaded entry once the router's events are trusted: polled every 10 minutes."""
    await poll(hass, freezer)
    assert loaded.runtime_data.router.events_trusted
    return loaded


def _router_failures_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.WARNING and "tunnelbroker" in record.name
    ]


async def _fail_polls_then_heal(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    *,
    heal: Callable[[], Awaitable[None]],
    expected_error: str,
) -> None:
    """Poll a failing router three times, heal it, poll again; check what the user sees.

    The router's sensor is unavailable while it fails, the failure is logged once (with the
    translated reason), and the sensor comes back once the router answers properly again.
    """
    caplog.clear()
    for _ in range(3):
        await poll(hass, freezer, SAFETY_POLL_INTERVAL)
        assert hass.states.get(EXTERNAL_IP).state == STATE_UNAVAILABLE
    logged = _router_failures_logged(caplog)
    assert len(logged) == 1, logged
    assert expected_error in logged[0]
    await heal()
    await poll(hass, freezer, SAFETY_POLL_INTERVAL)
    assert hass.states.get(EXTERNAL_IP).state == WAN_IP
    assert len(_router_failures_logged(caplog)) == 1
    assert "data recovered" in caplog.text


@pytest.mark.parametrize(
    ("fault", "expected_error"),
    [
        (Fault.SOAP_FAULT, f"{BAD_REPLY}urn:schemas-upnp-org:service:WANIPConnection"),
        (Fault.MALFORMED_SOAP, f"{BAD_REPLY}urn:schemas-upnp-org:service:"),
        (Fault.ENTITY_BOMB, "refused XML with entity declarations"),
        (Fault.EXTERNAL_ENTITY, "refused XML with entity declarations"),
        (Fault.HUGE_BODY, "reply longer than the 65536 bytes read"),
        (Fault.HTTP_500, "status: 500"),
        (Fault.HTTP_404, "status: 404"),
        (Fault.HANG_UP, f"{UNREACHABLE}urn:schemas-upnp-org:service:"),
    ],
)
async def test_router_fault_mid_run_makes_it_unavailable_until_healed(
    hass: HomeAssistant,
    running: MockConfigEntry,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
    expected_error: str,
) -> None:
    assert hass.states.get(EXTERNAL_IP).state == WAN_IP
    igd.set_fault(fault)

    async def heal() -> None:
        igd.set_fault(Fault.NONE)

    await _fail_polls_then_heal(
        hass, freezer, caplog, heal=heal, expected_error=expected_error
    )
    assert running.state is ConfigEntryState.LOADED
    assert igd.state.external_entity_fetches == 0
    assert he.requests == []


async def test_router_unreachable_mid_run_recovers_when_back(
    hass: HomeAssistant,
    running: MockConfigEntry,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The router goes away (power cut) and comes back at the same address."""
    await igd.stop()

    async def heal() -> None:
        await igd.start(port=igd.port)

    await _fail_polls_then_heal(
        hass, freezer, caplog, heal=heal, expected_error=UNREACHABLE
    )
    assert he.requests == []


@pytest.mark.parametrize(
    ("break_router", "expected_error"),
    [
        (
            lambda igd: igd.set_external_ip("not-an-ip"),
            "reported 'not-an-ip' as its external IPv4 address",
        ),
        (
            lambda igd: igd.set_external_ip("2001:db8::1"),
            "reported '2001:db8::1' as its external IPv4 address",
        ),
        (
            lambda igd: setattr(igd.state, "connection_status", "Banana"),
            "reported 'Banana' as its connection status",
        ),
        (lambda igd: setattr(igd.state, "uptime", "forever"), "'forever'"),
    ],
)
async def test_wrong_value_types_mid_run(
    hass: HomeAssistant,
    running: MockConfigEntry,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    break_router: Callable[[IgdSimulator], None],
    expected_error: str,
) -> None:
    """A value of the wrong type is a bad reply: the External IP sensor is unavailable.

    Unavailable rather than unknown: the router answered, but nothing it said can be trusted
    (unknown stays for "the router says it has no address"). Nothing is sent to HE; once the
    router answers sensibly again, a real change of address is sent, once.
    """
    break_router(igd)

    async def heal() -> None:
        igd.state.connection_status = "Connected"
        igd.state.uptime = "3600"
        igd.set_external_ip(WAN_IP)

    await _fail_polls_then_heal(
        hass, freezer, caplog, heal=heal, expected_error=expected_error
    )
    assert he.requests == []
    await wan_change(hass, igd, freezer, "84.17.9.9")
    assert [request.myip for request in he.requests] == ["84.17.9.9"]


async def test_router_without_address_is_unknown_not_unavailable(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An empty address is the router saying it has none: the sensor is unknown, no update."""
    await wan_change(hass, igd, freezer, "")
    assert hass.states.get(EXTERNAL_IP).state == STATE_UNKNOWN
    await poll(hass, freezer, SAFETY_POLL_INTERVAL)
    assert he.requests == []
