"""The demo's control page, served by the real router simulator next to the real HE simulator."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
import re
from typing import Any

import aiohttp
import pytest

from custom_components.tunnelbroker.protocol.he_client import (
    TunnelCredentials,
    basic_authorization,
)
from simulators.control_page import (
    CHANGE_WAN_PATH,
    CONTROL_STATE_PATH,
    FALLBACK_WAN_IP,
    REFRESH_SECONDS,
    SHOWN_REQUESTS,
    TUNNEL_BROKEN,
    TUNNEL_PASSING,
    TUNNEL_PATH,
    add_control_page,
    next_wan_address,
)
from simulators.he import DNS_PATH_PREFIX, HeSimulator
from simulators.igd import IgdSimulator
from simulators.tunnel_switch import TunnelSwitch

from .conftest import TUNNEL_ID, UPDATE_KEY, USERNAME, WAN_IP

RECORD_NAME = "home.example.org"
RECORD_KEY = "dyn-R3cord-K3y"


@dataclass
class Demo:
    """Both simulators, as `python -m simulators` runs them, and an HTTP session."""

    router: IgdSimulator
    he: HeSimulator
    session: aiohttp.ClientSession
    # The tunnel switch's network: a private one (loopback only) unless a test adds to it.
    # Its sysctl is a file of the test's, never this machine's: the real one is written in
    # tests/test_simulators_private_network.py, inside a namespace of its own.
    sysctl: Path
    interfaces: list[str] = field(default_factory=lambda: ["lo"])

    async def page(self) -> str:
        async with self.session.get(f"{self.router.url}/") as response:
            assert response.status == 200
            assert response.content_type == "text/html"
            return await response.text()

    async def state(self) -> dict[str, Any]:
        """What the page's script fetches."""
        async with self.session.get(
            f"{self.router.url}{CONTROL_STATE_PATH}"
        ) as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-store"
            state: dict[str, Any] = await response.json()
            return state

    async def change_wan(self, external_ip: str = "") -> aiohttp.ClientResponse:
        async with self.session.post(
            f"{self.router.url}{CHANGE_WAN_PATH}", data={"external_ip": external_ip}
        ) as response:
            await response.read()
            return response

    async def he_update(self, myip: str, update_key: str = UPDATE_KEY) -> str:
        async with self.session.get(
            f"{self.he.url}/nic/update",
            params={"hostname": TUNNEL_ID, "myip": myip},
            headers={
                "Authorization": TunnelCredentials(
                    USERNAME, update_key, TUNNEL_ID
                ).authorization()
            },
        ) as response:
            return await response.text()

    async def dns_update(self, myip: str) -> str:
        async with self.session.get(
            f"{self.he.url}{DNS_PATH_PREFIX}/nic/update",
            params={"hostname": RECORD_NAME, "myip": myip},
            headers={"Authorization": basic_authorization(RECORD_NAME, RECORD_KEY)},
        ) as response:
            return await response.text()

    async def switch_tunnel(self, broken: str) -> aiohttp.ClientResponse:
        async with self.session.post(
            f"{self.router.url}{TUNNEL_PATH}", data={"broken": broken}
        ) as response:
            await response.read()
            return response


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncGenerator[Demo]:
    router = IgdSimulator(external_ip=WAN_IP)
    he = HeSimulator()
    he.add_tunnel(USERNAME, TUNNEL_ID, UPDATE_KEY)
    he.add_record(RECORD_NAME, RECORD_KEY)
    sysctl = tmp_path / "echo_ignore_all"
    sysctl.write_text("0\n")
    interfaces = ["lo"]
    add_control_page(router, he, TunnelSwitch(sysctl, lambda: list(interfaces)))
    await he.start()
    await router.start()
    async with aiohttp.ClientSession() as session:
        yield Demo(router, he, session, sysctl, interfaces)
    await router.stop()
    await he.stop()


def _cell(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}">([^<]*)<', page)
    assert match, element_id
    return match.group(1)


