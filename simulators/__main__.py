"""Run the simulated router and HE server on loopback: `python -m simulators`.

Prints the router's description URL (for the integration's manual setup), its control page, the
HE base URL (for TUNNELBROKER_API_URL) and the dns.he.net records served under that URL's
/dyn.dns.he.net (where the integration then sends dynamic DNS updates). Change the router's WAN
address while it runs on the control page (http://127.0.0.1:<router port>/, button "Change WAN
address") or with `curl -d external_ip=84.17.1.2 http://127.0.0.1:<router port>/sim/state`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .control_page import add_control_page
from .he import HeSimulator
from .igd import IgdSimulator, RouterShape
from .ssdp import SsdpResponder

DEMO_USERNAME = "demo"
DEMO_UPDATE_KEY = "demo-update-key"
DEMO_TUNNEL_ID = "100000"
DEMO_RECORD_KEY = "demo-dns-key"
_DEMO_RECORD_NAMES = ("home.example.org", "vpn.example.org", "mail.example.org")


def demo_tunnel_ids(count: int) -> list[str]:
    """Return the demo account's tunnel ids: 100000, 100001, ...

    One update key serves them all, as HE's default update key is the account's password.
    """
    return [str(int(DEMO_TUNNEL_ID) + n) for n in range(count)]


def demo_record_names(count: int) -> list[str]:
    """Return the demo's dynamic DNS names: home, vpn, mail.example.org, host3.example.org, ...

    Each has the key DEMO_RECORD_KEY: dns.he.net gives every name its own, one is easier to type.
    """
    return [
        _DEMO_RECORD_NAMES[n] if n < len(_DEMO_RECORD_NAMES) else f"host{n}.example.org"
        for n in range(count)
    ]


async def _serve(args: argparse.Namespace) -> None:
    router = IgdSimulator(
        RouterShape(args.shape),
        external_ip=args.wan_ip,
        **({"udn": args.udn} if args.udn else {}),
    )
    he = HeSimulator()
    he.state.rtt_seconds = args.he_rtt_ms / 1000
    for tunnel_id in demo_tunnel_ids(args.tunnels):
        he.add_tunnel(DEMO_USERNAME, tunnel_id, DEMO_UPDATE_KEY)
    for name in demo_record_names(args.records):
        he.add_record(name, DEMO_RECORD_KEY)
    ssdp: SsdpResponder | None = None
    if not args.no_router:
        add_control_page(router, he)
        location = await router.start(args.host, port=args.router_port)
        print(f"router description URL: {location}", flush=True)
        print(f"router control page: {router.url}/", flush=True)
        if args.ssdp:
            ssdp = SsdpResponder(args.host, location, router.udn, router.device_type)
            await ssdp.start()
    if not args.no_he:
        he_url = await he.start(port=args.he_port)
        ids = demo_tunnel_ids(args.tunnels)
        print(
            f"HE API URL: {he_url}  (username {DEMO_USERNAME}, update key "
            f"{DEMO_UPDATE_KEY}, tunnel id{'s' * (len(ids) > 1)} {', '.join(ids)})",
            flush=True,
        )
        if names := demo_record_names(args.records):
            print(
                f"dns.he.net records: {', '.join(names)} (key {DEMO_RECORD_KEY})",
                flush=True,
            )
    try:
        await asyncio.Event().wait()
    finally:
        if ssdp is not None:
            ssdp.close()
        await router.stop()
        await he.stop()


def main() -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__)
    parser.add_argument("--router-port", type=int, default=8125)
    parser.add_argument("--he-port", type=int, default=8124)
    parser.add_argument(
        "--he-rtt-ms",
        type=float,
        default=0.0,
        help="model a network round trip to HE (half before handling, half before answering)",
    )
    parser.add_argument("--wan-ip", default="84.17.0.10")
    parser.add_argument(
        "--udn", default="", help="the router's UDN (a test's rogue host copies one)"
    )
    parser.add_argument(
        "--tunnels",
        type=int,
        default=1,
        help="how many tunnels the demo account has (ids from 100000 up)",
    )
    parser.add_argument(
        "--records",
        type=int,
        default=1,
        help="how many dynamic DNS records dns.he.net has (home.example.org, vpn..., mail...)",
    )
    parser.add_argument(
        "--no-router", action="store_true", help="only HE (next to a real router)"
    )
    parser.add_argument(
        "--no-he", action="store_true", help="only the router (HE runs elsewhere)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the router's address: loopback, or one inside a test's network namespace",
    )
    parser.add_argument(
        "--ssdp",
        action="store_true",
        help="answer SSDP searches on --host (inside a test's network namespace only)",
    )
    parser.add_argument(
        "--shape", choices=[s.value for s in RouterShape], default="igd2-miniupnpd"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
