"""What the integration costs a home: time to the first WAN state, and Home Assistant's memory.

A real hass in the client namespace of a real router (miniupnpd), the simulated HE beside it
(with a network round trip modelled, `--he-rtt-ms`). The router is found by SSDP and set up in
the flows a user goes through: the discovered flow with the first tunnel, then *Add tunnel*
for each further one. Hass's own clock stamps both ends of each delay (the entry's
`created_at`, the sensor's `last_changed`; for a reload or a restart, the bench's wall clock at
the request, the same system clock). Each tunnel's health check runs as it does at home, every
5 minutes and after each update, echoing `::1` of the client namespace (developer setting
TUNNELBROKER_HEALTH_TARGET: the simulated HE's tunnel server is nobody's to echo); the last
line says whether it was answered.

The last lines are machine-readable:
  first_state setup_ms=.. reload_tunnels=5 median_ms=.. p95_ms=.. restart_ms=.. ha_setup_s=..
  memory tunnels=0 rss_mib=..   (router discovered, nothing set up)
  memory tunnels=1 rss_mib=..
  memory tunnels=5 rss_mib=.. integration_mib=..
  health tunnels=5 reachable=.. round_trip_ms=..
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
import statistics
import tempfile
import time
from typing import Any

from simulators.__main__ import DEMO_UPDATE_KEY, DEMO_USERNAME, demo_tunnel_ids
from tests.support.hass_process import HassProcess
from tests.support.igd_router import IgdRouter
from tests.support.real_stack import (
    DEMO_TUNNEL_FORM,
    HE_PORT,
    HeInNamespace,
    ssdp_flow,
    wait_until,
)

DOMAIN = "tunnelbroker"


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _wan_state(hass: HassProcess) -> dict[str, Any] | None:
    for state in hass.get_states():
        if state["entity_id"].startswith("sensor.") and state["entity_id"].endswith(
            "_external_ip_address"
        ):
            return state
    return None


def _changed_at(state: dict[str, Any]) -> float:
    return datetime.fromisoformat(state["last_changed"]).timestamp()


def _wait_wan_state_after(hass: HassProcess, since: float, deadline: float) -> float:
    """Wait for the WAN sensor to show an address set after `since`; return when it changed."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        state = _wan_state(hass)
        if (
            state is not None
            and state["state"] not in ("unavailable", "unknown")
            and _changed_at(state) > since
        ):
            return _changed_at(state)
        time.sleep(0.05)
    raise AssertionError(f"no WAN state after {since} within {deadline} s")


def _tunnel_count(hass: HassProcess) -> int:
    entries = hass.config_entries(DOMAIN)
    if not entries or entries[0]["state"] != "loaded":
        return 0
    subentries = hass.ws_command(
        "config_entries/subentries/list", entry_id=entries[0]["entry_id"]
    )
    return len(subentries)


def rss_mib(hass: HassProcess, settle: float, label: str) -> float:
    """Return Home Assistant's VmRSS in MiB after `settle` seconds, printed with `label`."""
    print(f"{label}: settling {settle:.0f} s", flush=True)
    time.sleep(settle)
    rss = hass.resident_memory_kib() / 1024
    print(f"{label}: VmRSS {rss:.1f} MiB", flush=True)
    return rss


