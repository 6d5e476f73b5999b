"""Benchmark: the real LMA registering N mobile nodes (with route programming) against
``ip -batch`` installing N equivalent routes, in network namespaces, in one run.

    python bench/lma_registration.py --bindings 100000 [--rtt-samples 1000] [--restart]
                                     [--rss-bindings 1000000]

A MAG driver (this process, a raw socket inside the MAG namespace, this project's codec) sends
PBUs for N distinct MN-IDs with up to ``--window`` outstanding and waits for every PBA; a PBA
leaves the LMA only after its route is in the kernel, so PBAs received = bindings installed.
Before that, ``--rtt-samples`` registrations one at a time give the single-registration RTT
(PBU sent -> PBA received, route installed). ``ip -6 -force -batch`` then installs N routes of
the same kind (the LMA's tunnel backend, see bench/ip_batch.py) in a fresh namespace.
``--restart`` kills the LMA with SIGKILL and times the restart until it answers again with every
binding reloaded and the kernel reconciled. ``--rss-bindings`` measures the resident memory of the
LMA core holding that many bindings (in a child process). Needs root. Final line: JSON.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pyroute2 import netns as pr_netns  # noqa: E402

from bench.ip_batch import baseline_lines, install  # noqa: E402
from bench.percentiles import percentile  # noqa: E402
from netlmm_aaa.dataplane.backend_probe import auto_choice, probe_backends  # noqa: E402
from netlmm_aaa.wire.mobility_header import (  # noqa: E402
    IPPROTO_MH,
    encode_mobility_header,
)
from tests.lma_support import ZERO_HNP, pbu  # noqa: E402
from tests.netns.topology import Lab  # noqa: E402

LMAA, MAG = "2001:db8:ff::1", "2001:db8:ff::11"


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def make_pbus(prefix: str, count: int) -> list[bytes]:
    return [
        encode_mobility_header(
            pbu(i & 0xFFFF, 900, mn_id=f"{prefix}{i}@example.org".encode(), hnps=(ZERO_HNP,), hi=1),
            source=MAG,
            destination=LMAA,
        )
        for i in range(count)
    ]


def namespaces(lab: Lab) -> tuple[str, str]:
    """The LMA's namespace (forwarding on, as the daemon requires) and the MAG driver's, one
    link between them; returns (lma, mag)."""
    lma_ns, mag_ns = lab.ns("blma"), lab.ns("bmag")
    lab.veth(lma_ns, "tr0", mag_ns, "tr0")
    lab.ip(lma_ns, "-6", "addr", "add", f"{LMAA}/64", "dev", "tr0", "nodad")
    lab.ip(mag_ns, "-6", "addr", "add", f"{MAG}/64", "dev", "tr0", "nodad")
    lab.sysctl(lma_ns, "ipv6/conf/all/forwarding", "1")
    return lma_ns, mag_ns


def bench_bed(lab: Lab, tmp: Path) -> tuple[str, subprocess.Popen[bytes], Path, socket.socket]:
    """The LMA daemon answering in its namespace (pool 2001:db8::/32, files in ``tmp``) and the
    driver's socket in the MAG's: (LMA namespace, LMA process, control socket, driver socket)."""
    lma_ns, mag_ns = namespaces(lab)
    proc, sock_path = start_lma(lab, lma_ns, tmp, "2001:db8::/32")
    control(sock_path, {"command": "status"}, timeout=60)
    return lma_ns, proc, sock_path, mag_socket(mag_ns)


def mag_socket(ns: str) -> socket.socket:
    """The driver's raw Mobility Header socket at the MAG's address in ``ns``, with a receive
    buffer for a window's worth of PBAs."""
    sock = pr_netns.create_socket(ns, socket.AF_INET6, socket.SOCK_RAW, IPPROTO_MH)
    sock.bind((MAG, 0))
    sock.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE
    return sock  # type: ignore[no-any-return]


