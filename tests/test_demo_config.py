"""The demo's configuration (config/configuration.yaml), as scripts/develop runs it.

What a newcomer makes in the UI must load (automations, scripts and scenes are included from
the files the editors write, and scripts/develop creates those); the router must be
discovered (SSDP is loaded). The browser test runs Home Assistant on this very file.
"""

from __future__ import annotations

import re

from simulators.__main__ import (
    DEMO_RECORD_KEY,
    DEMO_TUNNEL_ID,
    DEMO_UPDATE_KEY,
    DEMO_USERNAME,
    demo_record_names,
)
from tests.support.hass_process import DEMO_CONFIGURATION, DEMO_INCLUDES, REPO

DEVELOP = REPO / "scripts" / "develop"


def test_what_the_ui_makes_is_loaded_from_the_files_develop_creates() -> None:
    configuration = DEMO_CONFIGURATION.read_text()
    included = dict(re.findall(r"^(\w+): !include (\S+)$", configuration, re.MULTILINE))
    assert included == {
        "automation": "automations.yaml",
        "script": "scripts.yaml",
        "scene": "scenes.yaml",
    }
    assert set(included.values()) == set(DEMO_INCLUDES)
    created = re.search(r"for made_in_the_ui in ([\w ]+); do", DEVELOP.read_text())
    assert created is not None
    assert {f"{name}.yaml" for name in created.group(1).split()} == set(DEMO_INCLUDES)


def test_the_demo_discovers_and_restarts() -> None:
    configuration = DEMO_CONFIGURATION.read_text()
    assert re.search(r"^ssdp:$", configuration, re.MULTILINE)
    develop = DEVELOP.read_text()
    assert "scripts/hass-restarting" in develop
    assert "--ssdp" in develop


def test_develop_says_what_to_type_for_the_tunnel_and_the_record() -> None:
    """Its instructions give the simulators' demo credentials, as their banner prints them."""
    develop = DEVELOP.read_text()
    tunnel = f"username {DEMO_USERNAME}, update key {DEMO_UPDATE_KEY}, tunnel ID {DEMO_TUNNEL_ID}"
    assert tunnel in develop
    # The first of the simulated dns.he.net's records (`python -m simulators` serves one).
    assert f"name {demo_record_names(1)[0]}, key {DEMO_RECORD_KEY}" in develop
