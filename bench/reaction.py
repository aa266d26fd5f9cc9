"""Measure how fast a WAN change reaches HE: events vs polling, on a real router.

Prints one line per finding, the last lines machine-readable:
  reaction mode=events changes=20 median_ms=.. p95_ms=.. he_requests_per_change=1.00
  first_change after=restart rounds=3 median_ms=.. max_ms=.. he_requests_per_change=..
  first_change after=reload rounds=3 median_ms=.. max_ms=.. he_requests_per_change=..
  reaction mode=poll changes=20 median_ms=.. p95_ms=.. he_requests_per_change=1.00
  router_requests_per_hour_subscribed=.. time_wait_after_burst=..
  record_reaction rtt_ms=0 records=2 changes=10 median_ms=.. p95_ms=..
    requests_per_record_per_change=1.00 tunnel_median_ms=..  (one line, and one at 150 ms)

The records are measured on a stack of their own (router, HE, hass): the records added through
the Add DNS record flow, then `--record-changes` changes at each modelled round trip to HE.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import random
import statistics
import tempfile
import time

from simulators.__main__ import demo_record_names
from tests.support.hass_process import HassProcess
from tests.support.igd_router import IgdRouter
from tests.support.real_stack import (
    HE_PORT,
    HeInNamespace,
    add_integration_from_ssdp,
    add_record,
    soap_requests,
)

# Seconds between changes in events mode (miniupnpd repeats its NOTIFY after 0.3 s).
SPACING = 3.0
# In poll mode a fixed spacing would lock the changes to the poll's phase; a random pause
# makes each change land anywhere in the 30 s poll interval, as a real one does.
POLL_JITTER = 30.0


# The round trips to HE the records are measured at (ms).
RECORD_RTTS_MS = (0.0, 150.0)
# dns.he.net answers `interval` to more than 10 updates of a name within 2 minutes: the
# record changes are paced to stay under it (on what the simulated HE saw, with a margin).
DNS_LIMIT = 10
DNS_WINDOW = 121.0
ENV = {
    "TUNNELBROKER_API_URL": f"http://127.0.0.1:{HE_PORT}",
    # Changes seconds apart: the event path is what is measured here.
    "TUNNELBROKER_MIN_UPDATE_INTERVAL": "0",
}


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


def _pace_for_dns_limit(he: HeInNamespace, names: list[str]) -> None:
    """Wait until one more update of each name keeps within dns.he.net's `interval` limit."""
    now = (
        time.monotonic()
    )  # the clock of HE's `at` (one CLOCK_MONOTONIC for every netns)
    requests = he.dns_requests()
    wait = 0.0
    for name in names:
        recent = sorted(
            r["at"]
            for r in requests
            if r["hostname"] == name and r["at"] > now - DNS_WINDOW
        )
        if len(recent) >= DNS_LIMIT:
            wait = max(wait, recent[len(recent) - DNS_LIMIT] + DNS_WINDOW - now)
    if wait > 0:
        print(f"records: {wait:.0f} s for dns.he.net's update limit", flush=True)
        time.sleep(wait)


