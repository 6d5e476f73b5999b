"""Benchmark: the hardening suite's load figures with the real daemons (security-tests.md L1, L2,
L4), on the namespace test bed.

    python bench/flood.py [--mns 10000] [--storm 1000] [--pps 10000] [--seconds 10]

1. L1: ``--mns`` accounting Starts to MAG1 (pipelined, 64 outstanding): time until every node
   has a binding at the LMA, accounting answer latency p50/p99.
2. L2: ``--storm`` of them move to MAG2 (Starts in shuffled order): time until all are at MAG2.
3. L4: a valid Start's time to binding with no load (baseline, median of 5), then during a
   flood of invalid RADIUS and truncated PBUs at ``--pps`` (median of 5 over the flood).

Final line: JSON with the figures; ``ratio`` = flood / baseline time to binding; target: time to
binding under 1 s during the flood (``flood_start_to_binding_ms`` < 1000).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from testbed.load import (  # noqa: E402
    LoadLab,
    accounting_request,
    exchange_all,
    flood,
    flood_counts,
    load_lab,
    station_mac,
)
from testbed.netns import unwind_on_sigterm  # noqa: E402

NAS = ("127.0.0.1", 1813)


def _start_to_binding(ll: LoadLab, index: int) -> float:
    user = f"probe{index}@example.org"
    sock = ll.accounting("mag1")
    began = time.perf_counter()
    exchange_all(sock, [accounting_request(station_mac(500_000 + index), user, f"P{index}")],
                 NAS, timeout=10)  # fmt: skip
    sock.close()
    while ll.binding(user) is None:
        if time.perf_counter() - began > 10:
            raise TimeoutError(f"{user} not bound after 10 s")
        time.sleep(0.005)
    return time.perf_counter() - began


def main() -> int:
    # SIGTERM unwinds like Ctrl-C, so the namespaces and daemons are removed.
    unwind_on_sigterm()  # forked pyroute2 helpers must not run our clean-up
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mns", type=int, default=10_000)
    parser.add_argument("--storm", type=int, default=1_000)
    parser.add_argument("--pps", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="netlmm-flood-") as tmp, \
            load_lab(Path(tmp), ("mag1", "mag2")) as ll:  # fmt: skip
        now = int(time.time())
        starts = [accounting_request(station_mac(i), f"mn{i}@example.org", f"L{i}", stamp=now,
                                     identifier=i % 256) for i in range(args.mns)]  # fmt: skip
        print(f"L1: {args.mns} Starts to MAG1 ...", file=sys.stderr)
        sock = ll.accounting("mag1")
        began = time.monotonic()
        latencies = exchange_all(sock, starts, NAS, timeout=600)
        sock.close()
        while ll.binding_count() < args.mns:
            time.sleep(0.05)
        register_s = time.monotonic() - began
        print(f"L2: {args.storm} handovers to MAG2 ...", file=sys.stderr)
        movers = list(range(args.storm))
        random.Random(5213).shuffle(movers)
        storm = [accounting_request(station_mac(i), f"mn{i}@example.org", f"S{i}", stamp=now,
                                    identifier=k % 256) for k, i in enumerate(movers)]  # fmt: skip
        sock = ll.accounting("mag2")
        began = time.monotonic()
        exchange_all(sock, storm, NAS, window=128, timeout=300)
        sock.close()
        wanted = {f"mn{i}@example.org" for i in range(args.storm)}
        while sum(1 for b in ll.bindings() if b["mn_id"] in wanted and b["mag"] == "mag2") < len(
            wanted
        ):
            time.sleep(0.25)
        storm_s = time.monotonic() - began
        print("L4: baseline, then the flood ...", file=sys.stderr)
        idle = [_start_to_binding(ll, i) for i in range(5)]
        proc = flood(ll, "mag1", args.seconds, args.pps)
        time.sleep(1.0)
        busy = []
        for i in range(5):
            busy.append(_start_to_binding(ll, 10 + i))
            time.sleep(max(0.0, (args.seconds - 2.0) / 5 - busy[-1]))
        counts = flood_counts(proc)
        sent = counts["radius_forged"] + counts["radius_unknown_source"] + counts["pbu_malformed"]
        rejected_rows = ll.rows("mag1", "SELECT COUNT(*) FROM accounting_records"
                                " WHERE outcome = 'rejected'")[0][0]  # fmt: skip
    q = statistics.quantiles(latencies, n=100)
    figures = {
        "mns": args.mns,
        "register_all_s": round(register_s, 2),
        "registrations_per_s": round(args.mns / register_s),
        "accounting_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "accounting_p99_ms": round(q[98] * 1000, 2),
        "storm": args.storm,
        "storm_settled_s": round(storm_s, 2),
        "flood_pps": round(sent / counts["seconds"]),
        "flood_packets": int(sent),
        "flood_audit_rows": rejected_rows,
        "idle_start_to_binding_ms": round(statistics.median(idle) * 1000, 1),
        "flood_start_to_binding_ms": round(statistics.median(busy) * 1000, 1),
        "flood_start_to_binding_max_ms": round(max(busy) * 1000, 1),
    }
    figures["ratio"] = round(figures["flood_start_to_binding_ms"]
                             / max(figures["idle_start_to_binding_ms"], 0.1), 2)  # fmt: skip
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