def start_lma(lab: Lab, ns: str, tmp: Path, pool: str) -> tuple[subprocess.Popen[bytes], Path]:
    config = tmp / "lma.toml"
    sock = tmp / "lma.sock"
    config.write_text(
        f"""
[lma]
name = "bench"
address = "{LMAA}"
transport_device = "tr0"
database = "sqlite:///{tmp / "lma.db"}"
control_socket = "{sock}"
[lma.pools]
prefix = "{pool}"
[lma.timers]
heartbeat_interval = 0
[[lma.mag]]
name = "mag1"
addresses = ["{MAG}"]
"""
    )
    with open(tmp / "lma.log", "ab") as log:
        proc = lab.spawn(
            ns,
            [sys.executable, "-m", "netlmm_aaa", "lma", "--config", str(config)],
            stdout=log,
            stderr=log,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
    return proc, sock


def control(sock: Path, request: dict[str, object], timeout: float = 600) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(str(sock))
                s.sendall(json.dumps(request).encode() + b"\n")
                data = b""
                while not data.endswith(b"\n"):
                    chunk = s.recv(1 << 20)
                    if not chunk:
                        break
                    data += chunk
                return json.loads(data)  # type: ignore[no-any-return]
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def drive(
    sock: socket.socket, messages: list[bytes], window: int, prefix: str
) -> tuple[float, int, list[float], int]:
    """Send every PBU with at most ``window`` outstanding, retransmitting (with the next
    sequence number, as a MAG does) after 1 s; returns (seconds, accepted, rtts, retransmits)."""
    sent_at: dict[int, float] = {}
    first_sent: dict[int, float] = {}
    retransmits = 0
    rtts: list[float] = []
    accepted = 0
    next_index = 0
    received = 0
    start = time.perf_counter()
    sock.setblocking(False)
    while received < len(messages):
        while next_index < len(messages) and next_index - received < window:
            # The clock before the send: the LMA's loop runs above this driver and may answer
            # while the driver is still inside sendto (the PBU's delivery wakes it on this CPU).
            sent_at[next_index] = first_sent[next_index] = time.perf_counter()
            sock.sendto(messages[next_index], (LMAA, 0))
            next_index += 1
        ready, _, _ = select.select([sock], [], [], 1.0)
        if not ready:
            now = time.perf_counter()
            late = [i for i, t in sent_at.items() if now - t > 1.0]
            if not late and now - start > 600:
                raise TimeoutError(f"stuck at {received}/{len(messages)} PBAs")
            for i in late:
                retransmits += 1
                again = pbu((i + retransmits) & 0xFFFF, 900, hi=1, hnps=(ZERO_HNP,),
                            mn_id=f"{prefix}{i}@example.org".encode())  # fmt: skip
                sock.sendto(encode_mobility_header(again, source=MAG, destination=LMAA), (LMAA, 0))
                sent_at[i] = now
            continue
        while True:
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                break
            now = time.perf_counter()
            # A minimal look at the PBA (this driver shares the CPU with the LMA, so it must be
            # cheap): MH type 6, status at octet 6, the MN-ID option first at octet 12 (the LMA
            # puts it there, RFC 5213 §5.3.6); the index in "<prefix><index>@example.org" names
            # the PBU.
            if len(data) < 16 or data[2] != 6 or data[12] != 8:
                continue
            ident = data[15 : 15 + data[13] - 1]
            index = int(ident.split(b"@")[0].lstrip(b"abcdefghijklmnopqrstuvwxyz"))
            status = data[6]
            if sent_at.pop(index, None) is None:
                continue
            rtts.append((now - first_sent.pop(index)) * 1000)
            received += 1
            accepted += status < 128
    return time.perf_counter() - start, accepted, rtts, retransmits


def ip_batch(lab: Lab, count: int, tmp: Path, backend: str) -> float:
    ns = lab.ns("ipb")
    peer = lab.ns("ipbp")
    lab.veth(ns, "tr0", peer, "tr0")
    lab.ip(ns, "-6", "addr", "add", f"{LMAA}/64", "dev", "tr0", "nodad")
    destinations = [f"{ipaddress.IPv6Address((0x20010DB8_2000 << 80) | (i << 64))}/64"
                    for i in range(count)]  # fmt: skip
    with baseline_lines(ns, backend, destinations, LMAA, MAG) as lines:
        return install(lab, ns, lines, tmp)


def rss_of_bindings(count: int) -> dict[str, float]:
    code = f"""
import resource, sys, time
sys.path.insert(0, {str(REPO)!r})
from tests.lma_support import MAG1_ADDR, T0, make_lma, pbu, ZERO_HNP
from netlmm_aaa.core.events import MobilityMessageReceived
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) * 1024
before = rss()
lma = make_lma(prefix_pool='2001:db8::/32', ipv4_pool=None)
start = time.perf_counter()
for i in range({count}):
    m = pbu(1, 900, mn_id=f'user{{i}}@example.org'.encode(), hnps=(ZERO_HNP,), hi=1)
    lma.handle(MobilityMessageReceived(message=m, source=MAG1_ADDR, destination='2001:db8:ff::1'), T0)
elapsed = time.perf_counter() - start
assert len(lma) == {count}
print(rss() - before, rss(), elapsed)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    delta, total, elapsed = out.stdout.split()
    return {
        "rss_bytes": int(total),
        "rss_delta_bytes": int(delta),
        "core_registrations_per_s": round(count / float(elapsed)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bindings", type=int, default=100_000)
    parser.add_argument("--rtt-samples", type=int, default=1000)
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--restart", action="store_true", help="also time kill -9 + restart")
    parser.add_argument("--rss-bindings", type=int, default=0, help="core RSS at this many")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("lma_registration: needs root (network namespaces)", file=sys.stderr)
        return 2
    result: dict[str, object] = {"bench": "lma_registration", "bindings": args.bindings}
    lab = Lab()
    tmp = Path(tempfile.mkdtemp(prefix="netlmm-bench-"))
    try:
        lma_ns, proc, sock_path, mag = bench_bed(lab, tmp)

        progress(f"single registrations: {args.rtt_samples}")
        _, ok1, rtts, _ = drive(mag, make_pbus("rtt", args.rtt_samples), 1, "rtt")
        progress(f"building {args.bindings} PBUs")
        messages = make_pbus("user", args.bindings)
        progress(f"bulk: {args.bindings} registrations, window {args.window}")
        seconds, ok2, bulk_rtts, retransmits = drive(mag, messages, args.window, "user")
        routes = subprocess.run(["ip", "-n", lma_ns, "-6", "route", "show", "proto", "213"],
                                capture_output=True, text=True).stdout.count("\n")  # fmt: skip
        progress(f"bulk done in {seconds:.2f} s; {routes} routes in the LMA namespace")
        if ok1 + ok2 != args.rtt_samples + args.bindings or routes != ok1 + ok2:
            raise RuntimeError(f"accepted {ok1 + ok2}, routes {routes}")
        result |= {
            "bindings_per_s": round(args.bindings / seconds),
            "bulk_seconds": round(seconds, 2),
            "rtt_p50_ms": round(statistics.median(rtts), 3),
            "rtt_p99_ms": round(percentile(rtts, 0.99), 3),
            "bulk_rtt_p50_ms": round(statistics.median(bulk_rtts), 2),
            "bulk_retransmissions": retransmits,
        }
        if args.restart:
            control(sock_path, {"command": "flush"})
            proc.kill()
            proc.wait()
            progress("LMA killed (SIGKILL); restarting")
            start = time.perf_counter()
            proc, sock_path = start_lma(lab, lma_ns, tmp, "2001:db8::/32")
            status = control(sock_path, {"command": "status"}, timeout=900)
            result["restart_reconcile_s"] = round(time.perf_counter() - start, 2)
            result["restart_bindings"] = status["bindings"]
            for line in (tmp / "lma.log").read_text(errors="replace").splitlines()[-40:]:
                if "bindings" in line or "ready" in line:
                    progress(f"  lma: {line.strip()}")
        mag.close()
        backend = auto_choice(probe_backends()) or "routing"
        result["backend"] = backend
        progress(f"ip -batch: {args.bindings} routes ({backend})")
        batch_seconds = ip_batch(lab, args.bindings, tmp, backend)
        result["ip_batch_routes_per_s"] = round(args.bindings / batch_seconds)
        result["ratio"] = round((args.bindings / seconds) / (args.bindings / batch_seconds), 3)
        if args.rss_bindings:
            progress(f"core RSS with {args.rss_bindings} bindings")
            result |= {f"core_{k}" if not k.startswith("core") else k: v
                       for k, v in rss_of_bindings(args.rss_bindings).items()}  # fmt: skip
            result["rss_bindings"] = args.rss_bindings
        result["targets"] = {
            "bindings_per_s": 20000, "ratio": 0.6, "rtt_p50_ms": 0.5, "rtt_p99_ms": 2,
            "rss_bytes_1M": 1 << 30, "restart_reconcile_s_1M": 60,
        }  # fmt: skip
    finally:
        lab.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
