"""A real UPnP IGD router (Debian's miniupnpd 2.3.1, nftables flavour) in network namespaces.

Two namespaces per router (set up with iproute2, as a shell script would):

- ``<name>-r`` (router): ``wan0`` (a dummy device; ifb where the kernel lacks CONFIG_DUMMY -- both
  drop all they are sent) holding the WAN address, ``lan0`` (10.231.2.1/24), miniupnpd, and its
  own ``inet miniupnpd`` nft table. IPv6 is off, so the kernel sends nothing (RS, DAD) to wan0;
  ``promote_secondaries`` is on, so `set_wan` never leaves wan0 without an address.
- ``<name>-c`` (client): ``eth0`` (10.231.2.100/24), a veth peer of lan0, plus a
  ``239.0.0.0/8 dev eth0`` route for SSDP senders that neither bind to that address nor set
  IP_MULTICAST_IF (e.g. ``upnpc -s``).

Nothing can leave the machine: there is no default route in either namespace and no link to the
host's namespace. miniupnpd treats private, CGNAT and TEST-NET WAN addresses as reserved (it then
reports an empty external IP), hence the public-looking default WAN 84.17.0.10/24.

Names are unique per process and router (``tb<pid>n<k>``), so parallel runs never clash; `up`
first removes namespaces left by runs whose process is gone. Needs root, iproute2, nftables,
curl and miniupnpd-nftables (``scripts/setup-router-deps``); `up` raises `RouterHarnessError`
when something is missing -- it never skips silently.
"""

from __future__ import annotations

import atexit
from collections.abc import Mapping, Sequence
import contextlib
import itertools
import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import tempfile
import time
from typing import IO, Any, Literal

from .lifecycle import Lifecycle

MINIUPNPD = os.environ.get("MINIUPNPD", "/usr/sbin/miniupnpd")
DEFAULT_WAN = "84.17.0.10/24"
DEFAULT_LAN = "10.231.2"
DEFAULT_HTTP_PORT = 5000
DEFAULT_UUID = "3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b"
# After a WAN change miniupnpd 2.3.1 drops a change arriving while a NOTIFY to that subscriber is
# in flight (e.g. SEQ 0 right after SUBSCRIBE); SIGUSR1 ("public IP changed") after this pause
# forces one more NOTIFY with the settled address.
DEFAULT_USR1_DELAY = 0.3
# Our own nft table for block_event_port (miniupnpd never touches it).
HARNESS_TABLE = "tbharness"
PROXY_VARS = (
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
)
_NAME_RE = re.compile(r"^tb(\d+)n\d+-[rc]$")
_counter = itertools.count()

ROUTER_NFT = """\
table inet miniupnpd {
  chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }
  chain miniupnpd { }
  chain prerouting { type nat hook prerouting priority -100; jump prerouting_miniupnpd; }
  chain postrouting { type nat hook postrouting priority 100; jump postrouting_miniupnpd; }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
}
"""


class RouterHarnessError(RuntimeError):
    """The router harness cannot run here, or the router did not come up."""


def clean_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return `env` (default: ours) without proxy variables: nothing outside is reachable."""
    return {
        k: v
        for k, v in (os.environ if env is None else env).items()
        if k not in PROXY_VARS
    }


def _run(argv: Sequence[str], *, input_: str | None = None, check: bool = True) -> str:
    """Run a setup command; raise RouterHarnessError with its output when it fails."""
    proc = subprocess.run(  # noqa: S603
        list(argv),
        input=input_,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if check and proc.returncode != 0:
        raise RouterHarnessError(
            f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout}"
        )
    return proc.stdout


def _rc(argv: Sequence[str]) -> int:
    """Run a command quietly; return its exit code."""
    return subprocess.run(list(argv), capture_output=True, check=False).returncode  # noqa: S603


def _netns_list() -> list[str]:
    out = _run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _netns_pids(ns: str) -> list[int]:
    return [int(p) for p in _run(["ip", "netns", "pids", ns], check=False).split()]


def _kill_pids(pids: Sequence[int], timeout: float = 5.0) -> None:
    """SIGTERM the given processes, SIGKILL those still there after `timeout`."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _delete_netns(ns: str) -> None:
    """Kill what still runs in `ns` (started by this harness), then delete it."""
    _kill_pids(_netns_pids(ns))
    _run(["ip", "netns", "del", ns], check=False)


