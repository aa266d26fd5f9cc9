"""The router client against the simulated router: three description shapes and its faults."""

from __future__ import annotations

import pytest

from custom_components.tunnelbroker.protocol.igd_client import (
    IgdClient,
    NotAnIgdError,
    NoWanServiceError,
    RouterConnectionError,
    RouterInfo,
    RouterReplyTooLargeError,
    RouterResponseError,
)
from custom_components.tunnelbroker.protocol.igd_transport import BoundedRequester
from simulators.igd import SECOND_WAN_IP, Fault, IgdSimulator, RouterShape
from tests.support.values import ROUTER_UDN, WAN_IP

WAN_SERVICE = "urn:schemas-upnp-org:service:WANIPConnection:2"


@pytest.mark.parametrize(
    ("shape", "wan_services", "model"),
    [
        (RouterShape.IGD1_WANIP, ["WANIPConnection:1"], "R7000"),
        (RouterShape.IGD1_WANPPP, ["WANPPPConnection:1"], "FRITZ!Box 7590"),
        (RouterShape.IGD2_MINIUPNPD, ["WANIPConnection:2"], "MiniUPnPd"),
        # Pretty-printed: line breaks and tabs inside types, UDNs and URLs.
        (RouterShape.FRITZBOX_7590, ["WANIPConnection:1"], "FRITZ!Box 7590"),
        # Two WANConnectionDevice:1, the first (internet) connected: it is found although
        # async-upnp-client's device tree keeps only the last (IPTV, no address).
        (
            RouterShape.DSL_TWO_CONNECTIONS,
            ["WANPPPConnection:1", "WANIPConnection:1"],
            "DVA-5592",
        ),
    ],
)
async def test_reads_wan_address_of_each_shape(
    requester: BoundedRequester,
    shape: RouterShape,
    wan_services: list[str],
    model: str,
) -> None:
    simulator = IgdSimulator(shape, udn=ROUTER_UDN, external_ip=WAN_IP)
    location = await simulator.start()
    types = [f"urn:schemas-upnp-org:service:{name}" for name in wan_services]
    try:
        client = await IgdClient.async_create(requester, location)
        assert client.info.udn == ROUTER_UDN
        assert client.info.model_name == model
        assert client.wan_service_types == types
        status = await client.async_get_wan_status()
        assert status.external_ip == WAN_IP
        assert status.connection_status == "Connected"
        assert status.service_type == types[0]
        simulator.set_external_ip("84.17.1.50")
        assert (await client.async_get_wan_status()).external_ip == "84.17.1.50"
        assert simulator.soap_requests["GetExternalIPAddress"] == 2
    finally:
        await simulator.stop()


async def test_bytes_that_are_not_utf8_in_a_reply(
    requester: BoundedRequester, igd: IgdSimulator
) -> None:
    """A model name in Latin-1 is read; an address that is not valid IPv4 stays an error."""
    igd.serve_raw_description(
        igd.description().replace("MiniUPnPd", "Mini\xfcPnPd").encode("latin-1")
    )
    client = await IgdClient.async_create(requester, igd.location)
    assert client.info.model_name == "Mini\ufffdPnPd"
    igd.set_external_ip("84.17.\xff.1")
    with pytest.raises(RouterResponseError, match="external IPv4 address"):
        await client.async_get_wan_status()
    # Bytes that are no UTF-8 at all in the reply (ASUS Merlin while the WAN is down).
    igd.state.external_ip_bytes = b"84.17.\xff\xfe.1"
    with pytest.raises(RouterResponseError, match="external IPv4 address"):
        await client.async_get_wan_status()
    igd.state.external_ip_bytes = None
    igd.set_external_ip(WAN_IP)
    assert (await client.async_get_wan_status()).external_ip == WAN_IP


async def test_the_standards_default_connection_of_a_multi_wan_router(
    requester: BoundedRequester,
) -> None:
    """Both uplinks are up and public: Layer3Forwarding's default (the second) is read."""
    simulator = IgdSimulator(RouterShape.MULTI_WAN, udn=ROUTER_UDN, external_ip=WAN_IP)
    location = await simulator.start()
    try:
        client = await IgdClient.async_create(requester, location)
        assert (await client.async_get_wan_status()).external_ip == SECOND_WAN_IP
        assert client.event_service.control_url.endswith("/upnp/control/WAN2")
        # Asked once, not on every read (events make reads the hot path of a change).
        await client.async_get_wan_status()
        assert simulator.soap_requests["GetDefaultConnectionService"] == 1
        # The default connection goes down: the other one serves, and the default is
        # asked for again at the next read.
        simulator.state.idle_services.add("/upnp/control/WAN2")
        assert (await client.async_get_wan_status()).external_ip == WAN_IP
        assert simulator.soap_requests["GetDefaultConnectionService"] == 1
        await client.async_get_wan_status()
        assert simulator.soap_requests["GetDefaultConnectionService"] == 2
    finally:
        await simulator.stop()


async def test_one_failed_read_is_asked_again(
    requester: BoundedRequester, igd: IgdSimulator
) -> None:
    """A busy DSL router's 501 Action Failed, once: the read still succeeds."""
    client = await IgdClient.async_create(requester, igd.location)
    igd.state.fail_next = 1
    status = await client.async_get_wan_status()
    assert (status.external_ip, status.connection_status) == (WAN_IP, "Connected")


@pytest.mark.parametrize("fault", [401, 500])
async def test_a_service_that_always_fails_gives_way_to_the_other(
    requester: BoundedRequester, fault: int
) -> None:
    """A gateway answering 401/500 on the wrong one of its two services (Netgear, FRITZ!)."""
    simulator = IgdSimulator(
        RouterShape.IGD1_DSL_DUAL, udn=ROUTER_UDN, external_ip=WAN_IP
    )
    location = await simulator.start()
    try:
        client = await IgdClient.async_create(requester, location)
        simulator.state.connection_faults["/upnp/control/WANIPConn1"] = fault
        status = await client.async_get_wan_status()
        assert status.service_type == "urn:schemas-upnp-org:service:WANPPPConnection:1"
        assert status.external_ip == WAN_IP
        # Every service failing is the router failing.
        simulator.state.connection_faults["/upnp/control/WANPPPConn1"] = fault
        with pytest.raises(RouterResponseError):
            await client.async_get_wan_status()
    finally:
        await simulator.stop()


async def test_disconnected_link_is_reported(
    requester: BoundedRequester, igd: IgdSimulator
) -> None:
    igd.state.connection_status = "Disconnected"
    igd.set_external_ip("0.0.0.0")
    client = await IgdClient.async_create(requester, igd.location)
    status = await client.async_get_wan_status()
    assert not status.connected
    assert status.external_ip == "0.0.0.0"


async def test_unreachable_router(
    requester: BoundedRequester, igd: IgdSimulator
) -> None:
    location = igd.location
    await igd.stop()
    with pytest.raises(RouterConnectionError):
        await IgdClient.async_create(requester, location)


async def test_description_error_status(
    requester: BoundedRequester, igd: IgdSimulator
) -> None:
    igd.set_fault(Fault.HTTP_500)
    with pytest.raises(RouterResponseError):
        await IgdClient.async_create(requester, igd.location)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault.SOAP_FAULT, r"upnp error: 501 \(Action Failed\)"),
        (Fault.MALFORMED_SOAP, "no element found"),
        (Fault.HTTP_500, "status: 500"),
    ],
)
async def test_broken_action_replies(
    requester: BoundedRequester, igd: IgdSimulator, fault: Fault, message: str
) -> None:
    client = await IgdClient.async_create(requester, igd.location)
    igd.set_fault(fault)
    with pytest.raises(RouterResponseError, match=message):
        await client.async_get_wan_status()


async def test_router_going_away_mid_run(
    requester: BoundedRequester, igd: IgdSimulator
) -> None:
    client = await IgdClient.async_create(requester, igd.location)
    await igd.stop()
    with pytest.raises(RouterConnectionError):
        await client.async_get_wan_status()


@pytest.mark.parametrize(
    ("old", "new", "error", "message"),
    [
        (
            "device:InternetGatewayDevice:2",
            "device:MediaRenderer:1",
            NotAnIgdError,
            "describes a urn:schemas-upnp-org:device:MediaRenderer:1",
        ),
        (
            "WANIPConnection:2",
            "WANIPv6FirewallControl:1",
            NoWanServiceError,
            "no WAN service with GetExternalIPAddress",
        ),
        ("</root>", "", RouterResponseError, "no element found"),
    ],
)
async def test_unusable_descriptions(
    requester: BoundedRequester,
    igd: IgdSimulator,
    old: str,
    new: str,
    error: type[Exception],
    message: str,
) -> None:
    igd.edit_description(old, new)
    with pytest.raises(error, match=message):
        await IgdClient.async_create(requester, igd.location)


