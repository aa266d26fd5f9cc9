"""Real firmwares' shapes, as a user meets them: set up in the config flow, then running.

Each shape of the simulated router (simulators/igd.py, RouterShape) is added by description
URL through the user flow, the entry runs, the WAN address shows, a change reaches HE, and the
router's events come from the connection that is read.
"""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
import pytest

from custom_components.tunnelbroker.const import (
    CONF_LOCATION,
    CONF_TUNNEL_ID,
    CONF_UPDATE_KEY,
    DOMAIN,
    INITIAL_EVENT_TIMEOUT,
    SAFETY_POLL_INTERVAL,
)
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from simulators.he import HeSimulator
from simulators.igd import SECOND_WAN_IP, IgdSimulator, RouterShape

from .conftest import TUNNEL_ID, UPDATE_KEY, USERNAME, WAN_IP, poll, wan_change

CREDENTIALS = {
    CONF_USERNAME: USERNAME,
    CONF_UPDATE_KEY: UPDATE_KEY,
    CONF_TUNNEL_ID: TUNNEL_ID,
}
EXTERNAL_IP = "sensor.simulated_router_external_ip_address"
NEW_IP = "84.17.9.9"


async def _add_in_the_flow(hass: HomeAssistant, igd: IgdSimulator) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["step_id"] == "manual"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_LOCATION: igd.location}
    )
    assert result["step_id"] == "tunnel", result.get("errors")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], CREDENTIALS
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await hass.async_block_till_done()
    (entry,) = hass.config_entries.async_entries(DOMAIN)
    assert entry.state is ConfigEntryState.LOADED


async def _past_the_initial_event_wait(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Let the wait for the router's initial NOTIFY end: events are trusted, or not."""
    await poll(hass, freezer, INITIAL_EVENT_TIMEOUT + timedelta(seconds=1))


@pytest.mark.parametrize(
    ("igd", "address", "event_url"),
    [
        (RouterShape.FRITZBOX_7590, WAN_IP, "/igdupnp/control/WANIPConn1"),
        (RouterShape.DSL_TWO_CONNECTIONS, WAN_IP, "/upnp/event/WANPPPConn1"),
        (RouterShape.MULTI_WAN, SECOND_WAN_IP, "/upnp/event/WAN2"),
        (RouterShape.IGD1_DSL_DUAL, WAN_IP, "/upnp/control/WANPPPConn1"),
        (RouterShape.LIVEBOX_4, WAN_IP, "/igdupnp/control/WANPPPConn1"),
        (RouterShape.ACTIONTEC_GT784WN, WAN_IP, "/upnp:event/WANPPPConn:1"),
        (RouterShape.DLINK_DIR_890L, WAN_IP, "/gena.cgi?service=WANIPConn1"),
        (RouterShape.DLINK_DIR_655, WAN_IP, "/WANIPConnection"),
        (RouterShape.IGD2_MINIUPNPD, WAN_IP, "/evt/IPConn"),
    ],
    indirect=["igd"],
)
async def test_shape_through_the_flow_and_running(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
    address: str,
    event_url: str,
) -> None:
    if igd.shape is RouterShape.IGD1_DSL_DUAL:
        igd.state.idle_services.add("WANIPConnection")  # PPPoE is the link
    await _add_in_the_flow(hass, igd)
    assert hass.states.get(EXTERNAL_IP).state == address
    assert [r.myip for r in he.requests] == [address]  # the flow's check
    assert [s.event_url for s in igd.gena.subscriptions.values()] == [event_url]

    igd.state.connection_ips.pop("/upnp/control/WAN2", None)  # the uplinks agree now
    await wan_change(hass, igd, freezer, NEW_IP)
    assert hass.states.get(EXTERNAL_IP).state == NEW_IP


async def test_a_transient_fault_at_setup_is_not_shown(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator
) -> None:
    """One 501 Action Failed while the flow reads the address: the user sees no error."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_LOCATION: igd.location}
    )
    igd.state.fail_next = 1
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], CREDENTIALS
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    assert [r.myip for r in he.requests] == [WAN_IP]


async def test_a_transient_fault_mid_run_keeps_the_router_available(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    await _add_in_the_flow(hass, igd)
    await _past_the_initial_event_wait(hass, freezer)
    igd.state.fail_next = 1
    await poll(hass, freezer, SAFETY_POLL_INTERVAL)
    assert igd.state.fail_next == 0  # the poll met the fault
    assert hass.states.get(EXTERNAL_IP).state == WAN_IP


@pytest.mark.parametrize("igd", [RouterShape.MULTI_WAN], indirect=True)
async def test_events_follow_when_the_default_uplink_goes_down(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The default uplink goes down: the other is read, and its events are followed."""
    await _add_in_the_flow(hass, igd)
    assert [s.event_url for s in igd.gena.subscriptions.values()] == [
        "/upnp/event/WAN2"
    ]
    await _past_the_initial_event_wait(hass, freezer)
    igd.state.idle_services.add("/upnp/control/WAN2")
    await poll(hass, freezer, SAFETY_POLL_INTERVAL)
    assert hass.states.get(EXTERNAL_IP).state == WAN_IP
    assert [s.event_url for s in igd.gena.subscriptions.values()] == [
        "/upnp/event/WAN1"
    ]


def _no_events(igd: IgdSimulator, how: str) -> None:
    gena = igd.gena
    if how.startswith("refused-"):
        gena.refuse, gena.refuse_status = True, int(how.removeprefix("refused-"))
    elif how == "no-sid":
        gena.omit_sid = True
    else:
        gena.drop_notifies = True  # accepted, but no NOTIFY ever arrives


@pytest.mark.parametrize("how", ["refused-412", "refused-500", "no-sid", "no-notify"])
@pytest.mark.parametrize(
    "igd",
    [
        RouterShape.IGD2_MINIUPNPD,
        RouterShape.FRITZBOX_7590,
        RouterShape.DSL_TWO_CONNECTIONS,
        RouterShape.MULTI_WAN,
        RouterShape.LIVEBOX_4,
    ],
    indirect=True,
)
async def test_no_events_falls_back_to_polling_and_never_fails_setup(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
    how: str,
) -> None:
    """Technicolor's 412, a DSL router's 500, no SID, a firewall eating every NOTIFY."""
    _no_events(igd, how)
    await _add_in_the_flow(hass, igd)
    await _past_the_initial_event_wait(hass, freezer)
    (entry,) = hass.config_entries.async_entries(DOMAIN)
    assert not entry.runtime_data.router.subscribed
    igd.state.connection_ips.clear()  # one address for every uplink
    igd.set_external_ip(NEW_IP)
    await poll(hass, freezer)  # found by the 30-second poll
    assert hass.states.get(EXTERNAL_IP).state == NEW_IP
