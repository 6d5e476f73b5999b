"""Load and flood scenarios on the PMIPv6 test bed, with the real daemons (the hardening suite's
L tests and ``bench/flood.py`` share them).

:func:`load_lab` starts our LMA and one or two MAG daemons (``netlmm-aaa mag``) in namespaces,
each MAG with a RADIUS accounting listener on 127.0.0.1:1813 inside its namespace for the NAS
``wlc`` (127.0.0.1). The test process plays the NAS through sockets opened in those namespaces
(:meth:`LoadLab.accounting`), pipelining Accounting-Requests (:func:`exchange_all`).
:func:`flood` runs a paced sender of invalid RADIUS and PBU traffic in a namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pyroute2 import netns as pr_netns

from netlmm_aaa.wire.radius_accounting import encode_accounting_request
from testbed.netns import Lab, lab
from testbed.pmip import LMAA, MAG_ADDR, REPO, WLC_NAS, PmipLab

SECRET = b"s3cret"


def accounting_request(mac: str, user: str, session: str, *, status: int = 1,
                       stamp: int | None = None, identifier: int = 0,
                       secret: bytes = SECRET) -> bytes:  # fmt: skip
    """An 802.1X session's Accounting-Request as a WLAN controller sends it."""

    def u32(value: int) -> bytes:
        return struct.pack("!I", value)

    attributes = [
        (40, u32(status)), (1, user.encode()), (44, session.encode()),
        (31, mac.upper().replace(":", "-").encode()), (30, b"02-00-00-00-0a-01:corp"),
        (45, u32(1)), (55, u32(int(time.time()) if stamp is None else stamp)), (61, u32(19)),
    ]  # fmt: skip
    return encode_accounting_request(attributes, secret, identifier)


def station_mac(i: int) -> str:
    return f"02:10:{(i >> 16) & 0xFF:02x}:{(i >> 8) & 0xFF:02x}:{i & 0xFF:02x}:01"


@dataclass
class LoadLab:
    lab: Lab
    pmip: PmipLab
    tmp: Path
    mags: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def database(self, mag: str) -> Path:
        return self.tmp / f"{mag}.db"

    def accounting(self, mag: str, source: str = "127.0.0.1") -> socket.socket:
        """A UDP socket inside ``mag``'s namespace, for its accounting listener."""
        sock = pr_netns.create_socket(self.pmip.ns[mag], socket.AF_INET, socket.SOCK_DGRAM, 0)
        sock.bind((source, 0))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        return sock  # type: ignore[no-any-return]

    def bindings(self) -> list[dict[str, object]]:
        reply = self.pmip.lma_control({"command": "bindings"})
        return list(reply["bindings"]) if reply else []  # type: ignore[call-overload]

    def binding_count(self) -> int:
        """How many bindings the LMA holds (cheap: no listing)."""
        reply = self.pmip.lma_control({"command": "status"})
        return int(reply["bindings"]) if reply else 0  # type: ignore[call-overload]

    def binding(self, mn_id: str) -> dict[str, object] | None:
        """One node's binding at the LMA, or None."""
        reply = self.pmip.lma_control({"command": "bindings", "mn_id": mn_id})
        found = list(reply["bindings"]) if reply else []  # type: ignore[call-overload]
        return dict(found[0]) if found else None

    def rows(self, mag: str, sql: str, *args: object) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.database(mag)) as conn:
            return conn.execute(sql, args).fetchall()

    def lma_rows(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.tmp / "lma.db") as conn:
            return conn.execute(sql, args).fetchall()

    def routes(self, role: str, *argv: str) -> list[str]:
        out = self.lab.ip(self.pmip.ns[role], "-6", *argv)
        return [line for line in out.splitlines() if line.strip()]


@contextlib.contextmanager
def load_lab(tmp: Path, mags: tuple[str, ...] = ("mag1",), *,
             tables: str = WLC_NAS) -> Iterator[LoadLab]:  # fmt: skip
    """The LMA and the MAG daemons ``mags`` (their NAS tables ``tables``), ready; everything
    stopped and removed afterwards."""
    with lab() as L:
        t = PmipLab(L, tmp)
        t.build(mag_dataplane=True, patch_panel=True)
        t.write_config()
        t.start_lma()
        ll = LoadLab(L, t, tmp)
        for mag in mags:
            config = t.write_mag_config(mag, keys='ipv4 = false\nmetrics_listen = "127.0.0.1:9813"',
                                        tables=tables)  # fmt: skip
            log = tmp / f"{mag}.log"
            with log.open("ab") as out:
                ll.mags[mag] = L.spawn(
                    t.ns[mag], [sys.executable, "-m", "netlmm_aaa", "mag", "--config",
                                str(config)], stdout=out, stderr=out,
                    env=dict(os.environ, PYTHONPATH=str(REPO)),
                )  # fmt: skip
        for mag, proc in ll.mags.items():
            log = tmp / f"{mag}.log"
            deadline = time.monotonic() + 30
            while "ready" not in log.read_text():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"MAG {mag} did not start: {log.read_text()[-3000:]}")
                time.sleep(0.05)
        try:
            yield ll
        finally:
            for proc in ll.mags.values():
                proc.terminate()
            for proc in ll.mags.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=20)