async def test_dsl_router_with_both_services_uses_the_connected_one(
    requester: BoundedRequester,
) -> None:
    """A DSL router lists WANIPConnection (unused) and WANPPPConnection (the real link)."""
    simulator = IgdSimulator(
        RouterShape.IGD1_DSL_DUAL, udn=ROUTER_UDN, external_ip=WAN_IP
    )
    simulator.state.idle_services.add("WANIPConnection")
    location = await simulator.start()
    try:
        client = await IgdClient.async_create(requester, location)
        assert client.wan_service_types == [
            "urn:schemas-upnp-org:service:WANIPConnection:1",
            "urn:schemas-upnp-org:service:WANPPPConnection:1",
        ]
        status = await client.async_get_wan_status()
        assert status.service_type == "urn:schemas-upnp-org:service:WANPPPConnection:1"
        assert status.external_ip == WAN_IP
        assert status.connected
        # Both idle: the first service's answer comes back, flagged as not connected.
        simulator.state.idle_services.add("WANPPPConnection")
        status = await client.async_get_wan_status()
        assert not status.connected
        assert status.external_ip is None
    finally:
        await simulator.stop()


# -- hostile and broken routers ---------------------------------------------------------------
# Each fault is served by the simulator over real HTTP; the client must turn it into the right
# RouterError subclass with a message that says what went wrong, in a bounded amount of memory.

HOSTILE_FAULTS = [
    pytest.param(
        Fault.ENTITY_BOMB,
        RouterResponseError,
        "refused XML with entity declarations",
        id="entity-bomb",
    ),
    pytest.param(
        Fault.EXTERNAL_ENTITY,
        RouterResponseError,
        "refused XML with entity declarations",
        id="external-entity",
    ),
    pytest.param(Fault.HTTP_404, RouterResponseError, "404", id="http-404"),
    pytest.param(
        Fault.HANG_UP, RouterConnectionError, "Server disconnected", id="hang-up"
    ),
    pytest.param(
        Fault.HUGE_BODY, RouterReplyTooLargeError, "reply longer than", id="huge"
    ),
    pytest.param(
        Fault.HUGE_BODY_ANNOUNCED,
        RouterReplyTooLargeError,
        "reply of 52428800 bytes",
        id="huge-announced",
    ),
]


@pytest.mark.parametrize(("fault", "error", "message"), HOSTILE_FAULTS)
async def test_hostile_description(
    requester: BoundedRequester,
    igd: IgdSimulator,
    fault: Fault,
    error: type[Exception],
    message: str,
) -> None:
    igd.set_fault(fault)
    with pytest.raises(error, match=message) as caught:
        await IgdClient.async_create(requester, igd.location)
    assert len(str(caught.value)) < 300
    # The external entity (a URL on the simulator itself) was never fetched.
    assert igd.state.external_entity_fetches == 0


@pytest.mark.parametrize(("fault", "error", "message"), HOSTILE_FAULTS)
async def test_hostile_action_reply(
    requester: BoundedRequester,
    igd: IgdSimulator,
    fault: Fault,
    error: type[Exception],
    message: str,
) -> None:
    client = await IgdClient.async_create(requester, igd.location)
    igd.set_fault(fault)
    with pytest.raises(error, match=message) as caught:
        await client.async_get_wan_status()
    assert len(str(caught.value)) < 300
    assert igd.state.external_entity_fetches == 0


async def test_description_in_a_wrong_encoding(
    requester: BoundedRequester, igd: IgdSimulator
) -> None:
    """Bytes that are not UTF-8 are decoded leniently: here what is left is not XML."""
    igd.serve_raw_description(b"\xff\xfe<root/>")
    with pytest.raises(RouterResponseError, match="not well-formed"):
        await IgdClient.async_create(requester, igd.location)


@pytest.mark.parametrize(
    ("external_ip", "message"),
    [
        ("not-an-ip", "reported 'not-an-ip' as its external IPv4 address"),
        ("2001:db8::1", "reported '2001:db8::1' as its external IPv4 address"),
        ("84.17.0.300", "reported '84.17.0.300' as its external IPv4 address"),
        ("x" * 5000, "reported 'xxxx"),
    ],
)
async def test_external_address_of_the_wrong_type(
    requester: BoundedRequester, igd: IgdSimulator, external_ip: str, message: str
) -> None:
    """Anything but an IPv4 address (or nothing) is a bad reply, quoted briefly."""
    client = await IgdClient.async_create(requester, igd.location)
    igd.set_external_ip(external_ip)
    with pytest.raises(RouterResponseError, match=message) as caught:
        await client.async_get_wan_status()
    assert str(caught.value).startswith(WAN_SERVICE)
    assert len(str(caught.value)) < 300


