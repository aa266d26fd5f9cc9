"""The demo's private network (`python -m simulators.private_network`), as scripts/develop uses it.

The launcher runs the real simulators inside a network namespace of its own, with only
loopback (and the demo's LAN address on it), and forwards their ports from this machine's
loopback. What is checked from outside: the control page answers through the forwarded port,
its tunnel switch is available there (and only there), breaking the tunnel makes the
integration's own echo check inside go unanswered while this machine's `::1` still answers,
and mending it brings the answers back; inside, an SSDP search finds the router on the demo's
LAN, as Home Assistant's does. As root (a plain network namespace) and as a user that is not
root (a user namespace too). Needs root to look inside (nsenter) and to become that user:
marked `router`, like the other namespace tests.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from simulators.control_page import TUNNEL_BROKEN, TUNNEL_PASSING, TUNNEL_PATH
from simulators.private_network import DEMO_LAN_IP
from simulators.tunnel_switch import ECHO_IGNORE_ALL
from tests.support.hass_process import REPO
from tests.support.ipv6_path import echo_check
from tests.support.simulator_process import launch_child, stop_child

pytestmark = pytest.mark.router

NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"]
LAUNCHER = [sys.executable, "-m", "simulators.private_network"]
# An SSDP search for Internet gateways from any address, as Home Assistant's scanner sends one:
# prints each answer's LOCATION.
SEARCH = """
import socket
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(3)
sock.sendto(
    b"M-SEARCH * HTTP/1.1\\r\\nHOST: 239.255.255.250:1900\\r\\nMAN: \\"ssdp:discover\\"\\r\\n"
    b"MX: 1\\r\\nST: upnp:rootdevice\\r\\n\\r\\n",
    ("239.255.255.250", 1900),
)
reply = sock.recv(4096).decode()
print([line.split(":", 1)[1].strip() for line in reply.split("\\r\\n")
       if line.upper().startswith("LOCATION:")][0])
"""


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


def _as(user: str) -> list[str]:
    if user == "root":
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is missing"
    return [setpriv, *NOBODY]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - loopback
        return str(answer.read().decode())


def _post(url: str, **form: str) -> int:
    data = urllib.parse.urlencode(form).encode()
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as answer:  # noqa: S310
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


@contextmanager
def _launched(
    prefix: list[str], ports: list[int | str], command: list[str]
) -> Generator[subprocess.Popen[str]]:
    process = launch_child(
        [*prefix, *LAUNCHER, *(f"--forward={port}" for port in ports), "--", *command]
    )
    try:
        yield process
    finally:
        stop_child(process, timeout=20)


def _wait_for(url: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        try:
            return _get(url)
        except (urllib.error.URLError, ConnectionError) as err:
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} never answered") from err
            time.sleep(0.1)


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_demo_breaks_its_own_tunnel_only(user: str) -> None:
    check = subprocess.run(  # noqa: S603 - our own module
        [*_as(user), *LAUNCHER, "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if user == "nobody" and check.returncode != 0:
        # Where Linux allows no unprivileged user namespace, it must say so in words.
        assert "unprivileged user namespaces" in check.stderr, check.stderr
        pytest.skip(f"this machine refuses {user} a user namespace: {check.stderr}")
    assert check.returncode == 0, check.stderr
    host_setting = ECHO_IGNORE_ALL.read_text()
    router_port, he_port = _free_port(), _free_port()
    # As scripts/develop runs them in there: the router on the demo's LAN, answering SSDP.
    simulators = [sys.executable, "-m", "simulators", "--host", DEMO_LAN_IP, "--ssdp"]
    ports = ["--router-port", str(router_port), "--he-port", str(he_port)]
    with _launched(
        _as(user),
        [f"{DEMO_LAN_IP}:{router_port}", he_port],
        [*simulators, *ports],
    ) as launcher:
        control = f"http://127.0.0.1:{router_port}"
        page = _wait_for(control + "/")
        assert (
            'value="1">Break the tunnel</button>' in page
        )  # enabled: a private network
        assert '"requests": []' in _get(f"http://127.0.0.1:{he_port}/sim/state")
        (inside,) = _children(launcher.pid)
        look_inside = ["nsenter", f"--target={inside}", "--net"]
        assert echo_check(look_inside, "::1")["outcome"] == "answered"
        found = subprocess.run(  # noqa: S603 - our own snippet, inside the namespace
            [*look_inside, sys.executable, "-c", SEARCH],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        assert (
            found.stdout.strip() == f"http://{DEMO_LAN_IP}:{router_port}/rootDesc.xml"
        )

        assert _post(control + TUNNEL_PATH, broken="1") == 200  # after the redirect

        assert TUNNEL_BROKEN in _get(control + "/sim/control-state")
        assert echo_check(look_inside, "::1")["outcome"] == "no_answer"
        assert echo_check([], "::1")["outcome"] == "answered"  # this machine's ::1
        assert ECHO_IGNORE_ALL.read_text() == host_setting

        assert _post(control + TUNNEL_PATH, broken="0") == 200

        assert TUNNEL_PASSING in _get(control + "/sim/control-state")
        assert echo_check(look_inside, "::1")["outcome"] == "answered"
    assert (
        launcher.returncode == 128 + signal.SIGTERM
    )  # passed on, as a shell reports it


def test_exit_status_is_the_commands_and_what_it_left_is_stopped() -> None:
    port = _free_port()  # nothing listens on it inside
    with _launched(
        [], [port], ["sh", "-c", "sleep 300 & echo $!; sleep 2; exit 3"]
    ) as launcher:
        assert launcher.stdout is not None
        # The command runs: the ports are forwarded.
        left = int(launcher.stdout.readline())
        # A forwarded port with nothing behind it: the connection is closed, not left hanging.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.settimeout(10)
            assert client.recv(1) == b""
        assert launcher.wait(timeout=20) == 3
    deadline = time.monotonic() + 10
    while _alive(left) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(left), "the command's background process outlived it"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _launcher(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the launcher to its end, here (not as another user)."""
    return subprocess.run(  # noqa: S603 - our own module
        [*LAUNCHER, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_a_taken_port_is_said_in_words() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = _launcher(f"--forward={port}", "--", "true")
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "something else using that port" in result.stderr


def test_the_demo_lan_is_never_set_up_in_this_machines_network() -> None:
    result = _launcher("--lan-up")
    assert result.returncode == 2
    assert "only in a network that holds loopback alone" in result.stderr
