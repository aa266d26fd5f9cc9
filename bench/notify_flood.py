"""Home Assistant's memory before and after a flood of spoofed NOTIFYs at its event listener.

A real Home Assistant and a real router (miniupnpd in network namespaces), the integration set
up by SSDP. Then NOTIFYs of `--body-kib` KiB with made-up SIDs go to the callback URL the
router was given: half from another host than the router (the client namespace's own address),
half from the router's own address. Prints VmRSS before and after, each after `--settle` s:
  notify_flood notifies=1000 body_kib=64 refused=.. rss_before_mib=.. rss_after_mib=.. growth_mib=..
"""

from __future__ import annotations

import argparse
from pathlib import Path
import tempfile
import time

from bench.footprint import rss_mib
from tests.support.hass_process import HassProcess
from tests.support.igd_router import IgdRouter
from tests.support.real_stack import HE_PORT, HeInNamespace, add_integration_from_ssdp

# One process per side sends them all, over kept-alive connections.
SENDER = """
import http.client, sys, urllib.parse
url, count, size, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
parts = urllib.parse.urlsplit(url)
body = b"x" * size
refused = 0
for n in range(count):
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("NOTIFY", parts.path or "/", body=body, headers={
        "NT": "upnp:event", "NTS": "upnp:propchange", "SID": f"uuid:{tag}-{n}"})
    refused += conn.getresponse().status >= 400
    conn.close()
print(refused)
"""


def main() -> None:
    """Run the flood and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notifies", type=int, default=1000)
    parser.add_argument("--body-kib", type=int, default=64)
    parser.add_argument("--settle", type=float, default=30.0)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        IgdRouter(state_dir=Path(tmp) / "igd") as router,
    ):
        he = HeInNamespace(router)
        env = {"TUNNELBROKER_API_URL": f"http://127.0.0.1:{HE_PORT}"}
        try:
            with HassProcess(
                Path(tmp) / "hass", netns=router.client_ns, env=env
            ) as hass:
                add_integration_from_ssdp(hass, he)
                (entry,) = hass.config_entries("tunnelbroker")
                time.sleep(8)  # subscribed, initial NOTIFY seen
                diagnostics = hass.api(
                    "GET", f"/api/diagnostics/config_entry/{entry['entry_id']}"
                )
                url = diagnostics["data"]["events"]["callback_url"]
                before = rss_mib(hass, args.settle, "before")
                half = args.notifies // 2
                size = args.body_kib * 1024
                refused = 0
                for run, tag in (
                    (router.run_in_client, "host"),
                    (router.run_in_router, "router"),
                ):
                    result = run(
                        ["python3", "-c", SENDER, url, str(half), str(size), tag],
                        timeout=600,
                    )
                    refused += int(result.stdout.strip())
                after = rss_mib(hass, args.settle, "after")
                events = hass.state("sensor.demo_router_router_events")
                print(f"router events afterwards: {events and events['state']}")
        finally:
            he.close()
    print(
        f"notify_flood notifies={half * 2} body_kib={args.body_kib} refused={refused} "
        f"rss_before_mib={before:.1f} rss_after_mib={after:.1f} "
        f"growth_mib={after - before:.1f}"
    )


if __name__ == "__main__":
    main()
