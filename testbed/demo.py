"""``netlmm-aaa demo``: a live 802.1X handover on real components, in network namespaces.

FreeRADIUS (PEAP), two hostapd ``driver=wired`` authenticators with our MAG beside each, our LMA,
a correspondent node, and a mobile node running nothing but wpa_supplicant, its kernel's IPv6
autoconfiguration (SLAAC from the MAG's Router Advertisements) and a stock DHCPv4 client: the
test bed sets no address or route on it. The MN authenticates at MAG1; a downlink probe (one UDP
datagram per millisecond from the CN) runs while its cable moves to MAG2's port and it
re-authenticates; the summary gives its addresses and default routes as read from the node
before and after, the step timings, the packets lost and the mobility messages the MN sent
(none), counted from a capture of its link.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from prometheus_client.parser import text_string_to_metric_families
from pyroute2 import netns as pr_netns

from netlmm_aaa.wire.capture import find_mobility_message, read_frames
from testbed import TestbedUnavailable
from testbed.freeradius import make_raddb
from testbed.netns import Lab, require_netns, wait_for
from testbed.pmip import (
    HNP,
    LMA_V4,
    LMAA,
    MAG_ADDR,
    METRICS_PORT,
    MN_V4,
    REPO,
    ROUTER_V4,
    PmipLab,
)

TOOLS = ("ip", "hostapd", "wpa_supplicant", "freeradius", "tcpdump", "nft", "udhcpc")
HOSTAPD = """interface=acc0
driver=wired
ctrl_interface={ctrl}
ieee8021x=1
eapol_version=2
use_pae_group_addr=1
own_ip_addr=127.0.0.1
nas_identifier={mag}.example
auth_server_addr=127.0.0.1
auth_server_port=1812
auth_server_shared_secret=acct-secret
acct_server_addr=127.0.0.1
acct_server_port=1813
acct_server_shared_secret=acct-secret
radius_request_cui=1
"""
SUPPLICANT = """ctrl_interface={ctrl}
ap_scan=0
eapol_version=2
fast_reauth=1
network={{
  key_mgmt=IEEE8021X
  eap=PEAP
  identity="mn1@example.org"
  anonymous_identity="anonymous@example.org"
  password="pw1"
  phase2="auth=MSCHAPV2"
  eapol_flags=0
}}
"""
MAG = """[mag]
name = "{mag}"
proxy_coa = "{pcoa}"
lma_address = "{lmaa}"
transport_device = "tr0"
access_interfaces = ["acc0"]
ipv4_router = "{router}"
access_technology = 3
database = "sqlite:///{db}"
metrics_listen = "127.0.0.1:{metrics}"

[[mag.hostapd]]
control = "{ctrl}/acc0"
interface = "acc0"

[mag.radius_relay]
server = "{radius}"
server_secret = "testing123"

