"""The simulators as child processes: started from the repo, their banner checked, stopped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
import subprocess
import sys
from typing import Any

from .hass_process import REPO
from .lifecycle import Lifecycle

ROUTER_BANNER = ("router description URL: ", "router control page: ")
HE_BANNER = ("HE API URL: ",)
DNS_BANNER = ("dns.he.net records: ",)  # after HE's line, when the demo has records


def launch_child(
    argv: Sequence[str], launch: Callable[..., subprocess.Popen[Any]] = subprocess.Popen
) -> subprocess.Popen[str]:
    """Start `argv` by `launch` in the repo: no stdin, stdout and stderr one text pipe."""
    process: subprocess.Popen[str] = launch(
        list(argv),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process


def stop_child(process: subprocess.Popen[str], timeout: float = 10) -> None:
    """SIGTERM it, wait for its end and close its pipe (safe to repeat)."""
    process.terminate()
    process.wait(timeout=timeout)
    if process.stdout is not None:
        process.stdout.close()


class SimulatorProcess(Lifecycle):
    """One run of the simulators with `args`, started by `launch` (in a namespace, say)."""

    def __init__(
        self,
        args: Sequence[str],
        banner: Sequence[str],
        launch: Callable[..., subprocess.Popen[Any]] = subprocess.Popen,
    ) -> None:
        """Start it; return once it printed a line starting with each of `banner`, in order.

        The lines read are `lines`; a wrong one stops the process and fails.
        """
        self._process = launch_child(
            [sys.executable, "-m", "simulators", *args], launch
        )
        try:
            assert self._process.stdout is not None
            self.lines = [self._process.stdout.readline() for _ in banner]
            for line, start in zip(self.lines, banner, strict=True):
                assert line.startswith(start), self.lines
        except BaseException:
            self.stop()
            raise

    def printed(self, start: str) -> str:
        """What the banner line beginning with `start` gives (the URL, its first word)."""
        (line,) = [line for line in self.lines if line.startswith(start)]
        return line.removeprefix(start).split()[0]

    def stop(self) -> None:
        """Stop it (safe to repeat)."""
        stop_child(self._process)

    close = stop  # as bench/ calls it
