"""scripts/release: what the release workflow would publish, checked here first."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys
import zipfile

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "custom_components" / "tunnelbroker" / "manifest.json"


def release(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own script)
        [sys.executable, str(ROOT / "scripts" / "release"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_dry_run_prints_the_version_the_notes_and_the_files(tmp_path: Path) -> None:
    version = json.loads(MANIFEST.read_text())["version"]
    result = release("--tag", f"v{version}", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"version: {version}\n")
    changelog = (ROOT / "CHANGELOG.md").read_text()
    # The manifest's version is the changelog's newest release (right after Unreleased).
    released = [
        line.split("]")[0].removeprefix("## [")
        for line in changelog.splitlines()
        if line.startswith("## [") and "Unreleased" not in line
    ]
    assert released[0] == version
    notes = (tmp_path / "notes.md").read_text()
    assert notes in result.stdout
    assert "### Added" in notes
    assert "[Unreleased]" not in notes
    assert "## [" not in notes  # one section only
    with zipfile.ZipFile(tmp_path / "tunnelbroker.zip") as zipped:
        names = set(zipped.namelist())
    # HACS unpacks the zip into custom_components/tunnelbroker/: its files at the top.
    assert {
        "manifest.json",
        "__init__.py",
        "translations/en.json",
        "brand/icon.png",
    } <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert all(f"  {name}" in result.stdout for name in names)
    with zipfile.ZipFile(tmp_path / "tunnelbroker.zip") as zipped:
        assert json.loads(zipped.read("manifest.json"))["version"] == version


def test_a_tag_that_is_not_the_version_is_refused() -> None:
    result = release("--tag", "v0.0.1")
    assert result.returncode == 1
    assert "does not name version" in result.stderr


def test_hacs_installs_the_release_zip() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert hacs["zip_release"] is True
    assert hacs["filename"] == "tunnelbroker.zip"