def _measure_records(
    router: IgdRouter,
    he: HeInNamespace,
    names: list[str],
    changes: int,
    first: int,
    *,
    spacing: float,
) -> str:
    """Change the WAN address `changes` times; return the record_reaction line.

    Each change's delay is until HE handled a record's request (one per record and change);
    the tunnel's on the same change is given for comparison. Requests are all of the
    records' DNS requests over the changes (and the 2 s after the last).
    """
    delays: list[float] = []
    tunnel_delays: list[float] = []
    before = len(he.dns_requests())
    for i in range(changes):
        _pace_for_dns_limit(he, names)
        ip = f"84.17.{first + i // 200}.{20 + i % 200}"
        changed_wall = router.set_wan(ip)
        changed = time.monotonic() - (time.time() - changed_wall)
        handled = he.wait_for_records(ip, names, 120.0)
        he.wait_for(ip, 120.0)
        tunnel = next(r["at"] for r in he.requests() if r["myip"] == ip)
        these = [(r["at"] - changed) * 1000 for r in handled]
        delays += these
        tunnel_delays.append((tunnel - changed) * 1000)
        print(
            f"records at {he.rtt_ms:.0f} ms: change {i + 1}/{changes} to {ip}: "
            f"records {', '.join(f'{d:.0f}' for d in these)} ms, "
            f"tunnel {tunnel_delays[-1]:.0f} ms",
            flush=True,
        )
        time.sleep(spacing)
    time.sleep(2)  # anything the last change still causes
    requests = [r for r in he.dns_requests()[before:] if r["hostname"] in names]
    not_good = [r["reply"] for r in requests if not r["reply"].startswith("good")]
    if not_good:
        print(f"records at {he.rtt_ms:.0f} ms: answers not good: {not_good}")
    connections = len({r["client_port"] for r in requests})
    print(
        f"records at {he.rtt_ms:.0f} ms: {len(requests)} DNS requests over "
        f"{connections} connection(s)"
    )
    return (
        f"record_reaction rtt_ms={he.rtt_ms:.0f} records={len(names)} changes={changes} "
        f"median_ms={statistics.median(delays):.0f} p95_ms={_p95(delays):.0f} "
        f"requests_per_record_per_change={len(requests) / (len(names) * changes):.2f} "
        f"tunnel_median_ms={statistics.median(tunnel_delays):.0f}"
    )


def _record_reactions(
    tmp: Path, records: int, changes: int, rtts_ms: list[float], *, spacing: float
) -> list[str]:
    """On a stack of its own: `records` records added in the UI, then changes at each RTT.

    HE is started anew for each round trip (hass keeps running): each measurement starts
    with dns.he.net's update counts at zero, the flow's checks included.
    """
    names = demo_record_names(records)
    results: list[str] = []
    with IgdRouter(state_dir=tmp / "igd-records") as router:
        he = HeInNamespace(router, records=records)
        try:
            with HassProcess(
                tmp / "hass-records", netns=router.client_ns, env=ENV
            ) as hass:
                add_integration_from_ssdp(hass, he)
                for name in names:
                    add_record(hass, name)
                print(f"records: {', '.join(names)} added", flush=True)
                for n, rtt_ms in enumerate(rtts_ms):
                    he.close()
                    he = HeInNamespace(router, rtt_ms=rtt_ms, records=records)
                    results.append(
                        _measure_records(
                            router, he, names, changes, 10 + 2 * n, spacing=spacing
                        )
                    )
        finally:
            he.close()
    return results


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
    parser.add_argument(
        "--records",
        type=int,
        default=2,
        help="dns.he.net records to measure (0: none), on a stack of their own",
    )
    parser.add_argument(
        "--record-changes",
        type=int,
        default=10,
        help="changes per round trip for the records (beyond 10: paced to HE's limit)",
    )
    parser.add_argument(
        "--record-rtts-ms",
        type=lambda text: [float(x) for x in text.split(",")],
        default=list(RECORD_RTTS_MS),
        help="round trips to HE to measure the records at (comma-separated)",
    )
    parser.add_argument(
        "--records-only", action="store_true", help="only the records' measurements"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [] if args.records_only else _tunnel_reactions(args, Path(tmp))
        if args.records and args.record_changes:
            results += _record_reactions(
                Path(tmp),
                args.records,
                args.record_changes,
                args.record_rtts_ms,
                spacing=args.spacing,
            )
    _print(results)


def _tunnel_reactions(args: argparse.Namespace, tmp: Path) -> list[str]:
    """Measure the tunnel (events, first changes, soak, polling); return the lines."""
    results: list[str] = []
    with IgdRouter(state_dir=tmp / "igd") as router:
        he = HeInNamespace(router, rtt_ms=args.he_rtt_ms)
        try:
            with HassProcess(tmp / "hass", netns=router.client_ns, env=ENV) as hass:
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
                    return results

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
    return results


def _print(results: list[str]) -> None:
    for line in results:
        print(line)


if __name__ == "__main__":
    main()
