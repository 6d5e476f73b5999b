"""Benchmark: RADIUS accounting ingest, our MAG's listener against FreeRADIUS, in one run.

    python bench/accounting_ingest.py [--requests 20000] [--windows 32,128,512] [--pairs 5]

The load is the bench's own windowed generator (bench/radius_load.py), not radclient: requests
encoded and signed before the clock starts, 16 connected sockets, exactly W outstanding, every
answer verified, nothing retransmitted, its own CPU share reported (radclient -p 128 is itself
the bottleneck on two cores: it walks its whole request list between sends). The servers:

* ours: the MAG's accounting path (``AccountingListener`` + ``SqlStore`` committing in a
  writer process, exactly as ``netlmm-aaa mag`` runs them): verify, de-duplicate, commit the audit
  record and the radacct row, and only then send the Accounting-Response;
* FreeRADIUS 3.2, started by the bench on loopback with its own configuration directory and
  non-default ports, with its default accounting (the ``detail`` file).

For each window W, ``--pairs`` pairs run back to back, in turns first, each side sending N
fresh sessions. Per window: the medians of both rates and of the pairs' ratios (each pair ran a
moment apart, so the machine's drift cancels) with the ratios' spread, the medians of each
run's p50 / p99 answer latency, requests lost, and the cores the rest of the machine used
during the runs (busy time from /proc/stat less the servers' and the generator's). After the
windows, a radclient -p 128 pair as a cross-check, and the stores are counted: every answered
request stored exactly once (our accounting_records and radacct rows; FreeRADIUS's detail
records, no session twice, at least every answered one: it may store a request whose answer
came after the generator gave it up). Final line: JSON with all of it and the targets (ratio
>= 1.2 at W = 128 and >= 1.0 at every W; our p99 at W = 32 no worse than FreeRADIUS's; nothing
lost).

Our listener is configured without a per-NAS rate limit: the generator plays a whole NAS
population from one address (the default limit, 5,000/s per NAS, would drop the excess).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.percentiles import percentile  # noqa: E402
from bench.radius_load import accounting_starts, run_window  # noqa: E402
from testbed.freeradius import accounting_server  # noqa: E402
from testbed.netns import unwind_on_sigterm  # noqa: E402

SECRET = "bench-secret"
_TICKS = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def requests_file(path: Path, count: int, tag: str) -> None:
    with path.open("w") as out:
        for i in range(count):
            out.write(
                "Acct-Status-Type = Start\nAcct-Authentic = RADIUS\n"
                f'User-Name = "user{i % 5000:05d}@corp.example"\n'
                f'Calling-Station-Id = "02-00-{i >> 16 & 0xFF:02X}-{i >> 8 & 0xFF:02X}-'
                f'{i & 0xFF:02X}-01"\n'
                'Called-Station-Id = "02-AA-00-00-00-01:Corp"\n'
                f'Acct-Session-Id = "{tag}-{i:08X}"\nEvent-Timestamp = {1_700_000_000 + i}\n'
                "NAS-Port-Type = Ethernet\nNAS-IP-Address = 127.0.0.1\n"
                "Message-Authenticator = 0x00\n\n"
            )


def radclient(port: int, path: Path, parallel: int) -> tuple[float, float]:
    """Runs radclient over ``path``; (seconds, radclient's own CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    run = subprocess.run(
        ["radclient", "-q", "-s", "-p", str(parallel), "-r", "3", "-t", "5", "-f", str(path),
         f"127.0.0.1:{port}", "acct", SECRET],
        capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    seconds = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    summary = {
        k.strip(): v.strip()
        for k, _, v in (line.partition(":") for line in run.stdout.splitlines())
    }
    if run.returncode != 0 or summary.get("Lost") != "0" or summary.get("Rejected") != "0":
        raise RuntimeError(f"radclient: {run.returncode} {run.stdout[-800:]} {run.stderr[-800:]}")
    return seconds, cpu


def _ours(url: str, port: int, ready: Any) -> None:
    """The MAG's accounting path, in its own process (its own event loop and store writer)."""
    from netlmm_aaa.adapters.radius_accounting_listener import (
        AccountingListener,
        AccountingReceived,
        Nas,
    )
    from netlmm_aaa.persistence import migrate
    from netlmm_aaa.persistence.database import make_engine
    from netlmm_aaa.persistence.store import SqlStore
    from netlmm_aaa.services.accounting import StoreThenAcknowledge
    from netlmm_aaa.services.runtime import schedule_as_daemon, settle_heap

    store: SqlStore | None = None

    async def main() -> None:
        nonlocal store
        schedule_as_daemon(asyncio.get_running_loop())  # first, as the MAG daemon does
        migrate.upgrade(url)
        store = SqlStore(make_engine(url), "mag-bench", process=True)  # as in the MAG daemon
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

        def deliver(item: AccountingReceived) -> None:
            record(item, time.time())

        listener = AccountingListener(
            # The generator plays a whole NAS population from one address: no per-NAS rate
            # limit (a site's largest controller would be configured likewise).
            [Nas("bench", "127.0.0.1", SECRET.encode(), rate=1e9)],
            deliver=deliver,
            rejected=lambda *a: None,
        )
        record = StoreThenAcknowledge(store, listener)
        await listener.start("127.0.0.1", port)
        settle_heap()  # as the MAG does once ready
        ready.set()
        await stop.wait()
        listener.close()

    try:
        asyncio.run(main())
    finally:
        if store is not None:
            store.close()


def _process_cpu(pid: int) -> float:
    """CPU seconds of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _machine_busy() -> float:
    """CPU seconds the whole machine spent busy so far (all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / _TICKS


def _freeradius_pid(directory: Path) -> int:
    """The pid of the FreeRADIUS started with its configuration under ``directory``."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"freeradius") and str(directory).encode() in cmdline:
                return int(entry.name)
    raise RuntimeError("FreeRADIUS is not running")


def _detail_sessions(directory: Path, prefix: str) -> list[str]:
    """The Acct-Session-Ids FreeRADIUS wrote to its detail files that start with ``prefix``."""
    found = []
    for path in directory.rglob("detail-*"):
        for line in path.read_text(errors="replace").splitlines():
            name, _, value = line.strip().partition(" = ")
            if name == "Acct-Session-Id" and value.strip('"').startswith(prefix):
                found.append(value.strip('"'))
    return found


def main() -> None:
    unwind_on_sigterm()  # forked pyroute2 helpers must not run our clean-up
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000, help="per run")
    parser.add_argument("--windows", default="32,128,512", help="outstanding requests")
    parser.add_argument("--pairs", type=int, default=5, help="alternating pairs per window")
    parser.add_argument("--sockets", type=int, default=16)
    parser.add_argument("--radclient-requests", type=int, default=5_000,
                        help="the radclient -p 128 cross-check pair (0: none)")  # fmt: skip
    args = parser.parse_args()
    windows = [int(w) for w in args.windows.split(",")]
    for tool in ("radclient", "freeradius"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (Debian freeradius, freeradius-utils)")
    secret = SECRET.encode()
    with tempfile.TemporaryDirectory(prefix="netlmm-acct-bench-") as tmp:
        root = Path(tmp)
        ours_port, fr_port = _free_port(), _free_port()
        while fr_port + 1 == ours_port:
            fr_port = _free_port()
        context = multiprocessing.get_context("spawn")
        ready = context.Event()
        ours = context.Process(target=_ours, args=(f"sqlite:///{root / 'mag.db'}", ours_port,
                                                   ready))  # fmt: skip
        ours.start()
        if not ready.wait(60):
            sys.exit("our listener did not start")
        assert ours.pid is not None
        results: dict[int, dict[str, list[Any]]] = {}
        answered = {"ours": 0, "fr": 0}
        cross: dict[str, float] = {}
        try:
            with accounting_server(root / "freeradius", fr_port, SECRET) as detail:
                pids = {"ours": ours.pid, "fr": _freeradius_pid(root / "freeradius")}
                ports = {"ours": ours_port, "fr": fr_port + 1}
                for side in ("ours", "fr"):  # warm both up (caches, first pages, threads)
                    warm = accounting_starts(2_000, f"W{side[0].upper()}", secret, args.sockets)
                    run = run_window(("127.0.0.1", ports[side]), warm, secret, window=64,
                                     sockets=args.sockets)  # fmt: skip
                    answered[side] += run.answered
                for window in windows:
                    per: dict[str, list[Any]] = {k: [] for k in (
                        "ours", "fr", "ratio", "ours_p50", "ours_p99", "fr_p50", "fr_p99",
                        "ours_lost", "fr_lost", "generator", "other")}  # fmt: skip
                    for p in range(args.pairs):
                        rates = {}
                        for side in ("ours", "fr") if p % 2 == 0 else ("fr", "ours"):
                            tag = f"{side[0].upper()}{window}x{p}"
                            packets = accounting_starts(args.requests, tag, secret, args.sockets)
                            cpu0 = {k: _process_cpu(v) for k, v in pids.items()}
                            busy0 = _machine_busy()
                            run = run_window(("127.0.0.1", ports[side]), packets, secret,
                                             window=window, sockets=args.sockets)  # fmt: skip
                            busy = _machine_busy() - busy0
                            servers = sum(_process_cpu(v) - cpu0[k] for k, v in pids.items())
                            answered[side] += run.answered
                            rates[side] = run.per_second
                            per[f"{side}_p50"].append(percentile(run.latencies, 0.5) * 1e3)
                            per[f"{side}_p99"].append(percentile(run.latencies, 0.99) * 1e3)
                            per[f"{side}_lost"].append(run.lost)
                            per["generator"].append(run.cpu_share)
                            per["other"].append((busy - servers - run.cpu_seconds) / run.seconds)
                        per["ours"].append(rates["ours"])
                        per["fr"].append(rates["fr"])
                        per["ratio"].append(rates["ours"] / rates["fr"])
                        print(f"W={window} pair {p + 1}: ours {rates['ours']:,.0f}/s, "
                              f"FreeRADIUS {rates['fr']:,.0f}/s",
                              file=sys.stderr, flush=True)  # fmt: skip
                    results[window] = per
                if args.radclient_requests:
                    for side in ("ours", "fr"):
                        path = root / f"radclient-{side}.txt"
                        requests_file(path, args.radclient_requests, f"R{side[0].upper()}")
                        seconds, cpu = radclient(ports[side], path, 128)
                        answered[side] += args.radclient_requests
                        cross[f"{side}_per_s"] = args.radclient_requests / seconds
                        cross[f"{side}_radclient_cpu_share"] = cpu / seconds
                fr_sessions = _detail_sessions(detail, "")
        finally:
            if ours.pid is not None and ours.is_alive():
                ours.terminate()
                ours.join(30)
        import sqlite3

        with sqlite3.connect(root / "mag.db") as conn:
            rows, sessions = conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT session_id) FROM accounting_records "
                "WHERE outcome = 'accepted' AND session_id != 'probe'"
            ).fetchone()
            radacct = conn.execute("SELECT COUNT(*) FROM radacct").fetchone()[0]
    fr_stored = [s for s in fr_sessions if s != "probe"]
    median = statistics.median
    figures: dict[str, Any] = {}
    for window, per in results.items():
        figures[str(window)] = {
            "ours_per_s": round(median(per["ours"])),
            "freeradius_per_s": round(median(per["fr"])),
            "ratio": round(median(per["ratio"]), 3),
            "ratio_spread": [round(min(per["ratio"]), 3), round(max(per["ratio"]), 3)],
            "ours_p50_ms": round(median(per["ours_p50"]), 2),
            "ours_p99_ms": round(median(per["ours_p99"]), 2),
            "freeradius_p50_ms": round(median(per["fr_p50"]), 2),
            "freeradius_p99_ms": round(median(per["fr_p99"]), 2),
            "ours_lost": sum(per["ours_lost"]),
            "freeradius_lost": sum(per["fr_lost"]),
            "generator_cpu_share_max": round(max(per["generator"]), 3),
            "other_load_cores_median": round(median(per["other"]), 3),
        }
    ratios = {w: f["ratio"] for w, f in figures.items()}
    ours_stored_once = rows == sessions == answered["ours"] == radacct
    # FreeRADIUS may store a request whose answer came after the generator gave it up.
    fr_stored_once = len(fr_stored) == len(set(fr_stored)) >= answered["fr"]
    targets = {
        "ratio_w128_at_least_1_2": ratios.get("128", 0) >= 1.2,
        "ratio_every_window_at_least_1_0": all(r >= 1.0 for r in ratios.values()),
        "p99_w32_not_worse": "32" in figures
        and figures["32"]["ours_p99_ms"] <= figures["32"]["freeradius_p99_ms"],
        "nothing_lost": all(f["ours_lost"] == 0 for f in figures.values()),
        "stored_exactly_once": ours_stored_once,
    }
    print(json.dumps({
        "bench": "accounting_ingest",
        "requests_per_run": args.requests,
        "pairs": args.pairs,
        "sockets": args.sockets,
        "windows": figures,
        "radclient_cross_check": {k: round(v, 2) for k, v in cross.items()},
        "ours_answered": answered["ours"],
        "ours_stored": {"accounting_records": rows, "distinct_sessions": sessions,
                        "radacct": radacct},
        "freeradius_answered": answered["fr"],
        "freeradius_detail_records": len(fr_stored),
        "freeradius_stored_exactly_once": fr_stored_once,
        "targets": targets,
        "met": all(targets.values()),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
