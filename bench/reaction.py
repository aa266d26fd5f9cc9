"""Measure how fast a WAN change reaches HE: events vs polling, on a real router.

Prints one line per finding, the last lines machine-readable:
  reaction mode=events changes=20 median_ms=.. p95_ms=.. he_requests_per_change=1.00
  first_change after=restart rounds=3 median_ms=.. max_ms=.. he_requests_per_change=..
  first_change after=reload rounds=3 median_ms=.. max_ms=.. he_requests_per_change=..
  reaction mode=poll changes=20 median_ms=.. p95_ms=.. he_requests_per_change=1.00
  router_requests_per_hour_subscribed=.. time_wait_after_burst=..
"""

from __future__ import annotations

import argparse
from pathlib import Path
import random
import statistics
import tempfile
import time

from tests.support.hass_process import HassProcess
from tests.support.igd_router import IgdRouter
from tests.support.real_stack import (
    HE_PORT,
    HeInNamespace,
    add_integration_from_ssdp,
    soap_requests,
)

# Seconds between changes in events mode (miniupnpd repeats its NOTIFY after 0.3 s).
SPACING = 3.0
# In poll mode a fixed spacing would lock the changes to the poll's phase; a random pause
# makes each change land anywhere in the 30 s poll interval, as a real one does.
POLL_JITTER = 30.0


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _measure(
    router: IgdRouter,
    he: HeInNamespace,
    mode: str,
    changes: int,
    first: int,
    *,
    spacing: float = SPACING,
) -> tuple[list[float], float]:
    """Change the WAN address `changes` times; return delays (ms) and HE requests per change.

    HE requests are of any kind (updates and tunnel information).
    """
    delays: list[float] = []
    before = len(he.requests())
    before_all = he.all_requests()
    for i in range(changes):
        ip = f"84.17.{first + i // 200}.{20 + i % 200}"
        changed_wall = router.set_wan(ip)
        changed = time.monotonic() - (time.time() - changed_wall)
        he.wait_for(ip, 120.0)
        arrived = next(r["at"] for r in he.requests() if r["myip"] == ip)
        delays.append((arrived - changed) * 1000)
        print(
            f"{mode}: change {i + 1}/{changes} to {ip}: {delays[-1]:.0f} ms", flush=True
        )
        time.sleep(spacing + (random.uniform(0, POLL_JITTER) if mode == "poll" else 0))  # noqa: S311
    requests = he.requests()[before:]
    per_change = (he.all_requests() - before_all) / changes
    connections = len({r["client_port"] for r in requests})
    print(f"{mode}: {len(requests)} HE requests over {connections} connection(s)")
    return delays, per_change


# A first change comes minutes after a start, past every cache window (tunnel_info.FRESH_FOR).
SETTLED = 62.0


def _first_changes(
    hass: HassProcess,
    router: IgdRouter,
    he: HeInNamespace,
    *,
    after: str,
    rounds: int,
    first: int,
) -> str:
    """Restart Home Assistant (or reload the entry), wait, change once; `rounds` times.

    Returns the figures line: change -> HE, and HE requests of any kind the change cost (the
    start's own read of HE's tunnel information comes before the change and is not counted).
    """
    delays: list[float] = []
    costs: list[int] = []
    for i in range(rounds):
        if after == "restart":
            hass.stop()
            hass.start()
            hass.wait_running()
        else:
            (entry,) = hass.config_entries("tunnelbroker")
            hass.api(
                "POST", f"/api/config/config_entries/entry/{entry['entry_id']}/reload"
            )
        time.sleep(SETTLED)
        before = he.all_requests()
        ip = f"84.17.{first}.{20 + i}"
        changed_wall = router.set_wan(ip)
        changed = time.monotonic() - (time.time() - changed_wall)
        he.wait_for(ip, 120.0)
        arrived = next(r["at"] for r in he.requests() if r["myip"] == ip)
        delays.append((arrived - changed) * 1000)
        time.sleep(2)  # anything the change still causes
        costs.append(he.all_requests() - before)
        print(
            f"first change after {after} {i + 1}/{rounds} to {ip}: "
            f"{delays[-1]:.0f} ms, {costs[-1]} HE request(s)",
            flush=True,
        )
    return (
        f"first_change after={after} he_rtt_ms={he.rtt_ms:.0f} rounds={rounds} "
        f"median_ms={statistics.median(delays):.0f} max_ms={max(delays):.0f} "
        f"he_requests_per_change={statistics.mean(costs):.2f}"
    )