def main() -> None:
    """Run the measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--he-rtt-ms", type=float, default=150.0)
    parser.add_argument("--tunnels", type=int, default=5)
    parser.add_argument("--reloads", type=int, default=10)
    parser.add_argument(
        "--settle", type=float, default=60.0, help="seconds before each memory reading"
    )
    args = parser.parse_args()
    ids = demo_tunnel_ids(args.tunnels)
    with (
        tempfile.TemporaryDirectory() as tmp,
        IgdRouter(state_dir=Path(tmp) / "igd") as router,
    ):
        he = HeInNamespace(router, rtt_ms=args.he_rtt_ms, tunnels=args.tunnels)
        env = {
            "TUNNELBROKER_API_URL": f"http://127.0.0.1:{HE_PORT}",
            "TUNNELBROKER_HEALTH_TARGET": "::1",
        }
        try:
            with HassProcess(
                Path(tmp) / "hass", netns=router.client_ns, env=env
            ) as hass:
                hass.onboard()
                hass.wait_running()
                flow = ssdp_flow(hass)
                rss0 = rss_mib(hass, args.settle, "router discovered, 0 tunnels")

                # The discovered router, confirmed with the first tunnel.
                result = hass.flow_configure(flow["flow_id"], {})
                result = hass.flow_configure(flow["flow_id"], DEMO_TUNNEL_FORM)
                assert result["type"] == "create_entry", result
                entry = hass.config_entries(DOMAIN)[0]
                first = _wait_wan_state_after(hass, 0.0, 30.0)
                setup_ms = (first - float(entry["created_at"])) * 1000
                print(f"setup: entry created → WAN sensor state: {setup_ms:.0f} ms")
                rss1 = rss_mib(hass, args.settle, "1 tunnel")

                # Add tunnel, as the user does it, for each further tunnel.
                for tunnel_id in ids[1:]:
                    step = hass.subentry_flow_start(entry["entry_id"], "tunnel")
                    result = hass.subentry_flow_configure(
                        step["flow_id"],
                        {
                            "username": DEMO_USERNAME,
                            "update_key": DEMO_UPDATE_KEY,
                            "tunnel_id": tunnel_id,
                        },
                    )
                    assert result["type"] == "create_entry", result
                    wait_until(
                        lambda n=ids.index(tunnel_id) + 1: _tunnel_count(hass) == n,
                        60.0,
                        f"tunnel {tunnel_id} set up",
                    )
                rss_n = rss_mib(hass, args.settle, f"{args.tunnels} tunnels")
                health = [_health(hass, tunnel_id) for tunnel_id in ids]

                reloads: list[float] = []
                for n in range(args.reloads):
                    asked = time.time()
                    hass.api(
                        "POST",
                        f"/api/config/config_entries/entry/{entry['entry_id']}/reload",
                    )
                    reloads.append(
                        (_wait_wan_state_after(hass, asked, 30.0) - asked) * 1000
                    )
                    print(
                        f"reload {n + 1}/{args.reloads}: request → WAN sensor state "
                        f"{reloads[-1]:.0f} ms",
                        flush=True,
                    )
                    time.sleep(2)

                hass.stop()
                started = time.time()
                hass.start()
                hass.wait_running()
                restart_ms = (
                    _wait_wan_state_after(hass, started, 60.0) - started
                ) * 1000
                timings = {
                    t["domain"]: t["seconds"]
                    for t in hass.ws_command("integration/setup_info")
                }
                print(
                    f"restart: hass process start → WAN sensor state {restart_ms:.0f} ms "
                    f"(hass's whole start included)"
                )
        finally:
            he.close()
    print(
        f"first_state he_rtt_ms={args.he_rtt_ms:.0f} setup_ms={setup_ms:.0f} "
        f"reload_tunnels={args.tunnels} median_ms={statistics.median(reloads):.0f} "
        f"p95_ms={_p95(reloads):.0f} restart_ms={restart_ms:.0f} "
        f"ha_setup_s={timings.get(DOMAIN, float('nan')):.2f}"
    )
    print(f"memory tunnels=0 rss_mib={rss0:.1f}")
    print(f"memory tunnels=1 rss_mib={rss1:.1f} integration_mib={rss1 - rss0:.1f}")
    print(
        f"memory tunnels={args.tunnels} rss_mib={rss_n:.1f} "
        f"integration_mib={rss_n - rss0:.1f}"
    )
    print(
        f"health tunnels={args.tunnels} "
        f"reachable={','.join(state for state, _rtt in health)} "
        f"round_trip_ms={','.join(rtt for _state, rtt in health)}"
    )


def _health(hass: HassProcess, tunnel_id: str) -> tuple[str, str]:
    """Return the tunnel's Tunnel reachable and Round trip states."""
    states = [
        hass.state(f"{platform}.tunnel_{tunnel_id}_{key}")
        for platform, key in (
            ("binary_sensor", "tunnel_reachable"),
            ("sensor", "round_trip"),
        )
    ]
    reachable, rtt = (str(s["state"]) if s else "missing" for s in states)
    return reachable, rtt


if __name__ == "__main__":
    main()
