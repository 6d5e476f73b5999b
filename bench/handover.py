"""Benchmark: N handovers on the real 802.1X test bed (the demo's), alternating MAG1 <-> MAG2.

    python bench/handover.py --runs 10     (root)

Per run: (a) ours = the new MAG's authenticated-station event -> PBA received, the LMA's route
already switched (targets p50 <= 2 ms, p99 <= 10 ms); (b) whole = the MN's link change -> the
first downlink packet it receives after the outage (targets p50 <= 20 ms, p99 <= 70 ms, the
RFC 4831 voice budget); (c) downlink packets lost at 1 packet/ms. The baseline measured in the
same runs is the 802.1X part we do not control (link up -> hostapd's event); ``ours_share`` is
ours / whole. hostapd ignores a MAC for ~5 s after removing it, so runs are 6 s apart.
Final line: JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testbed.demo import HandoverBed, guarded, missing_tools
from testbed.netns import require_netns


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    if missing_tools():
        print(f"handover bench: missing {missing_tools()}", file=sys.stderr)
        return 2
    require_netns()
    guarded(sys.stderr)
    bed = HandoverBed(lambda text: print(text, file=sys.stderr, flush=True))
    runs = []
    try:
        bed.setup()
        for i in range(args.runs):
            if i:
                time.sleep(6)
            result = bed.handover()
            runs.append(result)
            print(f"run {i + 1}: to {result['to']}: ours {result['ours_ms']} ms, whole "
                  f"{result['whole_ms']} ms, lost {result['downlink_lost']}", file=sys.stderr)  # fmt: skip
    finally:
        bed.close()
    ours = [r["ours_ms"] for r in runs if r["ours_ms"] is not None]
    whole = [r["whole_ms"] for r in runs if r["whole_ms"] is not None]
    l2 = [
        r["steps"]["link_up_to_event"] for r in runs if r["steps"]["link_up_to_event"] is not None
    ]
    lost = [r["downlink_lost"] for r in runs]
    ours_p50 = statistics.median(ours) if ours else None
    whole_p50 = statistics.median(whole) if whole else None
    print(json.dumps({
        "bench": "handover",
        "runs": len(runs),
        "ours_ms_p50": ours_p50,
        "ours_ms_p99": pct(ours, 0.99),
        "whole_ms_p50": whole_p50,
        "whole_ms_p99": pct(whole, 0.99),
        "downlink_lost_median": statistics.median(lost) if lost else None,
        "baseline_8021x_ms_p50": statistics.median(l2) if l2 else None,
        "ours_share": round(ours_p50 / whole_p50, 3) if ours_p50 and whole_p50 else None,
        "targets": {"ours_ms_p50": 2, "ours_ms_p99": 10, "whole_ms_p50": 20, "whole_ms_p99": 70},
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