def _time_wait(router: IgdRouter) -> int:
    """TIME_WAIT sockets of hass in the client namespace (the bench's own curls to HE excluded)."""
    result = router.run_in_client(["ss", "-Htan", "state", "time-wait"])
    return len(
        [
            line
            for line in result.stdout.splitlines()
            if line.strip() and f"127.0.0.1:{HE_PORT}" not in line
        ]
    )


def main() -> None:
    """Run the measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--window-minutes", type=float, default=21.0)
    parser.add_argument(
        "--he-rtt-ms",
        type=float,
        default=0.0,
        help="network round trip modelled in front of the simulated HE",
    )
    parser.add_argument(
        "--spacing",
        type=float,
        default=SPACING,
        help="seconds between changes (beyond 60: past every cache window)",
    )
    parser.add_argument(
        "--events-only", action="store_true", help="no soak, no polling mode"
    )
    parser.add_argument(
        "--first-changes",
        type=int,
        default=3,
        help="rounds of restart-then-change and of reload-then-change (0: none)",
    )
    args = parser.parse_args()
    results: list[str] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        IgdRouter(state_dir=Path(tmp) / "igd") as router,
    ):
        he = HeInNamespace(router, rtt_ms=args.he_rtt_ms)
        env = {
            "TUNNELBROKER_API_URL": f"http://127.0.0.1:{HE_PORT}",
            # Changes seconds apart: the event path is what is measured here.
            "TUNNELBROKER_MIN_UPDATE_INTERVAL": "0",
        }
        try:
            with HassProcess(
                Path(tmp) / "hass", netns=router.client_ns, env=env
            ) as hass:
                add_integration_from_ssdp(hass, he)
                time.sleep(8)  # subscribed, initial NOTIFY seen

                delays, per_change = _measure(
                    router, he, "events", args.changes, 1, spacing=args.spacing
                )
                results.append(
                    f"reaction mode=events he_rtt_ms={args.he_rtt_ms:.0f} "
                    f"spacing_s={args.spacing:.0f} changes={args.changes} "
                    f"median_ms={statistics.median(delays):.0f} p95_ms={_p95(delays):.0f} "
                    f"he_requests_per_change={per_change:.2f}"
                )
                time.sleep(2)
                time_wait = _time_wait(router)
                if args.first_changes:
                    for n, after in enumerate(("reload", "restart")):
                        results.append(
                            _first_changes(
                                hass,
                                router,
                                he,
                                after=after,
                                rounds=args.first_changes,
                                first=5 + n,
                            )
                        )
                if args.events_only:
                    results.append(f"time_wait_after_burst={time_wait}")
                    _print(results)
                    return

                # Subscribed soak: how many SOAP requests does the router see per hour?
                soap_before = soap_requests(router)
                window = args.window_minutes * 60
                print(
                    f"soak: {args.window_minutes} min subscribed, no changes",
                    flush=True,
                )
                time.sleep(window)
                per_hour = (soap_requests(router) - soap_before) * 3600 / window

                # Events refused by a firewall: polling only.
                router.block_event_port(reject=True)
                router.stop_miniupnpd()
                router.start_miniupnpd()
                time.sleep(10)
                delays, per_change = _measure(router, he, "poll", args.changes, 3)
                results.append(
                    f"reaction mode=poll changes={args.changes} "
                    f"median_ms={statistics.median(delays):.0f} p95_ms={_p95(delays):.0f} "
                    f"he_requests_per_change={per_change:.2f}"
                )
                results.append(
                    f"router_requests_per_hour_subscribed={per_hour:.1f} "
                    f"time_wait_after_burst={time_wait}"
                )
        finally:
            he.close()
    _print(results)


def _print(results: list[str]) -> None:
    for line in results:
        print(line)


if __name__ == "__main__":
    main()
