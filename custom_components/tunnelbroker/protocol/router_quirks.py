"""Router quirks: what real firmwares send that async-upnp-client cannot read as it comes.

Add a router quirk here. What a firmware writes wrong in its description is a repair in
DESCRIPTION_REPAIRS, named after the firmware; what async-upnp-client's data model loses goes
into RouterFactory. simulators/igd.py (RouterShape) serves each firmware, to test it against.
No Home Assistant imports.
"""

from __future__ import annotations

from collections.abc import Callable
import logging
from typing import Final
from xml.etree import ElementTree as ET

from async_upnp_client.client import UpnpRequester, UpnpService
from async_upnp_client.const import HttpResponse
from async_upnp_client.exceptions import UpnpConnectionError, UpnpError
from defusedxml import DefusedXmlException
import defusedxml.ElementTree as DET

from .igd_transport import DEVICE_NS, BoundedFactory, RouterReplyTooLargeError

WAN_SERVICE_PREFIXES: Final = (
    "urn:schemas-upnp-org:service:WANIPConnection:",
    "urn:schemas-upnp-org:service:WANPPPConnection:",
)
_LOGGER = logging.getLogger(__name__)


def dlink_root_without_namespace(root: ET.Element) -> None:
    """Put a `<root>` without the UPnP namespace in it (some D-Link firmwares).

    async-upnp-client looks elements up by namespace, even when not strict.
    """
    for element in root.iter():
        if isinstance(element.tag, str) and not element.tag.startswith("{"):
            element.tag = f"{{{DEVICE_NS}}}{element.tag}"


# Description elements whose values never contain white space.
_NO_SPACE_TAGS: Final = frozenset(
    {
        "deviceType",
        "serviceType",
        "serviceId",
        "UDN",
        "SCPDURL",
        "controlURL",
        "eventSubURL",
        "URLBase",
        "presentationURL",
    }
)


def fritzbox_pretty_printed_values(root: ET.Element) -> None:
    """Take out line breaks and tabs pretty-printed into values (FRITZ!Box 7590).

    White space is removed from identifiers and URLs (a service type with a line break cannot
    go into SOAPAction) and trimmed from every other value.
    """
    for element in root.iter():
        if element.text is not None and len(element) == 0:
            local = element.tag.rpartition("}")[2]
            element.text = (
                "".join(element.text.split())
                if local in _NO_SPACE_TAGS
                else " ".join(element.text.split())
            )


# Each repairs the parsed description in place, in this order.
DESCRIPTION_REPAIRS: Final[tuple[Callable[[ET.Element], None], ...]] = (
    dlink_root_without_namespace,
    fritzbox_pretty_printed_values,
)


def repair_description(response: HttpResponse) -> HttpResponse:
    """Return the description as the UPnP standard writes it, whatever the firmware sent.

    A body that does not parse is passed on as it came, for async-upnp-client to refuse with
    its own error.
    """
    try:
        root = DET.fromstring(response.body or "")
    except (ET.ParseError, DefusedXmlException):
        return response
    for repair in DESCRIPTION_REPAIRS:
        repair(root)
    body = ET.tostring(root, encoding="unicode")
    return HttpResponse(response.status_code, response.headers, body)


# A WAN connection service whose SCPD does not load still has the standard's actions.
_STANDARD_WAN_SCPD: Final = """<scpd xmlns="urn:schemas-upnp-org:service-1-0">
<actionList>
<action><name>GetStatusInfo</name><argumentList>
<argument><name>NewConnectionStatus</name><direction>out</direction>
<relatedStateVariable>ConnectionStatus</relatedStateVariable></argument>
</argumentList></action>
<action><name>GetExternalIPAddress</name><argumentList>
<argument><name>NewExternalIPAddress</name><direction>out</direction>
<relatedStateVariable>ExternalIPAddress</relatedStateVariable></argument>
</argumentList></action>
</actionList>
<serviceStateTable>
<stateVariable sendEvents="yes"><name>ConnectionStatus</name><dataType>string</dataType></stateVariable>
<stateVariable sendEvents="yes"><name>ExternalIPAddress</name><dataType>string</dataType></stateVariable>
</serviceStateTable>
</scpd>"""


class RouterFactory(BoundedFactory):
    """async-upnp-client's factory, made to read every connection of real firmwares.

    The one place that works around async-upnp-client's data model (0.46-0.49):
    - UpnpDevice keeps embedded devices and services in dicts keyed by type, so of a DSL
      router's WANConnectionDevices (one per PVC/VLAN, as on the D-Link DVA-5592) or a
      multi-WAN router's only the last survives. Every service built is also kept here, in
      document order.
    - One service's SCPD that does not load (404, garbage) aborts the whole device. Here a
      WAN connection service then gets the standard's actions from its type alone, any other
      service none; a router that does not answer at all still fails as it should.
    Upstream, lists instead of the dicts (or `all_services` walking the XML) and a non-strict
    mode that skips a service whose SCPD fails would make this class unnecessary.
    """

    def __init__(self, requester: UpnpRequester) -> None:
        """Build devices with `requester`, reading descriptions as firmwares write them."""
        super().__init__(
            requester,
            non_strict=True,
            on_post_receive_device_spec=repair_description,
        )
        self.services: list[UpnpService] = []

    async def _async_create_service(  # type: ignore[override]
        self, service_description_el: ET.Element, base_url: str
    ) -> UpnpService | None:
        service = await super()._async_create_service(service_description_el, base_url)
        if service is not None:
            self.services.append(service)
        return service

    async def _async_get_service_spec(self, url: str) -> ET.Element:
        try:
            element = await super()._async_get_service_spec(url)
        except (UpnpConnectionError, RouterReplyTooLargeError):
            raise
        except UpnpError as err:
            _LOGGER.debug("%s (%s): SCPD not usable: %s", url, self._service_type, err)
        else:
            return element
        return self.scpd_not_fetched()

    def scpd_not_fetched(self) -> ET.Element:
        """Return a WAN service's standard actions, or none for any other service."""
        if self._service_type.startswith(WAN_SERVICE_PREFIXES):
            standard: ET.Element = DET.fromstring(_STANDARD_WAN_SCPD)
            return standard
        return super().scpd_not_fetched()
