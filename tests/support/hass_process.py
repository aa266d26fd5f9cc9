"""A real Home Assistant (`hass`) process with this integration, and a small REST client for it.

`HassProcess` writes a temporary config dir (a minimal configuration.yaml, the integration
symlinked under custom_components/, `.storage/core.network`; with `blueprints=True` the repo's
blueprints too, linked by scripts/install-blueprints as scripts/develop does), starts
``.venv/bin/hass -c <dir> --skip-pip`` -- inside a network namespace with ``ip netns exec <ns>``
when `netns` is given -- and waits until its HTTP server answers.

The REST client runs ``curl`` in the same namespace as hass (``ip netns exec <ns> curl ...``):
the namespaces have no link to the host, and get none.

HA's `network` integration is pinned to the adapters given (default: ``eth0`` in a namespace,
``lo`` otherwise), so SSDP sends nothing off the machine; in a router's client namespace it
discovers the router for real.

Onboarding: `onboard` runs the onboarding REST API (user -> auth code -> token, core_config,
analytics, integration). Without a namespace the core_config step is recorded as done in
`.storage/onboarding` before start instead: that step sets up `met` and `radio_browser`, which
would fetch from the internet; inside a namespace nothing can leave, so it runs for real.
"""

from __future__ import annotations

import atexit
from collections.abc import Mapping, Sequence
import contextlib
import json
import os
from pathlib import Path
import secrets
import signal
import socket
import subprocess
import sys
import time
from typing import IO, Any

from .igd_router import clean_env
from .lifecycle import Lifecycle

REPO = Path(__file__).resolve().parents[2]
HASS = Path(sys.executable).with_name("hass")
INTEGRATION = REPO / "custom_components" / "tunnelbroker"
INSTALL_BLUEPRINTS = REPO / "scripts" / "install-blueprints"
HASS_RESTARTING = REPO / "scripts" / "hass-restarting"
# The demo's own configuration (scripts/develop), and the files it includes that the UI's
# editors write (scripts/develop creates them empty).
DEMO_CONFIGURATION = REPO / "config" / "configuration.yaml"
DEMO_INCLUDES = ("automations.yaml", "scripts.yaml", "scenes.yaml")
ENV_PASSTHROUGH = ("TUNNELBROKER_API_URL", "TUNNELBROKER_MIN_UPDATE_INTERVAL")


# Run by `HassProcess.ws_command` (in hass's namespace): one WebSocket API command per message.
WS_CLIENT = """
import asyncio, json, sys
import aiohttp

async def main():
    req = json.load(sys.stdin)
    async with aiohttp.ClientSession() as session, session.ws_connect(req["url"]) as ws:
        await ws.receive_json()
        await ws.send_json({"type": "auth", "access_token": req["token"]})
        if (await ws.receive_json())["type"] != "auth_ok":
            sys.exit("auth failed")
        results = []
        for n, msg in enumerate(req["messages"], 1):
            await ws.send_json({**msg, "id": n})
            while (answer := await ws.receive_json()).get("id") != n:
                pass
            results.append(answer)
        print(json.dumps(results))

asyncio.run(main())
"""


class HassError(RuntimeError):
    """Home Assistant did not start, or a REST call failed."""


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def configuration_yaml(host: str, port: int, *, frontend: bool, extra: str = "") -> str:
    """A minimal configuration.yaml: API, config, onboarding, SSDP, debug logs for us."""
    return (
        "homeassistant:\n"
        "  name: Router test\n"
        "  latitude: 52.52\n"
        "  longitude: 13.40\n"
        "  elevation: 34\n"
        "  unit_system: metric\n"
        "  time_zone: UTC\n"
        "  currency: EUR\n"
        "  country: DE\n"
        "http:\n"
        f"  server_host: {host}\n"
        f"  server_port: {port}\n" + ("frontend:\n" if frontend else "") + "api:\n"
        "config:\n"
        "onboarding:\n"
        "person:\n"
        "automation:\n"
        "ssdp:\n"
        "logger:\n"
        "  default: info\n"
        "  logs:\n"
        "    custom_components.tunnelbroker: debug\n"
        "    homeassistant.components.ssdp: debug\n" + extra
    )