def sweep_stale_namespaces() -> None:
    """Delete namespaces (and their processes) of earlier harness runs whose process is gone."""
    for ns in _netns_list():
        match = _NAME_RE.match(ns)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            _delete_netns(ns)
    for state in Path(tempfile.gettempdir()).glob("igd-tb*n*"):
        match = re.fullmatch(r"igd-tb(\d+)n\d+", state.name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            shutil.rmtree(state, ignore_errors=True)


def check_prerequisites() -> None:
    """Raise RouterHarnessError unless we can create namespaces and run miniupnpd."""
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (network namespaces, nft, mount)")
    problems += [
        f"`{tool}` not found"
        for tool in ("ip", "nft", "curl", "upnpc")
        if shutil.which(tool) is None
    ]
    if not os.access(MINIUPNPD, os.X_OK):
        problems.append(f"{MINIUPNPD} not found")
    if not problems and _rc(["ip", "netns", "list"]):
        problems.append("`ip netns` does not work here")
    if problems:
        raise RouterHarnessError(
            "router harness unavailable: "
            + "; ".join(problems)
            + ". Run scripts/setup-router-deps as root."
        )


class IgdRouter(Lifecycle):
    """A miniupnpd router and one client namespace; use as a context manager or up()/down()."""

    def __init__(
        self,
        *,
        wan: str = DEFAULT_WAN,
        lan: str = DEFAULT_LAN,
        http_port: int = DEFAULT_HTTP_PORT,
        uuid: str = DEFAULT_UUID,
        usr1_delay: float | None = DEFAULT_USR1_DELAY,
        state_dir: Path | None = None,
        name: str | None = None,
    ) -> None:
        """Describe a router; nothing is created before `up`."""
        self.name = name or f"tb{os.getpid()}n{next(_counter)}"
        self.router_ns = f"{self.name}-r"
        self.client_ns = f"{self.name}-c"
        self.initial_wan = wan if "/" in wan else f"{wan}/24"
        self.router_ip = f"{lan}.1"
        self.client_ip = f"{lan}.100"
        self.lan_prefix = lan
        self.http_port = http_port
        self.udn = f"uuid:{uuid}"
        self.usr1_delay = usr1_delay
        self.url = f"http://{self.router_ip}:{http_port}/rootDesc.xml"
        self._own_state_dir = state_dir is None
        self.state_dir = state_dir or Path(tempfile.gettempdir()) / f"igd-{self.name}"
        self.log_path = self.state_dir / "miniupnpd.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._is_up = False

    # -- lifecycle ---------------------------------------------------------------------------

    def up(self) -> str:
        """Create both namespaces, start miniupnpd, wait for its description; return the URL."""
        check_prerequisites()
        sweep_stale_namespaces()
        atexit.register(self.down)
        self._is_up = True
        try:
            self._create_network()
            self.start_miniupnpd()
        except BaseException:
            self.down()
            raise
        return self.url

    def down(self) -> None:
        """Stop miniupnpd and delete its nft tables and both namespaces (safe to repeat)."""
        atexit.unregister(self.down)
        self.stop_miniupnpd()
        if self.router_ns in _netns_list():
            for table in ("miniupnpd", HARNESS_TABLE):
                self.run_in_router(
                    ["nft", "delete", "table", "inet", table], check=False
                )
        for ns in (self.client_ns, self.router_ns):
            if ns in _netns_list():
                _delete_netns(ns)
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        self._is_up = False

    # `with` brings the router up, and down even after a failure.
    start = up
    stop = down

    def _create_network(self) -> None:
        r, c = self.router_ns, self.client_ns
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "router.nft").write_text(ROUTER_NFT)
        (self.state_dir / "miniupnpd.conf").write_text(self._miniupnpd_conf())
        _run(["ip", "netns", "add", r])
        _run(["ip", "netns", "add", c])
        _run(["ip", "-n", r, "link", "set", "lo", "up"])
        _run(["ip", "-n", c, "link", "set", "lo", "up"])
        self.run_in_router(
            [
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
                "net.ipv4.conf.all.promote_secondaries=1",
            ]
        )
        if _rc(["ip", "-n", r, "link", "add", "wan0", "type", "dummy"]):
            _run(["ip", "-n", r, "link", "add", "wan0", "type", "ifb"])
        _run(["ip", "-n", r, "addr", "add", self.initial_wan, "dev", "wan0"])
        _run(["ip", "-n", r, "link", "set", "wan0", "up"])
        veth = ["type", "veth", "peer", "name", "eth0", "netns", c]
        _run(["ip", "link", "add", "lan0", "netns", r, *veth])
        _run(["ip", "-n", r, "addr", "add", f"{self.router_ip}/24", "dev", "lan0"])
        _run(["ip", "-n", r, "link", "set", "lan0", "up"])
        _run(["ip", "-n", c, "addr", "add", f"{self.client_ip}/24", "dev", "eth0"])
        _run(["ip", "-n", c, "link", "set", "eth0", "up"])
        _run(["ip", "-n", c, "route", "add", "239.0.0.0/8", "dev", "eth0"])
        self.run_in_router(["nft", "-f", str(self.state_dir / "router.nft")])

    def _miniupnpd_conf(self) -> str:
        s = self.state_dir
        return (
            "ext_ifname=wan0\n"
            "listening_ip=lan0\n"
            f"http_port={self.http_port}\n"
            "enable_natpmp=no\n"
            "ipv6_disable=yes\n"
            "secure_mode=yes\n"
            "upnp_table_name=miniupnpd\n"
            "upnp_nat_table_name=miniupnpd\n"
            f"lease_file={s}/upnp.leases\n"
            f"minissdpdsocket={s}/minissdpd.sock\n"
            f"uuid={self.udn.removeprefix('uuid:')}\n"
            "friendly_name=igd-router test IGD\n"
            f"allow 1024-65535 {self.lan_prefix}.0/24 1024-65535\n"
            "deny 0-65535 0.0.0.0/0 0-65535\n"
        )

    # -- miniupnpd ---------------------------------------------------------------------------

    @property
    def miniupnpd_pid(self) -> int | None:
        """The pid of our running miniupnpd, if any."""
        if self._proc is None or self._proc.poll() is not None:
            return None
        return self._proc.pid

    def start_miniupnpd(self, timeout: float = 10.0) -> None:
        """Start miniupnpd (again) and wait until its description answers in the client ns.

        After `stop_miniupnpd` this is a router reboot: earlier subscriptions (SIDs) are gone.
        """
        if self.miniupnpd_pid is not None:
            return
        conf, pidfile = (
            self.state_dir / "miniupnpd.conf",
            self.state_dir / "miniupnpd.pid",
        )
        self._log = self.log_path.open("ab")
        # -d: foreground, every log line to stderr. Without /dev/log, syslog(LOG_CONS) also writes
        # each line to /dev/console; /dev/null is bound over it in the private mount ns of
        # `ip netns exec`. `ip netns exec` and `sh` exec, so the Popen pid is miniupnpd's.
        shell = 'mount --bind /dev/null /dev/console && exec "$@"'
        daemon = [MINIUPNPD, "-d", "-f", str(conf), "-P", str(pidfile)]
        self._proc = subprocess.Popen(  # noqa: S603
            self.ns_argv(self.router_ns, ["sh", "-c", shell, "sh", *daemon]),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            probe = self.run_in_client(
                ["curl", "-sf", "--max-time", "1", "-o", "/dev/null", self.url],
                check=False,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.1)
        tail = "\n".join(self.log_text().splitlines()[-20:])
        self.stop_miniupnpd()
        raise RouterHarnessError(f"miniupnpd: no answer from {self.url}; log:\n{tail}")

    def stop_miniupnpd(self, timeout: float = 5.0) -> None:
        """Stop miniupnpd: SIGTERM, then SIGKILL after `timeout` (safe to repeat)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_text(self) -> str:
        """Everything miniupnpd logged so far (across restarts)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- WAN address -------------------------------------------------------------------------

    def wan_addresses(self) -> list[str]:
        """The addresses (with prefix length) on wan0."""
        out = _run(
            ["ip", "-n", self.router_ns, "-4", "-o", "addr", "show", "dev", "wan0"]
        )
        return [line.split()[3] for line in out.splitlines()]

    @property
    def wan_ip(self) -> str:
        """The router's current (primary) WAN address, without prefix length."""
        return self.wan_addresses()[0].split("/")[0]

    def set_wan(self, ip: str) -> float:
        """Change the WAN address; return the wall-clock time (time.time()) of the change.

        The new address is added and the old ones deleted in one `ip -batch` run while
        miniupnpd is stopped (SIGSTOP): with promote_secondaries wan0 never lacks an address,
        and miniupnpd (which watches rtnetlink and builds the NOTIFY body late) cannot catch
        the old address in between. After `usr1_delay` s a SIGUSR1 forces one more NOTIFY with
        the settled address (None: rely on netlink only). Works while miniupnpd is stopped too.
        """
        new = ip if "/" in ip else f"{ip}/24"
        old = self.wan_addresses()
        cmds = [] if new in old else [f"address add {new} dev wan0"]
        cmds += [f"address del {a} dev wan0" for a in old if a != new]
        pid = self.miniupnpd_pid
        if pid is not None:
            os.kill(pid, signal.SIGSTOP)
        try:
            if cmds:
                _run(
                    ["ip", "-n", self.router_ns, "-batch", "-"],
                    input_="\n".join(cmds) + "\n",
                )
            changed_at = time.time()
        finally:
            if pid is not None:
                os.kill(pid, signal.SIGCONT)
        if pid is not None and self.usr1_delay is not None:
            time.sleep(self.usr1_delay)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGUSR1)
        return changed_at

    # -- events ------------------------------------------------------------------------------

    def block_event_port(self, *, reject: bool = False) -> None:
        """Keep the router's GENA NOTIFYs from reaching the client ("events refused").

        Models the common real-world failure: the router accepts SUBSCRIBE (200 OK, a SID) but
        its NOTIFY connections back to the subscriber never get through (a firewall on Home
        Assistant's host, or HA in a container network). An nft rule in the router ns drops
        every TCP packet the router sends to the LAN that is not from its HTTP port, i.e. the
        NOTIFY connections it opens itself; SSDP (UDP), descriptions and SOAP keep working.
        reject=True answers with a TCP reset instead (a host that refuses the callback port):
        the NOTIFY fails at once instead of after the kernel's SYN retries (~2 min).
        Blocking SUBSCRIBE itself is not offered: it shares the HTTP port with SOAP, so a port
        rule would stop polling too, and nft has no portable match on the HTTP method.
        """
        verdict = "reject with tcp reset" if reject else "drop"
        self.unblock_event_port()
        rules = (
            f"table inet {HARNESS_TABLE} {{\n"
            "  chain output { type filter hook output priority 0; policy accept;\n"
            f'    oifname "lan0" tcp sport != {self.http_port} {verdict}\n'
            "  }\n}\n"
        )
        self.run_in_router(["nft", "-f", "-"], input=rules)

    def unblock_event_port(self) -> None:
        """Let NOTIFYs through again (safe to repeat)."""
        self.run_in_router(
            ["nft", "delete", "table", "inet", HARNESS_TABLE], check=False
        )

    # -- running commands --------------------------------------------------------------------

    def ns_pids(self, which: Literal["client", "router"]) -> list[int]:
        """The processes running in the client or router namespace."""
        return _netns_pids(self.client_ns if which == "client" else self.router_ns)

    def ns_argv(self, ns: str, argv: Sequence[str]) -> list[str]:
        """`argv` run inside namespace `ns`."""
        return ["ip", "netns", "exec", ns, *argv]

    def exec_in_client(
        self, argv: Sequence[str], **popen_kwargs: Any
    ) -> subprocess.Popen[Any]:
        """Start `argv` in the client namespace (no proxy variables); the caller reaps it.

        Whatever still runs in the namespace is killed by `down`.
        """
        return self._exec_in(self.client_ns, argv, **popen_kwargs)

    def exec_in_router(
        self, argv: Sequence[str], **popen_kwargs: Any
    ) -> subprocess.Popen[Any]:
        """Start `argv` in the router namespace, as exec_in_client does in the client's."""
        return self._exec_in(self.router_ns, argv, **popen_kwargs)

    def _exec_in(
        self, ns: str, argv: Sequence[str], **popen_kwargs: Any
    ) -> subprocess.Popen[Any]:
        popen_kwargs["env"] = clean_env(popen_kwargs.get("env"))
        return subprocess.Popen(self.ns_argv(ns, argv), **popen_kwargs)  # noqa: S603

    def run_in_client(
        self, argv: Sequence[str], **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` in the client namespace to its end; output captured as text.

        `timeout` (30 s), `check` (raise RouterHarnessError on failure; default) and
        subprocess.run's other arguments as `_run_in` takes them.
        """
        return self._run_in(self.client_ns, argv, **kwargs)

    def run_in_router(
        self, argv: Sequence[str], **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` in the router namespace, as run_in_client does in the client's."""
        return self._run_in(self.router_ns, argv, **kwargs)

    def _run_in(
        self,
        ns: str,
        argv: Sequence[str],
        *,
        timeout: float = 30,
        check: bool = True,
        **kwargs: Any,
    ) -> subprocess.CompletedProcess[str]:
        kwargs["env"] = clean_env(kwargs.get("env"))
        proc = subprocess.run(  # noqa: S603
            self.ns_argv(ns, argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kwargs,
        )
        if check and proc.returncode != 0:
            raise RouterHarnessError(
                f"in {ns}: {' '.join(argv)} failed ({proc.returncode}):"
                f" {proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc
