"""Benchmark: each tunnel backend this kernel has, as the daemons drive it.

    python bench/dataplane.py [--routes 100000] [--pairs 3] [--mebibytes 256]

Routes: N binding routes (/64 home prefixes toward one MAG) installed by the project's route
writer with the backend's encapsulation, against ``ip -batch`` installing the same routes
(bench/ip_batch.py) in a fresh namespace, in ``--pairs`` alternating pairs (which one goes first
alternates); rates are medians with min/max, ``ratio`` the median of the pairs' ratios.
Our side's CPU (this process: Python building messages plus the kernel's route work, which runs
in the sending thread) is reported beside it.

TCP: a bulk transfer CN -> MN through the LMA-MAG tunnel built by both data planes
(testbed/tunnel_pair.py), IPv6 home prefix and IPv4 home address, against the same
namespaces and hops with plain routes and no tunnel (``routing`` mode), alternating, medians of
``--pairs`` transfers. Needs root. Final line: JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pyroute2 import IPRoute  # noqa: E402

from bench.ip_batch import baseline_lines, install  # noqa: E402
from netlmm_aaa.core.lma_policy import TunnelMode  # noqa: E402
from netlmm_aaa.dataplane.backend_probe import make_backend, probe_backends  # noqa: E402
from netlmm_aaa.dataplane.netlink_routes import (  # noqa: E402
    ROUTE_PROTOCOL,
    NetlinkRouteWriter,
)
from netlmm_aaa.dataplane.tunnel_backend import AUTO_ORDER, Backend  # noqa: E402
from testbed.netns import Lab  # noqa: E402
from testbed.tunnel_pair import CN_V6, MN_V4, MN_V6, TunnelPair  # noqa: E402

LOCAL, PEER = "2001:db8:ff::1", "2001:db8:ff::11"


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _destinations(count: int) -> list[str]:
    return [f"{ipaddress.IPv6Address((0x20010DB8_0100 << 80) | (i << 64))}/64"
            for i in range(count)]  # fmt: skip


def _namespace(lab: Lab, name: str) -> str:
    ns = lab.ns(name)
    lab.veth(ns, "tr0", lab.ns(name + "p"), "tr0")
    lab.ip(ns, "-6", "addr", "add", f"{LOCAL}/64", "dev", "tr0", "nodad")
    return ns


def ours(lab: Lab, backend: Backend, destinations: list[str]) -> dict[str, float]:
    ns = _namespace(lab, "bw")
    tunnel = make_backend(backend, ns)
    with IPRoute(netns=ns, groups=0, flags=0) as ipr:
        oif = ipr.link_lookup(ifname="tr0")[0]
        tunnel.open(ipr, oif, LOCAL, (PEER,))
    writer = NetlinkRouteWriter.open(netns=ns, oif=oif, table=254,
                                protocol=ROUTE_PROTOCOL, tunnel=tunnel)  # fmt: skip
    try:
        usage = resource.getrusage(resource.RUSAGE_THREAD)
        start = time.perf_counter()
        failures = writer.replace([(d, PEER) for d in destinations])
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_THREAD)
        if failures:
            raise RuntimeError(f"{len(failures)} routes failed: {failures[:3]}")
        if len(writer.dump()) != len(destinations):
            raise RuntimeError("the dump does not hold every route")
    finally:
        writer.close()
        tunnel.close()
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return {"routes_per_s": len(destinations) / seconds, "cpu_share": cpu / seconds}


def baseline(lab: Lab, backend: Backend, destinations: list[str], tmp: Path) -> float:
    ns = _namespace(lab, "bi")
    with baseline_lines(ns, backend.value, destinations, LOCAL, PEER) as lines:
        return len(destinations) / install(lab, ns, lines, tmp)


def tcp(mode: TunnelMode, backend: Backend, mebibytes: int) -> dict[str, float]:
    """One transfer per family through a fresh pair; Mbit/s."""
    lab = Lab()
    try:
        pair = TunnelPair(lab, mode, backend)
        pair.build()
        asyncio.run(pair.start())
        try:
            rates = {}
            for family, destination in (("ipv6", MN_V6), ("ipv4", MN_V4)):
                result = pair.bulk_tcp("cn", "mn", destination, mebibytes)
                if result.get("received") != mebibytes << 20:
                    raise RuntimeError(f"{backend.value} {family}: {result}")
                rates[family] = result["mbit_s"]
            if not pair.ping("mn", CN_V6):
                raise RuntimeError("no uplink")
            return rates
        finally:
            asyncio.run(pair.close())
    finally:
        lab.close()


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 1), "min": round(min(values), 1),
            "max": round(max(values), 1)}  # fmt: skip


def bench_backend(backend: Backend, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    destinations = _destinations(args.routes)
    our_rates: list[float] = []
    cpu: list[float] = []
    ip_rates: list[float] = []
    ratios: list[float] = []
    for pair in range(args.pairs):
        lab = Lab()
        try:
            order = ("ours", "ip") if pair % 2 == 0 else ("ip", "ours")
            got: dict[str, float] = {}
            for side in order:
                if side == "ours":
                    measured = ours(lab, backend, destinations)
                    got["ours"] = measured["routes_per_s"]
                    cpu.append(measured["cpu_share"])
                else:
                    got["ip"] = baseline(lab, backend, destinations, tmp)
            our_rates.append(got["ours"])
            ip_rates.append(got["ip"])
            ratios.append(got["ours"] / got["ip"])
            progress(f"{backend.value} routes pair {pair + 1}: ours {got['ours']:.0f}/s, "
                     f"ip -batch {got['ip']:.0f}/s")  # fmt: skip
        finally:
            lab.close()
    tunnel: dict[str, list[float]] = {"ipv6": [], "ipv4": []}
    plain: dict[str, list[float]] = {"ipv6": [], "ipv4": []}
    for pair in range(args.pairs):
        runs = [(TunnelMode.IP6IP6, tunnel), (TunnelMode.ROUTING, plain)]
        for mode, into in runs if pair % 2 == 0 else runs[::-1]:
            for family, rate in tcp(mode, backend, args.mebibytes).items():
                into[family].append(rate)
        progress(f"{backend.value} tcp pair {pair + 1}: tunnel {tunnel['ipv6'][-1]:.0f}/"
                 f"{tunnel['ipv4'][-1]:.0f}, plain {plain['ipv6'][-1]:.0f}/"
                 f"{plain['ipv4'][-1]:.0f} Mbit/s (IPv6/IPv4)")  # fmt: skip
    return {
        "routes_per_s": round(statistics.median(our_rates)),
        "routes_per_s_spread": _summary(our_rates),
        "writer_cpu_share": round(statistics.median(cpu), 2),
        "ip_batch_routes_per_s": round(statistics.median(ip_rates)),
        "ip_batch_routes_per_s_spread": _summary(ip_rates),
        "ratio": round(statistics.median(ratios), 3),
        "tcp_mbit_s": {f: round(statistics.median(v)) for f, v in tunnel.items()},
        "veth_tcp_mbit_s": {f: round(statistics.median(v)) for f, v in plain.items()},
        "tcp_ratio": {f: round(statistics.median(tunnel[f]) / statistics.median(plain[f]), 3)
                      for f in tunnel},  # fmt: skip
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--mebibytes", type=int, default=256)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("dataplane: needs root (network namespaces, bpf)", file=sys.stderr)
        return 2
    probes = {p.backend: p for p in probe_backends()}
    result: dict[str, Any] = {"bench": "dataplane", "kernel": platform.release(),
                              "routes": args.routes, "pairs": args.pairs, "backends": {},
                              "unavailable": {}}  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="netlmm-bench-"))
    try:
        for backend in AUTO_ORDER:
            probe = probes[backend.value]
            if not probe.available:
                result["unavailable"][backend.value] = probe.reason
                progress(f"{backend.value}: not on this kernel ({probe.reason})")
                continue
            result["backends"][backend.value] = bench_backend(backend, args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["targets"] = {"ratio": 0.8, "tcp_ratio": 0.5}
    print(json.dumps(result))
    return 0 if result["backends"] else 1


if __name__ == "__main__":
    sys.exit(main())