def _storage(key: str, data: Any, version: int = 1) -> str:
    return json.dumps(
        {"version": version, "minor_version": 1, "key": key, "data": data}
    )


class HassProcess(Lifecycle):
    """`hass` in a temporary config dir, optionally inside a network namespace."""

    def __init__(
        self,
        config_dir: Path,
        *,
        netns: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        adapters: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        frontend: bool = False,
        extra_yaml: str = "",
        blueprints: bool = False,
        demo: bool = False,
    ) -> None:
        """Describe the process; `start` writes the config and runs it.

        `host`/`port`: where HA's HTTP server listens (inside `netns` if given; default port
        8123 there, a free loopback port otherwise). `env` is added to our environment
        (proxy variables removed; TUNNELBROKER_API_URL passes through). `blueprints`: install
        the repo's blueprints as scripts/develop does (scripts/install-blueprints). `demo`: run
        as scripts/develop runs the demo's hass: its configuration.yaml (config/), and started
        again when it restarts itself from the UI (scripts/hass-restarting).
        """
        self.config_dir = config_dir
        self.netns = netns
        self.host = host
        self.port = port or (8123 if netns else free_loopback_port())
        self.adapters = list(adapters or (["eth0"] if netns else ["lo"]))
        self.env = dict(env or {})
        self.frontend = frontend
        self.extra_yaml = extra_yaml
        self.blueprints = blueprints
        self.demo = demo
        self.base_url = f"http://{host}:{self.port}"
        self.client_id = f"{self.base_url}/"
        self.log_path = config_dir / "home-assistant.log"
        self.output_path = config_dir / "hass.out"
        self.token: str | None = None
        self.password: str | None = None
        self.start_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None

    # -- process -----------------------------------------------------------------------------

    def write_config(self) -> None:
        """Write configuration.yaml, the integration symlink, the storage files (blueprints)."""
        cfg = self.config_dir
        (cfg / "custom_components").mkdir(parents=True, exist_ok=True)
        (cfg / ".storage").mkdir(exist_ok=True)
        link = cfg / "custom_components" / "tunnelbroker"
        if not link.is_symlink():
            link.symlink_to(INTEGRATION, target_is_directory=True)
        if self.blueprints:
            subprocess.run([str(INSTALL_BLUEPRINTS), str(cfg)], check=True)  # noqa: S603
        if self.demo:
            (cfg / "configuration.yaml").write_text(DEMO_CONFIGURATION.read_text())
            for made_in_the_ui in DEMO_INCLUDES:
                (cfg / made_in_the_ui).touch()
        else:
            (cfg / "configuration.yaml").write_text(
                configuration_yaml(
                    self.host, self.port, frontend=self.frontend, extra=self.extra_yaml
                )
            )
        (cfg / ".storage" / "core.network").write_text(
            _storage("core.network", {"configured_adapters": self.adapters})
        )
        onboarding = cfg / ".storage" / "onboarding"
        if self.netns is None and not onboarding.exists():
            onboarding.write_text(_storage("onboarding", {"done": ["core_config"]}, 4))

    @property
    def pid(self) -> int | None:
        """The pid of the running hass (in a demo, of scripts/hass-restarting), if any."""
        if self._proc is None or self._proc.poll() is not None:
            return None
        return self._proc.pid

    def argv(self) -> list[str]:
        """The command line that runs hass (inside the namespace if any)."""
        cmd = [str(HASS), "-c", str(self.config_dir), "--skip-pip", "--log-no-color"]
        if self.demo:
            cmd = [str(HASS_RESTARTING), *cmd]
        return ["ip", "netns", "exec", self.netns, *cmd] if self.netns else cmd

    def start(self, timeout: float = 90.0) -> float:
        """Start hass; return the seconds until its HTTP server answered."""
        if self.pid is not None:
            raise HassError("hass is already running")
        self.write_config()
        env = clean_env()
        env.update(self.env)
        env.update(
            {
                k: os.environ[k]
                for k in ENV_PASSTHROUGH
                if k in os.environ and k not in self.env
            }
        )
        self._out = self.output_path.open("ab")
        started = time.monotonic()
        # `ip netns exec` execs hass: the Popen pid is hass, leader of its own process group.
        self._proc = subprocess.Popen(  # noqa: S603
            self.argv(),
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.config_dir,
            start_new_session=True,
        )
        atexit.register(self.stop)
        try:
            self._wait_http(started + timeout)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started
        return self.start_seconds

    def _wait_http(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.pid is None:
                raise HassError(f"hass exited early:\n{self.tail()}")
            status, _ = self.request(
                "GET", "/api/onboarding", auth=False, timeout=2, check=False
            )
            if status:
                return
            time.sleep(0.2)
        raise HassError(f"hass did not answer HTTP at {self.base_url}:\n{self.tail()}")

    def wait_until_up(self, timeout: float = 120.0) -> None:
        """Wait until hass (started again, say) answers and is running (needs a login)."""
        deadline = time.monotonic() + timeout
        self._wait_http(deadline)
        while time.monotonic() < deadline:
            status, config = self.request("GET", "/api/config", timeout=5, check=False)
            if status == 200 and isinstance(config, dict):
                if config.get("state") == "RUNNING":
                    return
            time.sleep(0.5)
        raise HassError(f"hass did not come back running:\n{self.tail()}")

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM hass's process group, SIGKILL after `timeout`; return the exit code."""
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        code = None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                code = None
            with contextlib.suppress(ProcessLookupError):  # stragglers of its group
                os.killpg(proc.pid, signal.SIGKILL)
            if code is None:
                code = proc.wait()
        if self._out is not None:
            self._out.close()
            self._out = None
        return code

    def log_text(self) -> str:
        """Return hass's log file (home-assistant.log) so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 40) -> str:
        """The last lines of hass's console output."""
        try:
            text = self.output_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- REST --------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        data: Any = None,
        *,
        auth: bool = True,
        form: bool = False,
        timeout: float = 30.0,
        check: bool = True,
    ) -> tuple[int, Any]:
        """Send one HTTP request (curl, in hass's namespace); return (status, JSON or text).

        Status 0: no HTTP answer. check=True raises HassError for that and for status >= 400.
        """
        argv = ["curl", "-sS", "--noproxy", "*", "--max-time", str(timeout)]
        argv += ["-X", method, "-o", "-", "-w", "\n%{http_code}"]
        if auth:
            if self.token is None:
                raise HassError("not onboarded: no access token")
            argv += ["-H", f"Authorization: Bearer {self.token}"]
        body = None
        if data is not None:
            if form:
                body = "&".join(f"{k}={v}" for k, v in data.items())
                argv += ["-H", "Content-Type: application/x-www-form-urlencoded"]
            else:
                body = json.dumps(data)
                argv += ["-H", "Content-Type: application/json"]
            argv += ["--data-binary", "@-"]
        argv.append(self.base_url + path)
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        proc = subprocess.run(  # noqa: S603
            argv,
            input=body,
            capture_output=True,
            text=True,
            timeout=timeout + 5,
            env=clean_env(),
            check=False,
        )
        text, _, code = proc.stdout.rpartition("\n")
        status = int(code) if code.isdigit() else 0
        try:
            payload: Any = json.loads(text) if text else None
        except ValueError:
            payload = text
        if check and not 200 <= status < 400:
            raise HassError(
                f"{method} {path}: HTTP {status}: {payload or proc.stderr.strip()}"
            )
        return status, payload

    def download(self, path: str, timeout: float = 30.0) -> tuple[int, bytes]:
        """GET `path` with the access token; return (HTTP status, body bytes)."""
        if self.token is None:
            raise HassError("not onboarded: no access token")
        argv = ["curl", "-sS", "--noproxy", "*", "--max-time", str(timeout)]
        argv += ["-H", f"Authorization: Bearer {self.token}", "-D", "/dev/stderr"]
        argv.append(self.base_url + path)
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        proc = subprocess.run(  # noqa: S603
            argv, capture_output=True, timeout=timeout + 5, env=clean_env(), check=False
        )
        status_line = proc.stderr.split(b"\r\n", 1)[0].split()
        status = int(status_line[1]) if len(status_line) > 1 else 0
        return status, proc.stdout

    def ws_command(self, msg_type: str, **fields: Any) -> Any:
        """Run one WebSocket API command (in hass's namespace); return its result."""
        if self.token is None:
            raise HassError("not onboarded: no access token")
        ws_url = self.base_url.replace("http://", "ws://", 1) + "/api/websocket"
        request = {
            "url": ws_url,
            "token": self.token,
            "messages": [{"type": msg_type, **fields}],
        }
        argv = [sys.executable, "-c", WS_CLIENT]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        proc = subprocess.run(  # noqa: S603
            argv,
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(),
            check=False,
        )
        if proc.returncode != 0:
            raise HassError(f"websocket {msg_type}: {proc.stderr.strip()}")
        answer = json.loads(proc.stdout)[0]
        if not answer.get("success"):
            raise HassError(f"websocket {msg_type}: {answer.get('error')}")
        return answer["result"]

    def api(self, method: str, path: str, data: Any = None) -> Any:
        """An authenticated request; return the JSON answer, raise HassError on errors."""
        return self.request(method, path, data)[1]

    def onboard(self, username: str = "tester", password: str | None = None) -> str:
        """Finish all onboarding steps through the REST API; return (and keep) an access token.

        The user is an admin; `password` defaults to a random one (kept in `self.password`).
        """
        self.password = password or secrets.token_urlsafe(12)
        _, status = self.request("GET", "/api/onboarding", auth=False)
        done = {step["step"] for step in status if step["done"]}
        if "user" not in done:
            user = {
                "client_id": self.client_id,
                "name": "Tester",
                "username": username,
                "password": self.password,
                "language": "en",
            }
            _, answer = self.request("POST", "/api/onboarding/users", user, auth=False)
            grant = {
                "grant_type": "authorization_code",
                "code": answer["auth_code"],
                "client_id": self.client_id,
            }
            _, tokens = self.request(
                "POST", "/auth/token", grant, auth=False, form=True
            )
            self.token = tokens["access_token"]
        if self.token is None:
            raise HassError("the user step was done before: no token for this process")
        for step in ("core_config", "analytics"):
            if step not in done:
                self.api("POST", f"/api/onboarding/{step}", {})
        if "integration" not in done:
            redirect = f"{self.base_url}/?auth_callback=1"
            self.api(
                "POST",
                "/api/onboarding/integration",
                {"client_id": self.client_id, "redirect_uri": redirect},
            )
        _, status = self.request("GET", "/api/onboarding", auth=False)
        if status:  # HA answers [] once onboarding is complete
            missing = [step["step"] for step in status if not step["done"]]
            if missing:
                raise HassError(f"onboarding steps not done: {missing}")
        return self.token

    def login(self, username: str, password: str) -> str:
        """Log in through the auth API, as the frontend does; return (and keep) a token."""
        _, flow = self.request(
            "POST",
            "/auth/login_flow",
            {
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": f"{self.base_url}/?auth_callback=1",
            },
            auth=False,
        )
        _, result = self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"username": username, "password": password, "client_id": self.client_id},
            auth=False,
        )
        if result.get("type") != "create_entry":
            raise HassError(f"login refused: {result}")
        grant = {
            "grant_type": "authorization_code",
            "code": result["result"],
            "client_id": self.client_id,
        }
        _, tokens = self.request("POST", "/auth/token", grant, auth=False, form=True)
        self.token = str(tokens["access_token"])
        self.password = password
        return self.token

    def wait_running(self, timeout: float = 60.0) -> None:
        """Wait until HA's core state is RUNNING (all set-up done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.api("GET", "/api/config").get("state") == "RUNNING":
                return
            time.sleep(0.2)
        raise HassError("hass did not reach RUNNING")

    def get_states(self) -> list[dict[str, Any]]:
        """All entity states."""
        states: list[dict[str, Any]] = self.api("GET", "/api/states")
        return states

    def state(self, entity_id: str) -> dict[str, Any] | None:
        """One entity's state object, or None when it does not exist."""
        status, payload = self.request("GET", f"/api/states/{entity_id}", check=False)
        if status == 404:
            return None
        if status != 200:
            raise HassError(f"GET state of {entity_id}: HTTP {status}: {payload}")
        result: dict[str, Any] = payload
        return result

    def state_of(self, entity_id: str, missing: str | None = None) -> str:
        """One entity's state string; `missing` if it does not exist (fails without one)."""
        state = self.state(entity_id)
        if state is None:
            assert missing is not None, f"{entity_id} does not exist"
            return missing
        return str(state["state"])

    def flow_progress(self) -> list[dict[str, Any]]:
        """The config flows in progress (incl. discovered ones, with context.source)."""
        flows: list[dict[str, Any]] = self.ws_command("config_entries/flow/progress")
        return flows

    def flow_start(self, handler: str) -> dict[str, Any]:
        """Start a user config flow for `handler`; return its first step."""
        result: dict[str, Any] = self.api(
            "POST",
            "/api/config/config_entries/flow",
            {"handler": handler, "show_advanced_options": False},
        )
        return result

    def flow_configure(
        self, flow_id: str, data: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Submit a step of config flow `flow_id`; return the next step or the result."""
        result: dict[str, Any] = self.api(
            "POST", f"/api/config/config_entries/flow/{flow_id}", dict(data or {})
        )
        return result

    def subentry_flow_start(self, entry_id: str, subentry_type: str) -> dict[str, Any]:
        """Start adding a subentry of `subentry_type` to `entry_id`; return its first step."""
        result: dict[str, Any] = self.api(
            "POST",
            "/api/config/config_entries/subentries/flow",
            {"handler": [entry_id, subentry_type], "show_advanced_options": False},
        )
        return result

    def subentry_flow_configure(
        self, flow_id: str, data: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Submit a step of subentry flow `flow_id`; return the next step or the result."""
        result: dict[str, Any] = self.api(
            "POST",
            f"/api/config/config_entries/subentries/flow/{flow_id}",
            dict(data or {}),
        )
        return result

    def resident_memory_kib(self) -> int:
        """Return hass's resident memory (VmRSS of its process), in KiB."""
        if self.pid is None:
            raise HassError("hass is not running")
        status = Path(f"/proc/{self.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1])

    def config_entries(self, domain: str | None = None) -> list[dict[str, Any]]:
        """The config entries (of `domain`)."""
        query = f"?domain={domain}" if domain else ""
        entries: list[dict[str, Any]] = self.api(
            "GET", f"/api/config/config_entries/entry{query}"
        )
        return entries

    def call_service(
        self,
        domain: str,
        service: str,
        data: Mapping[str, Any] | None = None,
        *,
        return_response: bool = False,
    ) -> Any:
        """Call an action; with return_response, return its response (else changed states)."""
        query = "?return_response" if return_response else ""
        result = self.api(
            "POST", f"/api/services/{domain}/{service}{query}", dict(data or {})
        )
        if return_response:
            return result["service_response"]
        return result
