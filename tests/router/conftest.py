"""Fixtures for router-level tests: a real miniupnpd router, and a real hass next to it.

Each test gets a fresh router (two network namespaces, unique names) and, on request, a
`hass` process inside the router's client namespace. Both are torn down even when the test
fails; their logs stay in pytest's tmp dir (paths in the failure messages).
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from tests.support.hass_process import HassProcess
from tests.support.igd_router import IgdRouter


@pytest.fixture
def igd_router(tmp_path_factory: pytest.TempPathFactory) -> Generator[IgdRouter]:
    """A running router: WAN 84.17.0.10/24, LAN 10.231.2.0/24 (client 10.231.2.100)."""
    with IgdRouter(state_dir=tmp_path_factory.mktemp("igd")) as router:
        yield router


@pytest.fixture
def hass_in_client(igd_router: IgdRouter, tmp_path: Path) -> Generator[HassProcess]:
    """Home Assistant with this integration, running in the router's client namespace.

    Started and answering HTTP (not onboarded yet: call `onboard()`); its network integration
    uses eth0 only, so its SSDP discovery sees the router.
    """
    with HassProcess(tmp_path / "hass-config", netns=igd_router.client_ns) as hass:
        yield hass
