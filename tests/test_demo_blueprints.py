"""The demo's blueprints: a real Home Assistant lists the repo's blueprints without an import.

scripts/develop runs scripts/install-blueprints on its config/; `HassProcess(blueprints=True)`
runs the same script on a temporary config dir, starts a real `hass` there (loopback only) and
asks it, through the WebSocket API as the Blueprints page does, which automation blueprints it
has. One hass start, about 10-20 s.
"""

from __future__ import annotations

from pathlib import Path
import subprocess

from homeassistant.util.yaml import load_yaml
from tests.support.hass_process import INSTALL_BLUEPRINTS, REPO, HassProcess

BLUEPRINTS = REPO / "blueprints" / "automation" / "tunnelbroker"
SOURCES = sorted(BLUEPRINTS.glob("*.yaml"))


def _name(path: Path) -> str:
    name: str = load_yaml(path)["blueprint"]["name"]
    return name


def test_develop_installs_the_blueprints() -> None:
    develop = (REPO / "scripts" / "develop").read_text()

    assert "\nscripts/install-blueprints config\n" in develop
    assert len(SOURCES) >= 2


def test_home_assistant_lists_the_repo_blueprints(tmp_path: Path) -> None:
    config = tmp_path / "config"
    with HassProcess(config, blueprints=True) as hass:
        hass.onboard()
        hass.wait_running()
        listed = hass.ws_command("blueprint/list", domain="automation")

    errors = {
        path: entry["error"] for path, entry in listed.items() if "error" in entry
    }
    assert not errors, errors
    ours = {
        path: entry["metadata"]["name"]
        for path, entry in listed.items()
        if path.startswith("tunnelbroker/")
    }
    assert ours == {f"tunnelbroker/{path.name}": _name(path) for path in SOURCES}
    # Links to the repo's files: an edit here shows in the demo after a blueprint reload.
    for path in SOURCES:
        installed = config / "blueprints" / "automation" / "tunnelbroker" / path.name
        assert installed.is_symlink()
        assert installed.resolve() == path.resolve()


def test_install_blueprints_again_drops_stale_links_and_keeps_own_files(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "blueprints" / "automation" / "tunnelbroker"
    folder.mkdir(parents=True)
    stale = folder / "removed_from_the_repo.yaml"
    stale.symlink_to(BLUEPRINTS / "removed_from_the_repo.yaml")
    own = folder / SOURCES[0].name
    own.write_text("# my own version\n")

    for _ in range(2):  # scripts/develop runs it at every start
        done = subprocess.run(  # noqa: S603
            [str(INSTALL_BLUEPRINTS), str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
        )

    assert not stale.is_symlink()
    assert not own.is_symlink()
    assert own.read_text() == "# my own version\n"
    assert f"keeping {own}" in done.stderr
    for path in SOURCES[1:]:
        assert (folder / path.name).resolve() == path.resolve()