[[mag.nas]]
name = "hostapd-{mag}"
address = "127.0.0.1"
secret = "acct-secret"
interface = "acc0"
"""
PROBE_PORT = 40000


class _Probe:
    """CN -> MN downlink datagrams, one per millisecond, sequence-numbered."""

    def __init__(self, cn_ns: str, mn_ns: str, address: str) -> None:
        self.address = address
        self.tx = pr_netns.create_socket(cn_ns, socket.AF_INET6, socket.SOCK_DGRAM, 0)
        self.rx = pr_netns.create_socket(mn_ns, socket.AF_INET6, socket.SOCK_DGRAM, 0)
        self.rx.bind((address, PROBE_PORT))
        self.rx.settimeout(0.2)
        self.sent: list[float] = []
        self.received: dict[int, float] = {}
        self._stop = threading.Event()
        self._stop_receiving = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._send, daemon=True).start()
        threading.Thread(target=self._receive, daemon=True).start()

    def _send(self) -> None:
        start = time.perf_counter()
        seq = 0
        while not self._stop.is_set():
            target = start + seq / 1000
            delay = target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            self.sent.append(time.time())
            with contextlib.suppress(OSError):  # no route for a moment: counted as lost
                self.tx.sendto(seq.to_bytes(4, "big"), (self.address, PROBE_PORT))
            seq += 1

    def _receive(self) -> None:
        while not self._stop_receiving.is_set():
            try:
                data = self.rx.recv(64)
            except OSError:
                continue
            self.received[int.from_bytes(data[:4], "big")] = time.time()

    def stop(self) -> None:
        """Stop sending, then receive what is still in flight before stopping the receiver."""
        self._stop.set()
        time.sleep(0.3)
        self._stop_receiving.set()
        time.sleep(0.3)
        self.tx.close()
        self.rx.close()


def _audit(db: Path, kind: str, after: float) -> float | None:
    """UTC time of the first audit record of ``kind`` at or after ``after`` in a SQLite store."""
    if not db.exists():
        return None
    with sqlite3.connect(db) as conn:
        for (at,) in conn.execute("SELECT at FROM audit_trail WHERE kind = ? ORDER BY at", (kind,)):
            ts = time.mktime(time.strptime(at[:19], "%Y-%m-%d %H:%M:%S")) - time.timezone
            ts += float("0." + at[20:]) if len(at) > 20 else 0.0
            if ts >= after - 0.001:
                return ts
    return None


def _wpa_request(control: Path, command: str) -> str:
    """One request on wpa_supplicant's control socket (what wpa_cli does)."""
    local = Path(tempfile.mkdtemp(prefix="netlmm-wpa-")) / "client"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(local))
        try:
            sock.settimeout(5)
            sock.connect(str(control))
            sock.send(command.encode())
            return sock.recv(4096).decode(errors="replace").strip()
        finally:
            local.unlink(missing_ok=True)
            local.parent.rmdir()


def _ms(a: float | None, b: float | None) -> float | None:
    return round((b - a) * 1000, 1) if a is not None and b is not None else None


