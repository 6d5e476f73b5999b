"""Benchmark: RADIUS accounting ingest, our MAG's listener against FreeRADIUS, in one run.

    python bench/accounting_ingest.py --requests 20000 [--parallel 128] [--db sqlite|postgresql]

FreeRADIUS's ``radclient -p 128`` sends N Accounting-Request Starts (802.1X sessions, distinct
Acct-Session-Ids, Event-Timestamp, Message-Authenticator) to

* ours: the MAG's accounting path (``AccountingListener`` + ``SqlStore`` committing on a
  thread, exactly as ``netlmm-aaa mag`` runs them): verify, de-duplicate, commit the audit
  record, and only then send the Accounting-Response;
* FreeRADIUS 3.2, started by the bench on loopback with its own configuration directory and
  non-default ports, with its default accounting (the ``detail`` file).

Both answer every request (radclient counts failures). Each round runs both back to back, in
turns first. Final line: JSON with the medians ``ours_per_s`` and ``freeradius_per_s``, and
``ratio`` (target >= 1.0): the median of the rounds' ratios (each round's pair ran a moment
apart, so the machine's drift cancels; ``ratio_of_medians`` is given too).

On a 2-core machine, with N = 20,000, both sides are bound by radclient itself (busy ~93% of
its run, ``radclient_cpu_share_median``: between sends it walks its whole list of remaining
requests with a zero-timeout select per entry, a cost growing with N squared), so the ratio is
~1 give or take the machine's drift; with a few thousand requests radclient waits for answers
and the servers' answer time counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
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

from testbed.freeradius import accounting_server  # noqa: E402
from testbed.netns import unwind_on_sigterm  # noqa: E402

SECRET = "bench-secret"


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
    """The MAG's accounting path, in its own process (its own event loop and store thread)."""
    from netlmm_aaa.adapters.radius_accounting_listener import (
        AccountingListener,
        AccountingReceived,
        Nas,
    )
    from netlmm_aaa.persistence import migrate
    from netlmm_aaa.persistence.database import make_engine
    from netlmm_aaa.persistence.store import SqlStore
    from netlmm_aaa.services.accounting import StoreThenAcknowledge
    from netlmm_aaa.services.runtime import quick_thread_switches, settle_heap

    quick_thread_switches()  # as the MAG daemon does
    migrate.upgrade(url)
    store = SqlStore(make_engine(url), "mag-bench")  # a thread, as in the MAG daemon

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

        def deliver(item: AccountingReceived) -> None:
            record(item, time.time())

        listener = AccountingListener(
            [Nas("bench", "127.0.0.1", SECRET.encode())],
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
        store.close()


def main() -> None:
    unwind_on_sigterm()  # forked pyroute2 helpers must not run our clean-up
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--parallel", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds; medians")
    args = parser.parse_args()
    for tool in ("radclient", "freeradius"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (Debian freeradius, freeradius-utils)")
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
        ours_rates, fr_rates = [], []
        client_busy: list[float] = []  # radclient's CPU seconds per second of its run
        try:
            with accounting_server(root / "freeradius", fr_port, SECRET):
                for r in range(args.rounds):
                    # Each round is a pair run back to back, in turns first: the machine's
                    # drift then favours neither side.
                    rates: dict[str, float] = {}
                    busy: dict[str, float] = {}
                    for side in ("ours", "fr") if r % 2 == 0 else ("fr", "ours"):
                        path = root / f"{side}-{r}.txt"
                        requests_file(path, args.requests, f"{side[0].upper()}{r}")
                        port = ours_port if side == "ours" else fr_port + 1
                        seconds, cpu = radclient(port, path, args.parallel)
                        rates[side] = args.requests / seconds
                        busy[side] = cpu / seconds
                    ours_rates.append(rates["ours"])
                    fr_rates.append(rates["fr"])
                    client_busy += [busy["ours"], busy["fr"]]
                    print(f"round {r + 1}: ours {ours_rates[-1]:,.0f}/s, FreeRADIUS "
                          f"{fr_rates[-1]:,.0f}/s", file=sys.stderr, flush=True)  # fmt: skip
        finally:
            if ours.pid is not None and ours.is_alive():
                ours.terminate()
                ours.join(30)
        import sqlite3

        with sqlite3.connect(root / "mag.db") as conn:
            stored = conn.execute(
                "SELECT COUNT(*) FROM accounting_records WHERE outcome = 'accepted'"
            ).fetchone()[0]
    ours_p50, fr_p50 = statistics.median(ours_rates), statistics.median(fr_rates)
    round_ratios = [o / f for o, f in zip(ours_rates, fr_rates, strict=True)]
    print(json.dumps({
        "bench": "accounting_ingest",
        "requests": args.requests,
        "parallel": args.parallel,
        "rounds": args.rounds,
        "ours_per_s": round(ours_p50),
        "freeradius_per_s": round(fr_p50),
        # The median of the rounds' ratios: each compares two runs a moment apart.
        "ratio": round(statistics.median(round_ratios), 3),
        "round_ratios": [round(r, 3) for r in round_ratios],
        "ratio_of_medians": round(ours_p50 / fr_p50, 3),
        # ~1.0: the client is the bottleneck (it rarely waits for either server's answers).
        "radclient_cpu_share_median": round(statistics.median(client_busy), 2),
        "stored": stored,
        "all_stored": stored == args.requests * args.rounds,
        "target_ratio": 1.0,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
