"""Real firmwares' shapes, as a user meets them: set up in the config flow, then running.

Each shape of the simulated router (simulators/igd.py, RouterShape) is added by description
URL through the user flow, the entry runs, the WAN address shows, a change reaches HE, and the
router's events come from the connection that is read.
"""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.tunnelbroker.const import (
    AUTOMATIC_CONNECTION,
    CONF_AUTOMATIC_UPDATE,
    CONF_LOCATION,
    CONF_WAN_CONNECTION,
    DOMAIN,
    INITIAL_EVENT_TIMEOUT,
    SAFETY_POLL_INTERVAL,
)
from custom_components.tunnelbroker.protocol.update_policy import MIN_UPDATE_INTERVAL
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from simulators.he import HeSimulator
from simulators.igd import SECOND_WAN_IP, IgdSimulator, RouterShape

from .conftest import CREDENTIALS, ROUTER_UDN, WAN_IP, poll, setup_entry, wan_change
from .support.entity_ids import EXTERNAL_IP

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


WAN1_KEY = f"{ROUTER_UDN}-wanconn1#urn:upnp-org:serviceId:WANIPConn1"


@pytest.mark.parametrize("igd", [RouterShape.MULTI_WAN], indirect=True)
async def test_the_user_picks_the_uplink_of_a_multi_wan_router(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Both uplinks public: the standard's choice first; the options read the other one."""
    await _add_in_the_flow(hass, igd)
    assert hass.states.get(EXTERNAL_IP).state == SECOND_WAN_IP
    (entry,) = hass.config_entries.async_entries(DOMAIN)

    result = await hass.config_entries.options.async_init(entry.entry_id)
    (field,) = [k for k in result["data_schema"].schema if k == CONF_WAN_CONNECTION]
    assert field.default() == AUTOMATIC_CONNECTION
    choices = result["data_schema"].schema[field].config["options"]
    assert [c["label"] for c in choices] == [
        AUTOMATIC_CONNECTION,  # translated: selector.wan_connection.options.automatic
        f"WANConnectionDevice WAN1 (WANIPConnection): {WAN_IP}, Connected",
        f"WANConnectionDevice WAN2 (WANIPConnection): {SECOND_WAN_IP}, Connected",
    ]
    assert choices[1]["value"] == WAN1_KEY
    # A key that is none of the router's connections is refused by the form.
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_AUTOMATIC_UPDATE: True, CONF_WAN_CONNECTION: "x"}
        )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_AUTOMATIC_UPDATE: True, CONF_WAN_CONNECTION: WAN1_KEY}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    # Reloaded: uplink 1 is read and followed, and its address goes to HE.
    assert hass.states.get(EXTERNAL_IP).state == WAN_IP
    assert [s.event_url for s in igd.gena.subscriptions.values()] == [
        "/upnp/event/WAN1"
    ]
    # The setup flow's update (of uplink 2's address) started the minimum interval.
    await poll(hass, freezer, MIN_UPDATE_INTERVAL)
    assert he.requests[-1].myip == WAN_IP
    # The pick holds while it is down: the other uplink's address is not sent.
    count = len(he.requests)
    igd.state.idle_services.add("/upnp/control/WAN1")
    await poll(hass, freezer, SAFETY_POLL_INTERVAL)
    assert hass.states.get(EXTERNAL_IP).state == "unknown"
    assert len(he.requests) == count

    # Diagnostics list every connection, with its state and no address.
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert [
        (c["device_name"], c["status"]["connection_status"], c["status"]["external_ip"])
        for c in diagnostics["wan_connections"]
    ] == [
        ("WANConnectionDevice WAN1", "Disconnected", None),
        ("WANConnectionDevice WAN2", "Connected", "**REDACTED**"),
    ]
    assert diagnostics["wan_connection_read"].endswith("/upnp/control/WAN1")


@pytest.mark.parametrize("igd", [RouterShape.MULTI_WAN], indirect=True)
async def test_a_chosen_uplink_that_is_gone_falls_back_to_automatic(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    igd: IgdSimulator,
    he: HeSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The router was reconfigured: the uplink chosen is gone; the standard's is read."""
    entry = config_entry
    await setup_entry(hass, entry, {CONF_WAN_CONNECTION: f"{ROUTER_UDN}-wanconn9#gone"})
    assert hass.states.get(EXTERNAL_IP).state == SECOND_WAN_IP
    assert "no longer has the WAN connection chosen in the options" in caplog.text
    # An uplink that does not answer is still offered, without a state.
    igd.state.connection_faults["/upnp/control/WAN1"] = 500
    result = await hass.config_entries.options.async_init(entry.entry_id)
    choices = result["data_schema"].schema[CONF_WAN_CONNECTION].config["options"]
    assert choices[1]["label"] == "WANConnectionDevice WAN1 (WANIPConnection)"


async def test_one_connection_offers_no_choice(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator
) -> None:
    await _add_in_the_flow(hass, igd)
    (entry,) = hass.config_entries.async_entries(DOMAIN)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert CONF_WAN_CONNECTION not in result["data_schema"].schema


@pytest.mark.parametrize("igd", [RouterShape.MULTI_WAN], indirect=True)
async def test_an_unloaded_entry_offers_no_choice(
    hass: HomeAssistant, igd: IgdSimulator, he: HeSimulator
) -> None:
    """The connections are read from the running router; not running, the rest is shown."""
    await _add_in_the_flow(hass, igd)
    (entry,) = hass.config_entries.async_entries(DOMAIN)
    await hass.config_entries.async_unload(entry.entry_id)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert CONF_WAN_CONNECTION not in result["data_schema"].schema
    assert CONF_AUTOMATIC_UPDATE in result["data_schema"].schema


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
        RouterShape.ACTIONTEC_GT784WN,
        RouterShape.DLINK_DIR_890L,
        RouterShape.DLINK_DIR_655,
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
    assert not entry.runtime_data.router.events_trusted
    igd.state.connection_ips.clear()  # one address for every uplink
    igd.set_external_ip(NEW_IP)
    await poll(hass, freezer)  # found by the 30-second poll
    assert hass.states.get(EXTERNAL_IP).state == NEW_IP