def missing_tools() -> list[str]:
    """The programs the bed needs that this machine lacks."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


class HandoverBed:
    """The demo's test bed: set up once, then move the MN between the MAGs as often as wanted."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.tmp = Path(tempfile.mkdtemp(prefix="netlmm-demo-"))
        self.lab = Lab()
        self.t = PmipLab(self.lab, self.tmp)
        self.at = "mag1"
        self.wpa = self.tmp / "wpa"
        self.capture = self.tmp / "mn.pcap"
        self.transport = self.tmp / "transport.pcap"
        self.lease = ""  # the MN's DHCPv4 client's 'bound' line

    def serving(self) -> str | None:
        reply: Any = self.t.lma_control({"command": "bindings"}, quiet=True)
        bindings = reply["bindings"] if reply else []
        return bindings[0]["mag"] if bindings and bindings[0]["state"] == "active" else None

    def setup(self) -> None:
        t, lab, tmp = self.t, self.lab, self.tmp
        self.progress("building namespaces: LMA, two MAGs, a patch panel, the MN and a CN")
        t.build(mag_dataplane=True, patch_panel=True, slaac=True)
        config = t.write_config()
        config.write_text(config.read_text().replace("alice@example.org", "mn1@example.org"))
        self.progress("starting the LMA")
        t.start_lma()
        self.progress("starting FreeRADIUS (PEAP)")
        # The node's RFC 6572 profile, in the Access-Accept that each MAG's relay reads
        # (hostapd authenticates through its MAG).
        profile = (f"PMIP6-Home-HN-Prefix := {HNP}\nPMIP6-Home-IPv4-HoA := {MN_V4}/32\n"
                   f"PMIP6-Home-LMA-IPv6-Address := {LMAA}\n")  # fmt: skip
        raddb = make_raddb(tmp / "radius", secret="testing123", user="mn1@example.org",
                           password="pw1", cui="cui-mn1", reply=profile)  # fmt: skip
        with (tmp / "radius.log").open("wb") as log:
            # Foreground with its normal log: -X (debugging) prints every attribute of every
            # packet, which costs the re-authentication milliseconds.
            lab.spawn(t.ns["lma"], ["freeradius", "-f", "-l", "stdout", "-d", str(raddb)],
                      stdout=log, stderr=log)  # fmt: skip
        if not wait_for(lambda: "Ready to process" in (tmp / "radius.log").read_text(), 30):
            raise TestbedUnavailable("FreeRADIUS did not start (see its log)")
        for mag in ("mag1", "mag2"):
            self.progress(f"starting {mag}: our MAG, then hostapd driver=wired")
            ctrl = tmp / f"hostapd-{mag}"
            mag_config = tmp / f"{mag}.toml"
            text = MAG.format(mag=mag, pcoa=MAG_ADDR[mag], lmaa=LMAA, router=ROUTER_V4,
                              db=tmp / f"{mag}.db", ctrl=ctrl, radius=LMA_V4,
                              metrics=METRICS_PORT)  # fmt: skip
            mag_config.write_text(text)
            mag_log = tmp / f"{mag}.log"
            with mag_log.open("ab") as log:
                lab.spawn(t.ns[mag], [sys.executable, "-m", "netlmm_aaa", "mag", "--config",
                                      str(mag_config)], stdout=log, stderr=log,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))  # fmt: skip
            if not wait_for(lambda mag_log=mag_log: "ready" in mag_log.read_text(), 30):
                raise TestbedUnavailable(f"{mag} did not start: {mag_log.read_text()[-500:]}")
            conf = tmp / f"hostapd-{mag}.conf"
            conf.write_text(HOSTAPD.format(ctrl=ctrl, mag=mag))
            lab.spawn(t.ns[mag], ["hostapd", str(conf)], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)  # fmt: skip
            if not wait_for(lambda ctrl=ctrl: (ctrl / "acc0").exists(), 15):
                raise TestbedUnavailable(f"hostapd of {mag} did not start")
        lab.capture(t.ns["mn"], "mn0", self.capture)
        self.progress("the mobile node authenticates at MAG1 (wpa_supplicant, PEAP)")
        (tmp / "supplicant.conf").write_text(SUPPLICANT.format(ctrl=self.wpa))
        lab.spawn(t.ns["mn"], ["wpa_supplicant", "-Dwired", "-i", "mn0", "-c",
                               str(tmp / "supplicant.conf")],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        if not wait_for(lambda: self.serving() == "mag1", 40):
            raise TestbedUnavailable("the MN was not registered at MAG1")
        self.progress("the MN configures itself: SLAAC from MAG1's Router Advertisement, "
                      "IPv4 from MAG1's DHCPv4 server (udhcpc)")  # fmt: skip
        if not wait_for(lambda: self.home_address() is not None, 20):
            raise TestbedUnavailable(f"the MN configured no address in {HNP} from the RAs: "
                                     f"{t.node_configuration()}")  # fmt: skip
        self.lease = t.dhcp(tmp)
        address = self.home_address()
        assert address is not None
        if not wait_for(lambda: t.ping("cn", address, count=1), 20):
            raise TestbedUnavailable("the CN cannot reach the MN through MAG1")

    def home_address(self) -> str | None:
        """The MN's own (SLAAC) address in its home network prefix, read from the node."""
        return self.t.home_address()

    def handover(self) -> dict[str, Any]:
        """Move the MN to the other MAG under a 1 packet/ms probe; returns the measurements."""
        target = "mag2" if self.at == "mag1" else "mag1"
        # The transport link, for the encapsulation the downlink really travels in.
        dumper = self.lab.capture(self.t.ns["tn"], "br0", self.transport, "ip6")
        address = self.home_address()
        if address is None:
            raise TestbedUnavailable("the MN has no home address")
        probe = _Probe(self.t.ns["cn"], self.t.ns["mn"], address)
        probe.start()
        time.sleep(0.5)
        link_up = self.t.move_cable("br2" if target == "mag2" else "br1")
        # The supplicant reacts to the new link at once (as on a carrier change): told over
        # its control socket, not by starting wpa_cli, whose start-up would count as ours.
        # (after its carrier change has reached it: a request racing that event is lost)
        time.sleep(0.003)
        _wpa_request(self.wpa / "mn0", "REAUTHENTICATE")
        moved = wait_for(lambda: self.serving() == target, 1.0, interval=0.002)
        if not moved:  # the EAPOL-Start fell into the link's first instant: once more
            _wpa_request(self.wpa / "mn0", "REAUTHENTICATE")
            moved = wait_for(lambda: self.serving() == target, 30, interval=0.002)
        # Until the downlink flows again (at once, normally; a loaded machine may take longer).
        moved_at = time.time()
        wait_for(lambda: any(r >= moved_at for r in list(probe.received.values())), 5.0,
                 interval=0.01)  # fmt: skip
        time.sleep(0.5)
        probe.stop()
        dumper.terminate()
        dumper.wait(timeout=10)
        if not moved:
            raise TestbedUnavailable(f"the binding did not move to {target}")
        self.at = target
        time.sleep(0.5)  # let the stores commit their audit rows
        # Lost: not received, sent after the link change and before the last packet that did
        # arrive (a packet still in flight when the probe stopped is not a handover loss).
        last = max(probe.received, default=-1)
        lost = [i for i, s in enumerate(probe.sent)
                if s >= link_up and i not in probe.received and i < last]  # fmt: skip
        # The first packet delivered after the outage (earlier ones still took the old path).
        resumed_from = (max(lost) + 1) if lost else 0
        first_packet = min(
            (r for i, r in probe.received.items() if i >= resumed_from and r >= link_up),
            default=None,
        )
        event = _audit(self.tmp / f"{target}.db", "station_attached", link_up)
        pba = _audit(self.tmp / f"{target}.db", "pbu_sent", link_up)
        switched = _audit(self.tmp / "lma.db", "handover", link_up)
        return {
            "to": target,
            "steps": {
                "link_up_to_event": _ms(link_up, event),
                "event_to_route_switched": _ms(event, switched),
                "route_switched_to_pba": _ms(switched, pba),
                "pba_to_first_packet": _ms(pba, first_packet),
                "total": _ms(link_up, first_packet),
            },
            "ours_ms": _ms(event, pba),
            "whole_ms": _ms(link_up, first_packet),
            "downlink_lost": len(lost),
            "downlink_sent": len(probe.sent),
        }

    def data_plane(self, serving: str) -> dict[str, Any]:
        """What each daemon reports of its data plane (its /metrics), and the downlink
        packets the capture of the transport link shows tunnelled from the LMA to ``serving``,
        by outer next header."""
        nodes: dict[str, Any] = {}
        for role in ("lma", "mag1", "mag2"):
            info = next(
                (s.labels for f in text_string_to_metric_families(self.t.scrape(role))
                 for s in f.samples if s.name == "netlmm_dataplane_info"),
                None,
            )  # fmt: skip
            nodes[role] = {"backend": info["backend"], "mode": info["mode"]} if info else None
        outer: dict[str, int] = {}
        source = socket.inet_pton(socket.AF_INET6, LMAA)
        target = socket.inet_pton(socket.AF_INET6, MAG_ADDR[serving])
        with self.transport.open("rb") as stream:
            for frame in read_frames(stream):
                ip6 = frame.data[14:]
                if (
                    frame.data[12:14] == b"\x86\xdd"
                    and ip6[8:24] == source
                    and ip6[24:40] == target
                ):
                    outer[str(ip6[6])] = outer.get(str(ip6[6]), 0) + 1
        return {**nodes, "lma_to_serving_mag_packets_by_next_header": outer}

    def mobility_messages_from_mn(self) -> int:
        self.lab.exec(self.t.ns["mn"], "sync")
        count = 0
        with self.capture.open("rb") as stream:
            for frame in read_frames(stream):
                try:
                    count += find_mobility_message(frame) is not None
                except Exception:
                    continue
        return count

    def close(self) -> None:
        self.lab.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def guarded(err: TextIO) -> tuple[int, Any]:
    """Install a SIGTERM handler that interrupts this process only (not forked helpers)."""
    owner = os.getpid()

    def interrupted(signum: int, frame: Any) -> None:
        if os.getpid() != owner:  # a forked helper (pyroute2 netns sockets) being stopped
            os._exit(0)
        raise KeyboardInterrupt

    return owner, signal.signal(signal.SIGTERM, interrupted)


def run_demo(*, as_json: bool, out: TextIO, err: TextIO) -> int:
    missing = missing_tools()
    if missing:
        print(f"netlmm-aaa demo: missing programs: {', '.join(missing)} "
              "(run `bash .ci/setup` as root first)", file=err)  # fmt: skip
        return 2
    try:
        require_netns()
    except TestbedUnavailable as exc:
        print(f"netlmm-aaa demo: {exc}", file=err)
        return 2

    def progress(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=err if as_json else out, flush=True)

    _, previous = guarded(err)
    bed = HandoverBed(progress)
    try:
        bed.setup()
        before = bed.t.node_configuration()
        progress(f"registered at MAG1; the MN configured {before['ipv6']} and {before['ipv4']}, "
                 f"default routes {before['default_routes']}")  # fmt: skip
        progress("1 packet/ms downlink probe running; handover: the MN's cable moves to MAG2's "
                 "port; it re-authenticates there")  # fmt: skip
        result = bed.handover()
        after = bed.t.node_configuration()
        mobility = bed.mobility_messages_from_mn()
        steps = result["steps"]
        # Read from the node: the same global IPv6 addresses (none deprecated), IPv4 address
        # and default routes before and after the move; and it had them at all.
        unchanged = (
            before == after
            and bool(before["ipv6"])
            and bool(before["ipv4"])
            and len(before["default_routes"]) == 2
            and not after["ipv6_deprecated"]
        )
        summary = {
            "address_unchanged": unchanged,
            "mn_address_before": before["ipv6"],
            "mn_address_after": after["ipv6"],
            "mn_ipv4_before": before["ipv4"],
            "mn_ipv4_after": after["ipv4"],
            "mn_default_routes_before": before["default_routes"],
            "mn_default_routes_after": after["default_routes"],
            "serving_mag_after": result["to"],
            "handover_ms": steps,
            "downlink_lost": result["downlink_lost"],
            "downlink_sent": result["downlink_sent"],
            "mn_mobility_messages": mobility,
            "data_plane": bed.data_plane(result["to"]),
        }
        progress(f"MN addresses before {before['ipv6'] + before['ipv4']}, after "
                 f"{after['ipv6'] + after['ipv4']}: "
                 f"{'unchanged' if unchanged else 'CHANGED'}")  # fmt: skip
        for name, value in steps.items():
            progress(f"  {name.replace('_', ' ')}: {value} ms")
        plane = summary["data_plane"]
        progress(f"data plane: LMA {plane['lma']}, MAGs {plane['mag1']} / {plane['mag2']}; "
                 "tunnelled LMA -> new MAG packets by next header: "
                 f"{plane['lma_to_serving_mag_packets_by_next_header']}")  # fmt: skip
        progress(f"downlink packets lost during the handover: {result['downlink_lost']}; "
                 f"mobility messages sent by the MN: {mobility}")  # fmt: skip
        if as_json:
            print(json.dumps(summary), file=out)
        return 0 if summary["address_unchanged"] and mobility == 0 else 1
    except TestbedUnavailable as exc:
        print(f"netlmm-aaa demo: {exc}", file=err)
        return 3
    except KeyboardInterrupt:
        print("netlmm-aaa demo: interrupted; cleaning up", file=err)
        return 130
    finally:
        bed.close()
        signal.signal(signal.SIGTERM, previous)
