"""The demo, end to end, in a real browser: Debian's chromium driven by Playwright.

The test starts what `scripts/develop` starts -- the simulated router and HE server
(`python -m simulators`) and a real `hass` with the frontend, pointed at the simulated HE -- each
on a free loopback port, onboards hass through its REST API, then does in the browser what a user
does: log in, add the integration by description URL with the demo tunnel's credentials, open the
router's and the tunnel's device pages, press "Change WAN address" on the simulator's control page,
and watch both pages follow. The screenshots it takes are the README's (docs/screenshots/).

The browser reaches loopback only: every other request (the frontend's brand icons from
brands.home-assistant.io) is aborted, except this integration's own icon, answered from
custom_components/tunnelbroker/brand/ as Home Assistant 2026.3+ serves it.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
import json
from pathlib import Path
import subprocess
import sys
from typing import Any
import urllib.request

from playwright.sync_api import (
    Browser,
    Error as PlaywrightError,
    Page,
    Route,
    expect,
    sync_playwright,
)
import pytest

from simulators.__main__ import DEMO_TUNNEL_ID, DEMO_UPDATE_KEY, DEMO_USERNAME
from tests.support.hass_process import HassProcess, free_loopback_port

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
BRAND_ICON = REPO / "custom_components" / "tunnelbroker" / "brand" / "icon.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INTEGRATION_NAME = "Hurricane Electric Tunnelbroker"
FIRST_WAN_IP = "84.17.0.10"  # python -m simulators' default
NEXT_WAN_IP = "84.17.0.11"  # what the control page's button changes it to
UI_TIMEOUT_MS = (
    60_000  # hass and chromium share two busy cores: generous, never a measure
)
# The browser may fetch from loopback only.
LOOPBACK_PREFIXES = ("http://127.0.0.1:", "ws://127.0.0.1:")


@dataclass
class Simulators:
    """`python -m simulators`, as scripts/develop runs it, on free loopback ports."""

    process: subprocess.Popen[str]
    location: str  # the router's description URL
    control_page: str
    he_url: str

    def he_requests(self) -> list[dict[str, Any]]:
        """The update requests the simulated HE received, oldest first."""
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with no_proxy.open(f"{self.he_url}/sim/state", timeout=10) as response:
            return list(json.load(response)["requests"])


@pytest.fixture
def simulators() -> Generator[Simulators]:
    router_port, he_port = free_loopback_port(), free_loopback_port()
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "simulators",
            "--router-port",
            str(router_port),
            "--he-port",
            str(he_port),
        ],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(3)]
    try:
        assert lines[0].startswith("router description URL: "), lines
        assert lines[1].startswith("router control page: "), lines
        assert lines[2].startswith("HE API URL: "), lines
        yield Simulators(
            process=process,
            location=lines[0].split(": ", 1)[1].strip(),
            control_page=lines[1].split(": ", 1)[1].strip(),
            he_url=lines[2].split(": ", 1)[1].split()[0],
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


@pytest.fixture
def demo_hass(simulators: Simulators, tmp_path: Path) -> Generator[HassProcess]:
    """Home Assistant with its frontend, onboarded through the API, pointed at the simulated HE."""
    with HassProcess(
        tmp_path / "hass-config",
        frontend=True,
        env={"TUNNELBROKER_API_URL": simulators.he_url},
    ) as hass:
        hass.onboard()
        hass.wait_running()
        yield hass
        log = hass.log_text() + hass.output_path.read_text(errors="replace")
        assert DEMO_UPDATE_KEY not in log, "the update key is in hass's log"


@pytest.fixture
def browser() -> Generator[Browser]:
    """Debian's chromium, headless, through Playwright; fails (never skips) if it cannot start."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium package with "
            "scripts/setup-browser-deps (root), then run the browser tests again"
        )
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        except PlaywrightError as err:
            pytest.fail(f"chromium ({CHROMIUM}) did not start under Playwright: {err}")
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Generator[Page]:
    """A 1280x800 page that can reach loopback only."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-US"
    )
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    context.route("**/*", _loopback_only)
    yield context.new_page()
    context.close()


def _loopback_only(route: Route) -> None:
    url = route.request.url
    if url.startswith(LOOPBACK_PREFIXES):
        route.continue_()
    elif url.startswith("https://brands.home-assistant.io/") and (
        "/tunnelbroker/icon" in url
    ):
        route.fulfill(path=BRAND_ICON, content_type="image/png")
    else:
        route.abort()


def _screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png")


def _log_in(page: Page, hass: HassProcess) -> None:
    assert hass.password is not None
    page.goto(hass.base_url + "/")
    page.get_by_role("textbox", name="Username").fill("tester")
    page.get_by_role("textbox", name="Password").fill(hass.password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/home/**")


def test_add_by_description_url_and_follow_a_wan_change(
    simulators: Simulators, demo_hass: HassProcess, page: Page
) -> None:
    hass = demo_hass
    _log_in(page, hass)

    # Settings -> Devices & services -> Add integration -> Hurricane Electric Tunnelbroker.
    page.goto(hass.base_url + "/config/integrations/dashboard")
    page.get_by_role("button", name="Add integration").click()
    page.get_by_role("textbox", name="Search for a brand name").fill("Hurricane")
    page.get_by_text(INTEGRATION_NAME, exact=True).click()

    # No router was discovered: the flow asks for the description URL.
    expect(page.get_by_title("Router description URL")).to_be_visible()
    page.get_by_role("textbox", name="Description URL").fill(simulators.location)
    page.get_by_role("button", name="Submit").click()

    # The tunnel's credentials.
    expect(page.get_by_title("Your Hurricane Electric tunnel")).to_be_visible()
    page.get_by_role("textbox", name="Username").fill(DEMO_USERNAME)
    page.get_by_role("textbox", name="Update key").fill(DEMO_UPDATE_KEY)
    page.get_by_role("textbox", name="Tunnel ID").fill(DEMO_TUNNEL_ID)
    _screenshot(page, "config-flow-tunnel")
    page.get_by_role("button", name="Submit").click()
    # Both devices were created: the router, and the tunnel.
    expect(page.get_by_title("Devices created")).to_be_visible()
    expect(page.get_by_role("textbox", name="Device name")).to_have_count(2)
    expect(page.get_by_role("textbox", name="Device name").first).to_have_value(
        "Simulated router"
    )
    expect(page.get_by_role("textbox", name="Device name").last).to_have_value(
        f"Tunnel {DEMO_TUNNEL_ID}"
    )
    _screenshot(page, "config-flow-devices-created")
    page.get_by_role("button", name="Skip and finish").click()

    # Checking the credentials was the one update: HE now holds the router's address.
    assert [r["myip"] for r in simulators.he_requests()] == [FIRST_WAN_IP]

    # The integration's card -> its devices -> the router's device page: the External IP
    # sensor shows the simulated address.
    page.get_by_role("link", name="2 devices").click()
    page.get_by_text("Simulated router", exact=True).click()
    expect(page.get_by_text("External IP address")).to_be_visible()
    expect(page.get_by_text(FIRST_WAN_IP)).to_be_visible()
    _screenshot(page, "device-router")
    router_page = page.url

    # Its connected device, the tunnel: the endpoint HE holds, and when it was confirmed.
    page.get_by_text(f"Tunnel {DEMO_TUNNEL_ID}", exact=True).click()
    expect(page.get_by_text("Tunnel endpoint")).to_be_visible()
    expect(page.get_by_text(FIRST_WAN_IP)).to_be_visible()
    expect(page.get_by_text("Last update")).to_be_visible()
    last_update = _state(hass, "sensor.tunnel_100000_last_update")

    # The simulator's control page, in a second tab: press "Change WAN address".
    control = page.context.new_page()
    control.goto(simulators.control_page)
    expect(control.locator("#wan-address")).to_have_text(FIRST_WAN_IP)
    control.get_by_role("button", name="Change WAN address").click()
    expect(control.locator("#wan-address")).to_have_text(NEXT_WAN_IP)

    # The tunnel follows, in the UI: new endpoint, and a new last update.
    expect(page.get_by_text(NEXT_WAN_IP)).to_be_visible()
    expect(page.get_by_text(FIRST_WAN_IP)).to_have_count(0)
    assert _state(hass, "sensor.tunnel_100000_last_update") > last_update
    _screenshot(page, "device-tunnel")
    # ... and so does the router's page.
    page.get_by_role("link", name="Simulated router").click()
    page.wait_for_url(router_page)
    expect(page.get_by_text(NEXT_WAN_IP)).to_be_visible()

    # Exactly one update for the change; the control page lists it as HE answered it.
    assert [r["myip"] for r in simulators.he_requests()] == [FIRST_WAN_IP, NEXT_WAN_IP]
    control.reload()
    expect(control.locator("#he-requests tbody tr").first).to_contain_text(
        f"good {NEXT_WAN_IP}"
    )
    expect(control.locator("#he-requests tbody tr")).to_have_count(2)
    _screenshot(control, "simulator-control-page")


def _state(hass: HassProcess, entity_id: str) -> str:
    state = hass.state(entity_id)
    assert state is not None, f"{entity_id} does not exist"
    return str(state["state"])
