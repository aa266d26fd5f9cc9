"""scripts/hass-restarting: Home Assistant's "Restart" (exit status 100) starts it again.

scripts/develop runs the demo's hass through it, and so does the tests' real hass
(tests/support/hass_process.py): a restart from the UI must not end the demo.
"""

from __future__ import annotations

from pathlib import Path
import signal
import subprocess
import time

ROOT = Path(__file__).resolve().parent.parent
WRAPPER = ROOT / "scripts" / "hass-restarting"
# A stand-in for hass: counts its runs in a file, asks to be restarted twice, then exits 7.
COUNTING = """
n=$(cat "$1" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" >"$1"
[ "$n" -lt 3 ] && exit 100
exit 7
"""


def test_exit_100_runs_it_again_and_any_other_status_ends_it(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    result = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [str(WRAPPER), "sh", "-c", COUNTING, "sh", str(runs)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 7
    assert runs.read_text().strip() == "3"
    assert result.stderr.count("asked to be restarted") == 2


def test_sigterm_is_passed_on_and_its_clean_shutdown_awaited(tmp_path: Path) -> None:
    done = tmp_path / "shut-down"
    started = tmp_path / "started"
    # Shuts down slowly on SIGTERM, as hass writes its storage before it exits.
    slow_shutdown = (
        f'trap "sleep 1; echo clean >{done}; exit 0" TERM; '
        f"echo up >{started}; sleep 60 & wait"
    )
    process = subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
        [str(WRAPPER), "sh", "-c", slow_shutdown]
    )
    deadline = time.monotonic() + 20
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0  # the command's own status, after its shutdown
    assert done.read_text().strip() == "clean"


def test_without_a_command_it_says_how_to_call_it() -> None:
    result = subprocess.run(  # noqa: S603 - our own script
        [str(WRAPPER)], capture_output=True, text=True, check=False, timeout=10
    )
    assert result.returncode == 2
    assert "usage:" in result.stderr