def _script(page: str) -> str:
    """The page's own (only) script."""
    assert page.count("<script") == 1
    return page.split("<script>\n", 1)[1].split("</script>", 1)[0]


def _request_rows(page: str, table_id: str = "he-requests") -> list[list[str]]:
    table = page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    return [
        re.findall(r"<td>([^<]*)</td>", row)
        for row in body.split("</tr>")
        if "<td>" in row
    ]


async def test_page_shows_router_state_and_form(demo: Demo) -> None:
    page = await demo.page()

    assert _cell(page, "wan-address") == WAN_IP
    assert _cell(page, "connection-status") == "Connected"
    assert demo.router.location in page
    assert f'<form method="post" action="{CHANGE_WAN_PATH}">' in page
    assert "Change WAN address</button>" in page
    assert "84.17.0.11" in page  # what an empty form changes to
    assert _request_rows(page) == []
    assert _cell(page, "request-count") == "0"
    assert f"<td>{TUNNEL_ID}</td><td>-</td>" in page  # HE holds no endpoint yet
    assert _request_rows(page, "he-records") == [[RECORD_NAME, "-", "-"]]
    assert _cell(page, "dns-request-count") == "0"


async def test_page_refreshes_itself_from_the_state_it_polls(demo: Demo) -> None:
    """The script polls CONTROL_STATE_PATH and fills in what the page shows, field by field."""
    await demo.he_update("84.17.0.20")
    page = await demo.page()
    script = _script(page)
    state = await demo.state()

    assert f'fetch("{CONTROL_STATE_PATH}"' in script
    assert f"setInterval(refresh, {round(REFRESH_SECONDS * 1000)})" in script
    assert 1 <= REFRESH_SECONDS <= 2
    assert "innerHTML" not in script  # values go in as text, never as markup
    assert "://" not in script  # its own simulator only, no external resource
    # Every field the script reads is in the state, and every element it fills is on the page.
    read = set(re.findall(r"\bstate\.(\w+)", script))
    assert read == set(state)
    for element_id in re.findall(r'(?:byId|fillRows)\("([\w-]+)"', script):
        assert f'id="{element_id}"' in page, element_id
    # The state holds what the page shows.
    assert state["wan_address"] == _cell(page, "wan-address") == WAN_IP
    assert state["connection_status"] == _cell(page, "connection-status")
    assert state["next_wan_address"] == _cell(page, "next-wan-address") == "84.17.0.11"
    assert str(state["request_count"]) == _cell(page, "request-count") == "1"
    assert state["tunnels"] == _request_rows(page, "he-tunnels")
    assert state["tunnels"] == [[TUNNEL_ID, "84.17.0.20"]]
    assert state["requests"] == _request_rows(page)
    assert state["requests"][0][2:] == [TUNNEL_ID, "84.17.0.20", "good 84.17.0.20"]
    assert state["records"] == _request_rows(page, "he-records")
    assert str(state["dns_request_count"]) == _cell(page, "dns-request-count")


async def test_records_show_what_dns_updates_set(demo: Demo) -> None:
    """Each name with what its A and AAAA records hold, and how many DNS updates came."""
    assert await demo.dns_update("84.17.0.20") == "good 84.17.0.20"
    assert await demo.dns_update("2001:470:1f0b:e240::10") == (
        "good 2001:470:1f0b:e240::10"
    )
    assert await demo.dns_update("10.0.0.1") == "badip"

    page = await demo.page()
    state = await demo.state()

    row = [RECORD_NAME, "84.17.0.20", "2001:470:1f0b:e240::10"]
    assert _request_rows(page, "he-records") == [row]
    assert state["records"] == [row]
    assert _cell(page, "dns-request-count") == "3"
    assert state["dns_request_count"] == 3
    assert state["request_count"] == 0  # tunnel updates are counted apart
    assert RECORD_KEY not in page


async def test_state_follows_a_change_and_the_he_request_after_it(demo: Demo) -> None:
    """What a page opened before the change shows on its next poll, without a reload."""
    await demo.page()
    demo.router.set_external_ip("84.17.3.4")  # e.g. curl .../sim/state, or another tab
    assert (await demo.state())["wan_address"] == "84.17.3.4"
    assert (await demo.state())["next_wan_address"] == "84.17.3.5"

    await demo.he_update("84.17.3.4")  # the integration's update, a moment later

    state = await demo.state()
    assert state["request_count"] == 1
    assert state["requests"][0][2:] == [TUNNEL_ID, "84.17.3.4", "good 84.17.3.4"]
    assert state["tunnels"] == [[TUNNEL_ID, "84.17.3.4"]]


async def test_button_changes_to_the_next_address(demo: Demo) -> None:
    response = await demo.change_wan()

    # The browser is sent back to the page (POST-redirect-GET), which shows the new address.
    assert response.history[0].status == 303
    assert response.url.path == "/"
    assert demo.router.state.external_ip == "84.17.0.11"
    page = await response.text()  # the page the redirect led to
    assert _cell(page, "wan-address") == "84.17.0.11"
    assert _cell(page, "next-wan-address") == "84.17.0.12"
    assert CONTROL_STATE_PATH in _script(page)  # and it keeps itself current from there
    async with demo.session.get(f"{demo.router.url}/sim/state") as state:
        assert (await state.json())["external_ip"] == "84.17.0.11"


async def test_typed_address_is_used(demo: Demo) -> None:
    await demo.change_wan(
        " 10.0.0.7 "
    )  # a NAT address, to show the integration's refusal

    assert _cell(await demo.page(), "wan-address") == "10.0.0.7"


async def test_he_requests_newest_first_without_the_key(demo: Demo) -> None:
    assert await demo.he_update("84.17.0.20") == "good 84.17.0.20"
    assert await demo.he_update("84.17.0.20") == "nochg 84.17.0.20"
    assert await demo.he_update("84.17.0.21", update_key="wrong") == "badauth"

    page = await demo.page()

    rows = _request_rows(page)
    assert [(r[0], r[2], r[3], r[4]) for r in rows] == [
        ("3", TUNNEL_ID, "84.17.0.21", "badauth"),
        ("2", TUNNEL_ID, "84.17.0.20", "nochg 84.17.0.20"),
        ("1", TUNNEL_ID, "84.17.0.20", "good 84.17.0.20"),
    ]
    assert all(r[1].endswith(" s ago") for r in rows)
    assert _cell(page, "request-count") == "3"
    assert f"<td>{TUNNEL_ID}</td><td>84.17.0.20</td>" in page
    assert UPDATE_KEY not in page
    assert "wrong" not in page


async def test_only_the_last_requests_are_listed(demo: Demo) -> None:
    for n in range(SHOWN_REQUESTS + 2):
        await demo.he_update(f"84.17.1.{n + 1}")

    rows = _request_rows(await demo.page())

    assert [r[0] for r in rows] == [str(n) for n in range(SHOWN_REQUESTS + 2, 2, -1)]


async def test_forced_http_error_is_shown_as_status(demo: Demo) -> None:
    demo.he.force_reply("911", status=500)
    await demo.he_update("84.17.0.20")

    assert _request_rows(await demo.page())[0][4] == "HTTP 500 911"


async def test_everything_shown_is_escaped(demo: Demo) -> None:
    demo.router.friendly_name = "<b>Router</b>"
    demo.router.state.connection_status = '"Up" & <i>running</i>'
    demo.he.force_reply("<script>alert(1)</script>")
    await demo.he_update("<img src=x>")
    await demo.change_wan("<script>x</script>")

    page = await demo.page()
    state = await demo.state()

    assert page.count("<script") == 1  # the page's own, at the end
    page = page.split("<script>", 1)[0]
    assert "<script>" not in page
    assert "<img" not in page
    assert "<b>Router" not in page
    assert "<title>&lt;b&gt;Router&lt;/b&gt;</title>" in page
    assert _cell(page, "wan-address") == "&lt;script&gt;x&lt;/script&gt;"
    assert _cell(page, "connection-status") == (
        "&quot;Up&quot; &amp; &lt;i&gt;running&lt;/i&gt;"
    )
    row = _request_rows(page)[0]
    assert row[3] == "&lt;img src=x&gt;"
    assert row[4] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    # The state is JSON, as it is: the script shows it as text.
    assert state["wan_address"] == "<script>x</script>"
    assert state["requests"][0][3:] == ["<img src=x>", "<script>alert(1)</script>"]


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("84.17.0.10", "84.17.0.11"),
        ("84.17.0.255", "84.17.1.0"),
        (" 84.17.1.2 ", "84.17.1.3"),
        ("9.255.255.255", FALLBACK_WAN_IP),  # 10.0.0.0 is private
        ("223.255.255.255", FALLBACK_WAN_IP),  # 224.0.0.0 is multicast
        ("255.255.255.255", FALLBACK_WAN_IP),  # no next address
        ("", FALLBACK_WAN_IP),
        ("<script>", FALLBACK_WAN_IP),
    ],
)
def test_next_wan_address(current: str, expected: str) -> None:
    assert next_wan_address(current) == expected


async def test_tunnel_breaks_and_mends_in_a_private_network(demo: Demo) -> None:
    """Loopback only: the switch silences echoes (echo_ignore_all) and lets them through again."""
    page = await demo.page()
    assert _cell(page, "tunnel-state") == TUNNEL_PASSING
    assert f'<form method="post" action="{TUNNEL_PATH}">' in page
    assert 'value="1">Break the tunnel</button>' in page  # enabled
    assert 'value="0">Mend the tunnel</button>' in page
    assert "press Check tunnel" in _cell(page, "tunnel-note")

    response = await demo.switch_tunnel("1")

    assert response.history[0].status == 303  # back to the page, which says so
    assert _cell(await response.text(), "tunnel-state") == TUNNEL_BROKEN
    assert demo.sysctl.read_text() == "1\n"
    assert (await demo.state())["tunnel"] == TUNNEL_BROKEN

    await demo.switch_tunnel("0")

    assert demo.sysctl.read_text() == "0\n"
    assert (await demo.state())["tunnel"] == TUNNEL_PASSING


async def test_tunnel_cannot_be_broken_in_a_shared_network(demo: Demo) -> None:
    """Another interface beside loopback: this machine's network, where ::1 is everyone's."""
    demo.interfaces.append("eth0")

    page = await demo.page()
    response = await demo.switch_tunnel("1")

    assert 'value="1" disabled>Break the tunnel</button>' in page
    assert 'value="0" disabled>Mend the tunnel</button>' in page
    note = _cell(page, "tunnel-note")
    assert note.startswith("The tunnel cannot be broken here: ")
    assert "(eth0)" in note
    assert "private network" in note
    assert response.status == 409
    assert "(eth0)" in await response.text()
    assert demo.sysctl.read_text() == "0\n"  # untouched
    assert (await demo.state())["tunnel"] == TUNNEL_PASSING


async def test_tunnel_switch_without_ipv6_says_so(demo: Demo) -> None:
    demo.sysctl.unlink()  # a kernel with IPv6 switched off has no such setting

    response = await demo.switch_tunnel("1")

    assert response.status == 409
    assert "IPv6 switched off" in await response.text()
    assert "IPv6 switched off" in _cell(await demo.page(), "tunnel-note")
    assert (await demo.state())["tunnel"] == TUNNEL_PASSING


async def test_tunnel_switch_that_cannot_be_written_says_why(demo: Demo) -> None:
    demo.sysctl.unlink()
    demo.sysctl.mkdir()  # exists, but writing it fails as a read-only /proc/sys would

    response = await demo.switch_tunnel("1")

    assert response.status == 409
    assert f"cannot write {demo.sysctl}" in await response.text()


@pytest.mark.parametrize("broken", ["", "yes", "2"])
async def test_tunnel_switch_takes_only_break_or_mend(demo: Demo, broken: str) -> None:
    response = await demo.switch_tunnel(broken)

    assert response.status == 400
    assert demo.sysctl.read_text() == "0\n"
