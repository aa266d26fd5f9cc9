"""A real stack in the router's client namespace: the simulated HE server next to a real hass.

Shared by the router-level tests and bench/reaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import json
from pathlib import Path
import time
from typing import Any

from simulators.__main__ import (
    DEMO_RECORD_KEY,
    DEMO_TUNNEL_ID,
    DEMO_UPDATE_KEY,
    DEMO_USERNAME,
)

from .hass_process import HassProcess
from .igd_router import IgdRouter
from .simulator_process import DNS_BANNER, HE_BANNER, SimulatorProcess

HE_PORT = 8124
# The demo tunnel's details, as a user types them into the tunnel step.
DEMO_TUNNEL_FORM = {
    "username": DEMO_USERNAME,
    "update_key": DEMO_UPDATE_KEY,
    "tunnel_id": DEMO_TUNNEL_ID,
}
# While subscribed the safety poll is 10 minutes: anything seen within a minute was pushed.
PUSH_DEADLINE = 60.0
# Without events the router is polled every 30 s.
POLL_DEADLINE = 75.0


class HeInNamespace(SimulatorProcess):
    """The simulated HE server, running in the client namespace next to hass."""

    def __init__(
        self,
        router: IgdRouter,
        rtt_ms: float = 0.0,
        tunnels: int = 1,
        records: int = 0,
    ) -> None:
        """Start it (with `rtt_ms` of network modelled in front of it, `tunnels` demo tunnels).

        `records`: how many of the demo's dns.he.net records it serves (demo_record_names,
        key DEMO_RECORD_KEY). Return once it serves.
        """
        self.rtt_ms = rtt_ms
        self._router = router
        super().__init__(
            [
                "--no-router",
                *("--he-port", str(HE_PORT)),
                *("--he-rtt-ms", str(rtt_ms)),
                *("--tunnels", str(tunnels)),
                *("--records", str(records)),
            ],
            (*HE_BANNER, *(DNS_BANNER if records else ())),
            router.exec_in_client,
        )

    def requests(self) -> list[dict[str, Any]]:
        """Return the update requests HE received, oldest first."""
        return list(self._state()["requests"])

    def all_requests(self) -> int:
        """Return how many requests of any kind HE received (updates, information)."""
        state = self._state()
        return len(state["requests"]) + len(state["info_requests"])

    def dns_requests(self) -> list[dict[str, Any]]:
        """Return the dynamic DNS requests dns.he.net received, oldest first."""
        return list(self._state()["dns_requests"])

    def records(self) -> dict[str, dict[str, str | None]]:
        """Return what each record holds: {name: {"A": .., "AAAA": ..}}."""
        return dict(self._state()["records"])

    def wait_for_records(
        self, ip: str, names: Sequence[str], deadline: float
    ) -> list[dict[str, Any]]:
        """Wait until each of `names` got a DNS request with `ip`; return those requests.

        The first such request of each name, in the order of `names`.
        """
        start = time.monotonic()
        while time.monotonic() - start < deadline:
            requests = self.dns_requests()
            first = {}
            for r in requests:
                if r["myip"] == ip:
                    first.setdefault(r["hostname"], r)
            if all(name in first for name in names):
                return [first[name] for name in names]
            time.sleep(0.1)
        raise AssertionError(
            f"not every one of {list(names)} got {ip} within {deadline} s: "
            f"{self.dns_requests()}"
        )

    def _state(self) -> dict[str, Any]:
        result = self._router.run_in_client(
            ["curl", "-sf", f"http://127.0.0.1:{HE_PORT}/sim/state"]
        )
        return dict(json.loads(result.stdout))

    def wait_for(self, ip: str, deadline: float) -> float:
        """Wait until HE got an update to `ip`; return how long that took (for the record)."""
        start = time.monotonic()
        while time.monotonic() - start < deadline:
            if any(r["myip"] == ip for r in self.requests()):
                return time.monotonic() - start
            time.sleep(0.1)
        raise AssertionError(
            f"no update to {ip} within {deadline} s: {self.requests()}"
        )


def hass_next_to_he(router: IgdRouter, config_dir: Path, **env: str) -> HassProcess:
    """Home Assistant in the router's client namespace, pointed at HeInNamespace (+ `env`)."""
    return HassProcess(
        config_dir,
        netns=router.client_ns,
        env={"TUNNELBROKER_API_URL": f"http://127.0.0.1:{HE_PORT}", **env},
    )


def ssdp_flow(hass: HassProcess) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for flow in hass.flow_progress():
            if (
                flow["handler"] == "tunnelbroker"
                and flow["context"]["source"] == "ssdp"
            ):
                return dict(flow)
        time.sleep(0.5)
    raise AssertionError(f"SSDP did not start the flow; hass log {hass.log_path}")


def external_ip(hass: HassProcess) -> str | None:
    for state in hass.get_states():
        if state["entity_id"].endswith("_external_ip_address"):
            return str(state["state"])
    return None


def router_events(hass: HassProcess) -> str | None:
    """Return the Router events sensor's state (subscribed once the initial NOTIFY came)."""
    for state in hass.get_states():
        if state["entity_id"].endswith("_router_events"):
            return str(state["state"])
    return None


def wait_until(condition: Callable[[], bool], deadline: float, what: str) -> None:
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {deadline} s")


def add_integration_from_ssdp(hass: HassProcess, he: HeInNamespace) -> None:
    """Onboard hass, then confirm the SSDP-started flow with the demo tunnel's credentials."""
    hass.onboard()
    hass.wait_running()
    flow = ssdp_flow(hass)
    result = hass.flow_configure(flow["flow_id"], {})
    assert result["step_id"] == "tunnel", result
    result = hass.flow_configure(flow["flow_id"], DEMO_TUNNEL_FORM)
    assert result["type"] == "create_entry", result


def add_record(hass: HassProcess, name: str, key: str = DEMO_RECORD_KEY) -> None:
    """Add a dns.he.net record to the router through the Add DNS record flow, as the UI does.

    The flow checks the record by sending the router's WAN address for its A; adding it
    reloads the router's entry. Return once the entry is loaded again, with the record's
    entities, and the router's events are trusted again (its initial NOTIFY came).
    """
    (entry,) = hass.config_entries("tunnelbroker")
    flow = hass.subentry_flow_start(entry["entry_id"], "dns_record")
    assert (flow["type"], flow["step_id"]) == ("form", "user"), flow
    result = hass.subentry_flow_configure(
        flow["flow_id"], {"hostname": name, "dns_key": key}
    )
    assert result["type"] == "create_entry", result
    address = f"sensor.{name.replace('.', '_').replace('-', '_')}_address"
    wait_until(
        lambda: (
            hass.state(address) is not None
            and hass.config_entries("tunnelbroker")[0]["state"] == "loaded"
            and router_events(hass) == "subscribed"
        ),
        30,
        f"the router's entry reloaded with {name} and subscribed",
    )


def reboot_router_then_change(
    router: IgdRouter, he: HeInNamespace, ip: str, deadline: float
) -> float:
    """Restart miniupnpd (it forgets its subscribers), then change the WAN address to `ip`.

    8 s between: the router's SSDP announcement, hass's new subscription and the 5 s wait
    for its first NOTIFY. Return how long HE then took to hear `ip`.
    """
    router.stop_miniupnpd()
    router.start_miniupnpd()
    time.sleep(8)
    router.set_wan(ip)
    return he.wait_for(ip, deadline)


def soap_requests(router: IgdRouter) -> int:
    """Return how many SOAP requests miniupnpd has logged so far."""
    return router.log_text().count("POST /ctl/")