async def test_empty_external_address_means_none(
    requester: BoundedRequester, igd: IgdSimulator
) -> None:
    """An empty tag is how routers say they have no WAN address: not an error."""
    client = await IgdClient.async_create(requester, igd.location)
    igd.set_external_ip("")
    status = await client.async_get_wan_status()
    assert status.external_ip is None
    assert status.connected


async def test_garbage_connection_status(
    requester: BoundedRequester, igd: IgdSimulator
) -> None:
    client = await IgdClient.async_create(requester, igd.location)
    igd.state.connection_status = "Banana"
    with pytest.raises(
        RouterResponseError, match="reported 'Banana' as its connection status"
    ):
        await client.async_get_wan_status()


async def test_garbage_in_a_typed_value(
    requester: BoundedRequester, igd: IgdSimulator
) -> None:
    """NewUptime is a ui4: async-upnp-client refuses 'forever', so does the client."""
    client = await IgdClient.async_create(requester, igd.location)
    igd.state.uptime = "forever"
    with pytest.raises(RouterResponseError, match="'forever'"):
        await client.async_get_wan_status()


async def test_router_back_after_going_away(
    requester: BoundedRequester, igd: IgdSimulator
) -> None:
    """A router that rebooted at the same address answers the same client again."""
    client = await IgdClient.async_create(requester, igd.location)
    await igd.stop()
    with pytest.raises(RouterConnectionError):
        await client.async_get_wan_status()
    await igd.start(port=igd.port)
    assert (await client.async_get_wan_status()).external_ip == WAN_IP


async def test_the_two_actions_are_asked_at_once(
    requester: BoundedRequester, igd: IgdSimulator
) -> None:
    """GetStatusInfo and GetExternalIPAddress together: a read-back costs one round trip."""
    client = await IgdClient.async_create(requester, igd.location)
    igd.state.action_delay = 0.05  # long enough for both to be in flight together
    await client.async_get_wan_status()
    assert igd.state.max_in_flight == 2


@pytest.mark.parametrize(
    ("manufacturer", "model_number", "model_id", "firmware"),
    [
        ("MiniUPnP", "2.3.1", None, "2.3.1"),  # miniupnpd: its version
        ("D-Link", "A1_WI_20180405", None, "A1_WI_20180405"),  # a firmware's build date
        ("AVM Berlin", "avm", None, None),  # FRITZ!Box: the vendor again
        ("D-Link", "DIR-655", "DIR-655", None),
        ("Actiontec", "GT784WN-01", "GT784WN-01", None),
        ("Ubiquiti", "UDM", "UDM", None),
        ("NETGEAR, Inc.", " ", None, None),
        ("NETGEAR, Inc.", None, None, None),
    ],
)
def test_model_number_is_a_model_or_a_firmware(
    manufacturer: str,
    model_number: str | None,
    model_id: str | None,
    firmware: str | None,
) -> None:
    info = RouterInfo(
        udn=ROUTER_UDN,
        device_type="urn:schemas-upnp-org:device:InternetGatewayDevice:1",
        friendly_name="Router",
        manufacturer=manufacturer,
        model_name="Model",
        model_number=model_number,
        serial_number=None,
        location="http://192.168.1.1:5000/rootDesc.xml",
    )
    assert (info.model_id, info.firmware_version) == (model_id, firmware)


@pytest.mark.parametrize(
    ("presentation_url", "admin_url"),
    [
        ("http://192.168.1.1/", "http://192.168.1.1/"),
        (
            "/",
            "http://192.168.1.1:5000/",
        ),  # relative: on the description's host and port
        ("https://192.168.1.1:8443/login", "https://192.168.1.1:8443/login"),
        ("\n\thttp://192.168.1.1\n", "http://192.168.1.1"),  # pretty-printed
        ("http://198.51.100.9/", None),  # another host: not the router's page
        ("ftp://192.168.1.1/", None),
        ("javascript:alert(1)", None),
        ("", None),
        (None, None),
    ],
)
def test_admin_url_only_on_the_router(
    presentation_url: str | None, admin_url: str | None
) -> None:
    info = RouterInfo(
        udn=ROUTER_UDN,
        device_type="urn:schemas-upnp-org:device:InternetGatewayDevice:1",
        friendly_name="Router",
        manufacturer="NETGEAR, Inc.",
        model_name="R7000",
        model_number="R7000",
        serial_number=None,
        location="http://192.168.1.1:5000/rootDesc.xml",
        presentation_url=presentation_url,
    )
    assert info.admin_url == admin_url
