"""Config flow against a broken or hostile router: form errors, never a crash, nothing sent to HE.

Kept apart from test_config_flow.py (the flows' own tests): every case here drives a router
fault through the simulated router and checks what the user is shown.
"""

from __future__ import annotations

from collections.abc import Callable

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tunnelbroker.const import (
    CONF_LOCATION,
    DOMAIN,
    SAFETY_POLL_INTERVAL,
)
from homeassistant.config_entries import SOURCE_SSDP, SOURCE_USER, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from simulators.he import HeSimulator
from simulators.igd import Fault, IgdSimulator

from .conftest import CREDENTIALS, WAN_IP, poll, ssdp_discovery
from .support.entity_ids import EXTERNAL_IP


def _serve_edited(igd: IgdSimulator, old: str, new: str) -> None:
    """Serve the description with `old` replaced, until serve_raw_description(None)."""
    igd.serve_raw_description(igd.description().replace(old, new))


BROKEN_DESCRIPTIONS = [
    pytest.param(
        lambda igd: igd.set_fault(Fault.ENTITY_BOMB),
        "invalid_description",
        id="entity-bomb",
    ),
    pytest.param(
        lambda igd: igd.set_fault(Fault.EXTERNAL_ENTITY),
        "invalid_description",
        id="external-entity",
    ),
    pytest.param(
        lambda igd: igd.set_fault(Fault.HUGE_BODY), "invalid_description", id="huge"
    ),
    pytest.param(
        lambda igd: igd.set_fault(Fault.HUGE_BODY_ANNOUNCED),
        "invalid_description",
        id="huge-announced",
    ),
    pytest.param(
        lambda igd: igd.set_fault(Fault.HTTP_404), "description_http_error", id="404"
    ),
    pytest.param(
        lambda igd: igd.set_fault(Fault.HTTP_500), "description_http_error", id="500"
    ),
    pytest.param(
        lambda igd: _serve_edited(igd, "</root>", ""),
        "invalid_description",
        id="malformed",
    ),
    pytest.param(
        lambda igd: igd.serve_raw_description(b"\xff\xfe<root/>"),
        "invalid_description",
        id="wrong-encoding",
    ),
    pytest.param(
        lambda igd: _serve_edited(igd, "WANIPConnection:2", "WANIPv6FirewallControl:1"),
        "no_wan_service",
        id="no-wan-service",
    ),
    pytest.param(
        lambda igd: _serve_edited(igd, "InternetGatewayDevice:2", "MediaRenderer:1"),
        "not_igd",
        id="not-igd",
    ),
    pytest.param(
        lambda igd: igd.set_fault(Fault.HANG_UP),
        "cannot_connect_router",
        id="hang-up",
    ),
]


def _heal(igd: IgdSimulator) -> None:
    igd.set_fault(Fault.NONE)
    igd.serve_raw_description(None)


@pytest.mark.parametrize(("break_router", "error"), BROKEN_DESCRIPTIONS)
async def test_manual_url_of_a_broken_router(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    break_router: Callable[[IgdSimulator], None],
    error: str,
) -> None:
    """The form shows the error and stays usable: once the router heals, setup goes on."""
    break_router(igd)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["step_id"] == "manual"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_LOCATION: igd.location}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "manual"
    # On the field, in its own words (an HTTP error names its status).
    assert result["errors"] == {CONF_LOCATION: error}
    if error == "description_http_error":
        status = result["description_placeholders"]["status"]
        assert status == ("404" if igd.state.fault is Fault.HTTP_404 else "500")
    assert igd.state.external_entity_fetches == 0
    assert he.requests == []

    _heal(igd)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_LOCATION: igd.location}
    )
    assert result["step_id"] == "tunnel"


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.ENTITY_BOMB, "invalid_description"),
        (Fault.HUGE_BODY, "invalid_description"),
        (Fault.HANG_UP, "cannot_connect_router"),
    ],
)
async def test_discovered_router_turns_hostile_before_confirm(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    fault: Fault,
    error: str,
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_SSDP}, data=ssdp_discovery(igd.location)
    )
    igd.set_fault(fault)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    assert result["errors"] == {"base": error}
    _heal(igd)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "tunnel"
    assert he.requests == []


@pytest.mark.parametrize(
    "break_router",
    [
        lambda igd: igd.set_external_ip("not-an-ip"),
        lambda igd: igd.set_external_ip("2001:db8::1"),
        lambda igd: igd.set_fault(Fault.ENTITY_BOMB),
    ],
)
async def test_tunnel_step_with_garbage_address_sends_nothing(
    hass: HomeAssistant,
    igd: IgdSimulator,
    he: HeSimulator,
    break_router: Callable[[IgdSimulator], None],
) -> None:
    """The router answers garbage when the tunnel is checked: no usable address, no update."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_SSDP}, data=ssdp_discovery(igd.location)
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "tunnel"
    break_router(igd)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], CREDENTIALS
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_read_wan_address"}
    assert he.requests == []
    igd.set_external_ip(WAN_IP)
    _heal(igd)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], CREDENTIALS
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert [request.myip for request in he.requests] == [WAN_IP]


async def test_router_at_a_new_address_is_followed_via_ssdp(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    igd: IgdSimulator,
    he: HeSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Mid-run the router reboots onto a new address (DHCP): unavailable until it announces it.

    test_config_flow.py checks the location update itself; this follows the user-visible
    outcome: the old address stops answering, SSDP brings the new one, the sensor is back,
    and HE is never asked (the WAN address did not change).
    """
    await poll(hass, freezer)  # events trusted: polled every 10 minutes from now on
    old_location = igd.location
    await igd.stop()
    new_location = await igd.start()  # any free port: a new LOCATION
    assert new_location != old_location
    await poll(hass, freezer, SAFETY_POLL_INTERVAL)
    assert hass.states.get(EXTERNAL_IP).state == STATE_UNAVAILABLE

    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_SSDP}, data=ssdp_discovery(new_location)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert loaded.data[CONF_LOCATION] == new_location
    assert loaded.state is ConfigEntryState.LOADED
    assert hass.states.get(EXTERNAL_IP).state == WAN_IP
    assert he.requests == []