def exchange_all(sock: socket.socket, packets: list[bytes], destination: tuple[str, int],
                 *, window: int = 64, timeout: float = 30.0) -> list[float]:  # fmt: skip
    """Send ``packets`` (Identifiers ``i % 256``) keeping ``window`` unanswered; returns each
    answer's latency in seconds. Raises TimeoutError if some stay unanswered."""
    assert window <= 256
    sent_at: dict[int, tuple[int, float]] = {}  # identifier -> (index, time)
    latencies: list[float] = [0.0] * len(packets)
    answered = 0
    next_index = 0
    deadline = time.monotonic() + timeout
    while answered < len(packets):
        while next_index < len(packets) and len(sent_at) < window:
            ident = packets[next_index][1]
            if ident in sent_at:
                break
            sent_at[ident] = (next_index, time.perf_counter())
            sock.sendto(packets[next_index], destination)
            next_index += 1
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{len(packets) - answered} of {len(packets)} unanswered")
        sock.settimeout(left)
        try:
            answer = sock.recv(4096)
        except TimeoutError:
            continue
        entry = sent_at.pop(answer[1], None)
        if entry is not None:
            latencies[entry[0]] = time.perf_counter() - entry[1]
            answered += 1
    return latencies


_FLOOD = r"""
import json, os, socket, struct, sys, time
seconds, pps, lmaa, mag_address = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
forged = bytes.fromhex(sys.argv[5])
known = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); known.bind(("127.0.0.1", 0))
stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); stranger.bind(("127.0.0.3", 0))
mh = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 135); mh.bind((mag_address, 0))
garbage = bytes.fromhex("3b0105000000") + os.urandom(10)  # a PBU cut short
counts = {"radius_forged": 0, "radius_unknown_source": 0, "pbu_malformed": 0}
start = time.perf_counter(); sent = 0
while (elapsed := time.perf_counter() - start) < seconds:
    due = int(elapsed * pps)
    while sent < due:
        kind = sent % 3
        try:
            if kind == 0:
                known.sendto(forged, ("127.0.0.1", 1813)); counts["radius_forged"] += 1
            elif kind == 1:
                stranger.sendto(forged, ("127.0.0.1", 1813)); counts["radius_unknown_source"] += 1
            else:
                mh.sendto(garbage, (lmaa, 0)); counts["pbu_malformed"] += 1
        except OSError:
            pass
        sent += 1
    time.sleep(0.0005)
counts["seconds"] = time.perf_counter() - start
print(json.dumps(counts))
"""


def flood(ll: LoadLab, mag: str, seconds: float, pps: int) -> subprocess.Popen[bytes]:
    """Start a paced flood from ``mag``'s namespace: forged RADIUS (wrong secret) from the NAS's
    address, RADIUS from an unknown source, and truncated PBUs to the LMA, in equal shares.
    Its stdout ends with a JSON line of the counts sent."""
    forged = accounting_request(station_mac(999_999), "mallory@example.org", "FLOOD",
                                secret=b"guessed")  # fmt: skip
    return ll.lab.spawn(
        ll.pmip.ns[mag],
        [sys.executable, "-c", _FLOOD, str(seconds), str(pps), LMAA, MAG_ADDR[mag],
         forged.hex()],
        stdout=subprocess.PIPE,
    )  # fmt: skip


def flood_counts(proc: subprocess.Popen[bytes]) -> dict[str, float]:
    out, _ = proc.communicate(timeout=120)
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


_REPLAY_FLOOD = r"""
import json, socket, sys, time
seconds, datagram = float(sys.argv[1]), bytes.fromhex(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sock.bind(("127.0.0.1", 0))
sock.setblocking(False)
sent = 0; refused = 0; start = time.perf_counter(); cpu = time.process_time()
while time.perf_counter() - start < seconds:
    for _ in range(256):
        try:
            sock.sendto(datagram, ("127.0.0.1", 1813)); sent += 1
        except OSError:
            refused += 1
print(json.dumps({"copies": sent, "refused": refused, "seconds": time.perf_counter() - start,
                  "cpu_s": time.process_time() - cpu}))
"""


def replay_flood(ll: LoadLab, mag: str, seconds: float, datagram: bytes) -> subprocess.Popen[bytes]:
    """Start an unpaced flood of copies of one (valid, captured) ``datagram`` from the NAS's
    address in ``mag``'s namespace, as fast as one process can send; its stdout ends with a
    JSON line: copies sent, sends the kernel refused, seconds, CPU seconds."""
    return ll.lab.spawn(
        ll.pmip.ns[mag], [sys.executable, "-c", _REPLAY_FLOOD, str(seconds), datagram.hex()],
        stdout=subprocess.PIPE,
    )  # fmt: skip
