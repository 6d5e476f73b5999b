"""A PMIPv6 test bed in network namespaces: LMA, two MAGs, a CN, an MN, a transport bridge.

The MAG data plane here is set up with iproute2 by the test (the MAG plugin arrives separately);
the MAGs' signalling is driven from the test process through sockets opened inside their
namespaces, with this project's codec. Addresses are documentation ranges only.

    MN mn0 ---- acc0 MAG1 tr0 --+                      (acc0 moves to MAG2 on a handover)
                     MAG2 tr0 --+-- br0 (ns tn) -- tr0 LMA cn0 ---- cn0 CN
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pyroute2 import netns as pr_netns

from netlmm_aaa.core.messages import MobilityMessage
from netlmm_aaa.wire.mobility_header import (
    IPPROTO_MH,
    decode_mobility_header,
    encode_mobility_header,
)
from testbed.netns import Lab

LMAA = "2001:db8:ff::1"
LMA_V4 = "192.0.2.1"
MAG_ADDR = {"mag1": "2001:db8:ff::11", "mag2": "2001:db8:ff::12"}
MAG_V4 = {"mag1": "192.0.2.11", "mag2": "192.0.2.12"}
HNP = "2001:db8:1:1::/64"
MN_V6 = "2001:db8:1:1::100"
MN_V4 = "203.0.113.10"
ROUTER_V4 = "203.0.113.1"
METRICS_PORT = 9813  # every daemon of the lab serves /metrics on 127.0.0.1 in its namespace
CN_V6 = "2001:db8:c::2"
CN_V4 = "198.51.100.2"
REPO = Path(__file__).resolve().parent.parent  # the checkout


_UDHCPC_SCRIPT = """#!/bin/sh
# udhcpc's stock script (/etc/udhcpc/default.script), its address and route part.
echo "$1 ip=$ip subnet=$subnet router=$router serverid=$serverid lease=$lease" >> {out}
case $1 in
    bound|renew)
        ip -4 addr flush dev $interface
        ip -4 addr add $ip/$subnet dev $interface
        ip -4 route replace default via ${{router%% *}} dev $interface onlink ;;
    deconfig)
        ip link set $interface up
        ip -4 addr flush dev $interface ;;
esac
"""


WLC_NAS = """
[[mag.nas]]
name = "wlc"
address = "127.0.0.1"
secret = "s3cret"
interface = "acc0"
"""
"""The NAS of most MAG configurations here: a controller on 127.0.0.1 serving acc0."""


def mag_config_text(
    mag: str = "mag1",
    *,
    database: str,
    keys: str = "",
    tables: str = WLC_NAS,
    access: tuple[str, ...] = ("acc0",),
    signalling: str = "ipv6",
) -> str:
    """A MAG's configuration in this test bed: its own address toward the LMA (``signalling``
    ipv6: Proxy-CoA and LMAA; ipv4: the IPv4 pair, RFC 5844 §4), ``tr0``, the ``access``
    interfaces, the IPv4 router, the store at ``database`` (a URL) and accounting on
    127.0.0.1; then ``keys`` (more ``[mag]`` keys) and ``tables`` (by default :data:`WLC_NAS`)."""
    own = (f'ipv4_proxy_coa = "{MAG_V4[mag]}"\nlma_address = "{LMA_V4}"' if signalling == "ipv4"
           else f'proxy_coa = "{MAG_ADDR[mag]}"\nlma_address = "{LMAA}"')  # fmt: skip
    interfaces = ", ".join(f'"{a}"' for a in access)
    return (
        f'[mag]\nname = "{mag}"\n{own}\ntransport_device = "tr0"\n'
        f'access_interfaces = [{interfaces}]\nipv4_router = "{ROUTER_V4}"\n'
        f'database = "{database}"\naccounting_listen = "127.0.0.1"\n{keys.strip()}\n{tables}'
    )


@dataclass
class PmipLab:
    lab: Lab
    tmp: Path
    ns: dict[str, str] = field(default_factory=dict)
    lma_proc: subprocess.Popen[bytes] | None = None
    config_path: Path | None = None
    backend: str = ""
    """The tunnel backend the stand-in MAGs use (set by :meth:`build`)."""

    # ------------------------------------------------------------------ topology
    def build(
        self, *, mag_dataplane: bool = False, patch_panel: bool = False, slaac: bool = False
    ) -> None:
        """The topology. ``mag_dataplane=True`` leaves the MAGs' forwarding to
        :class:`~netlmm_aaa.dataplane.mag_linux.MagLinuxDataPlane` (only transport addresses
        here) and points the MN at the fixed RFC 6543 router address. ``slaac=True`` (with
        the MAG daemons) sets nothing on the MN: its kernel configures its IPv6 address and
        default router from the MAG's Router Advertisements (``accept_ra``, ``autoconf``),
        and IPv4 comes from a DHCP client (:meth:`dhcp`)."""
        L = self.lab
        for role in ("lma", "mag1", "mag2", "mn", "cn", "tn"):
            self.ns[role] = L.ns(role)
        tn = self.ns["tn"]
        L.ip(tn, "link", "add", "br0", "type", "bridge")
        L.ip(tn, "link", "set", "br0", "up")
        for role in ("lma", "mag1", "mag2"):
            L.veth(self.ns[role], "tr0", tn, f"p{role}")
            L.ip(tn, "link", "set", f"p{role}", "master", "br0")
        lma = self.ns["lma"]
        L.ip(lma, "-6", "addr", "add", f"{LMAA}/64", "dev", "tr0", "nodad")
        L.ip(lma, "addr", "add", f"{LMA_V4}/24", "dev", "tr0")
        L.veth(lma, "cn0", self.ns["cn"], "cn0")
        L.ip(lma, "-6", "addr", "add", "2001:db8:c::1/64", "dev", "cn0", "nodad")
        L.ip(lma, "addr", "add", "198.51.100.1/24", "dev", "cn0")
        cn = self.ns["cn"]
        L.ip(cn, "-6", "addr", "add", f"{CN_V6}/64", "dev", "cn0", "nodad")
        L.ip(cn, "addr", "add", f"{CN_V4}/24", "dev", "cn0")
        L.ip(cn, "-6", "route", "add", "default", "via", "2001:db8:c::1")
        L.ip(cn, "route", "add", "default", "via", "198.51.100.1")
        for role in ("lma", "mag1", "mag2"):
            L.sysctl(self.ns[role], "ipv6/conf/all/forwarding", "1")
            L.sysctl(self.ns[role], "ipv4/ip_forward", "1")
        for mag in ("mag1", "mag2"):
            if mag_dataplane:
                L.ip(
                    self.ns[mag], "-6", "addr", "add", f"{MAG_ADDR[mag]}/64", "dev", "tr0", "nodad"
                )
                L.ip(self.ns[mag], "addr", "add", f"{MAG_V4[mag]}/24", "dev", "tr0")
            else:
                self._mag_transport(mag)
        if patch_panel:
            # Each MAG has its own access port into a "patch panel" namespace; the MN's cable
            # is plugged into MAG1's bridge and moves to MAG2's (802.1X frames cross the bridges
            # only with group_fwd_mask 8).
            sw = self.ns["sw"] = L.ns("sw")
            for n, mag in ((1, "mag1"), (2, "mag2")):
                L.ip(sw, "link", "add", f"br{n}", "type", "bridge", "stp_state", "0",
                     "group_fwd_mask", "8")  # fmt: skip
                L.ip(sw, "link", "set", f"br{n}", "up")
                L.veth(self.ns[mag], "acc0", sw, f"port{n}")
                L.ip(sw, "link", "set", f"port{n}", "master", f"br{n}")
            L.veth(self.ns["mn"], "mn0", sw, "cable")
            L.ip(sw, "link", "set", "cable", "master", "br1")
        else:
            # The MN's access link starts at MAG1.
            L.veth(self.ns["mn"], "mn0", self.ns["mag1"], "acc0")
        mn = self.ns["mn"]
        if slaac:
            L.sysctl(mn, "ipv6/conf/mn0/accept_ra", "1")
            L.sysctl(mn, "ipv6/conf/mn0/autoconf", "1")
            return
        L.ip(mn, "-6", "addr", "add", f"{MN_V6}/64", "dev", "mn0", "nodad")
        L.ip(mn, "addr", "add", f"{MN_V4}/24", "dev", "mn0")
        router = "fe80::200:5eff:fe00:5213" if mag_dataplane else "fe80::1"
        L.ip(mn, "-6", "route", "add", "default", "via", router, "dev", "mn0")
        L.ip(mn, "route", "add", "default", "via", ROUTER_V4, "dev", "mn0", "onlink")

    def write_mag_config(
        self,
        mag: str = "mag1",
        *,
        database: str | None = None,
        keys: str = "",
        tables: str = WLC_NAS,
        access: tuple[str, ...] = ("acc0",),
        signalling: str = "ipv6",
    ) -> Path:
        """``<tmp>/<mag>.toml`` (:func:`mag_config_text`), the store ``<tmp>/<mag>.db`` unless
        ``database`` names another URL."""
        path = self.tmp / f"{mag}.toml"
        url = database or f"sqlite:///{self.tmp / f'{mag}.db'}"
        path.write_text(mag_config_text(mag, database=url, keys=keys, tables=tables,
                                        access=access, signalling=signalling))  # fmt: skip
        return path

    def start_mag(
        self, config: Path, *, mag: str = "mag1", log: Path | None = None, timeout: float = 30
    ) -> subprocess.Popen[bytes]:
        """``netlmm-aaa mag --config CONFIG`` in ``mag``'s namespace, its output appended to
        ``log`` (default ``<tmp>/<mag>.log``); returns once the log shows one more "ready"
        than before (a restart reuses the log), raises with the log's end if it exits."""
        log = log or self.tmp / f"{mag}.log"
        readies = log.read_text().count("ready") if log.exists() else 0
        with log.open("ab") as out:
            proc = self.lab.spawn(
                self.ns[mag], [sys.executable, "-m", "netlmm_aaa", "mag", "--config", str(config)],
                stdout=out, stderr=out, env=dict(os.environ, PYTHONPATH=str(REPO)),
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while log.read_text().count("ready") <= readies:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"MAG {mag} did not start: {log.read_text()[-3000:]}")
            time.sleep(0.05)
        return proc

    def node_configuration(self) -> dict[str, list[str]]:
        """What the MN itself has configured, read from its kernel: global IPv6 addresses
        (with their state), IPv4 addresses, default routes of both families."""
        mn = self.ns["mn"]
        v6 = self.lab.ip(mn, "-6", "-o", "addr", "show", "dev", "mn0", "scope", "global")
        v4 = self.lab.ip(mn, "-4", "-o", "addr", "show", "dev", "mn0")
        return {
            "ipv6": sorted(re.findall(r"inet6 (\S+)", v6)),
            "ipv6_deprecated": sorted(re.findall(r"inet6 (\S+) .*deprecated", v6)),
            "ipv4": sorted(re.findall(r"inet (\S+)", v4)),
            "default_routes": sorted(
                " ".join(line.split()[:5])
                for family in ("-6", "-4")
                for line in self.lab.ip(mn, family, "route", "show", "default").splitlines()
            ),
        }

    def mac(self, role: str = "mn", device: str = "mn0") -> str:
        """The MAC of ``device`` in ``role``'s namespace, read from the kernel."""
        return self.lab.ip(self.ns[role], "link", "show", device).split("link/ether ")[1].split()[0]

    def nas_says(self, packet: bytes, *, mag: str = "mag1", source: str = "127.0.0.1",
                 timeout: float = 5.0) -> bytes:  # fmt: skip
        """Send a RADIUS Accounting-Request as a NAS at ``source`` in ``mag``'s namespace to the
        MAG's accounting listener (127.0.0.1:1813); returns the answer (socket.timeout if none
        comes within ``timeout`` seconds)."""
        sock = pr_netns.create_socket(self.ns[mag], socket.AF_INET, socket.SOCK_DGRAM, 0)
        try:
            sock.bind((source, 0))
            sock.settimeout(timeout)
            sock.sendto(packet, ("127.0.0.1", 1813))
            return sock.recv(4096)  # type: ignore[no-any-return]
        finally:
            sock.close()

    def home_address(self) -> str | None:
        """The MN's own (SLAAC) address in its home network prefix, read from the node."""
        for address in self.node_configuration()["ipv6"]:
            if ipaddress.IPv6Interface(address) in ipaddress.IPv6Network(HNP):
                return str(ipaddress.IPv6Interface(address).ip)
        return None

    def dhcp(self, script_dir: Path) -> str:
        """Run a stock DHCPv4 client (busybox udhcpc) once on the MN's link; it configures the
        lease it is given (address, default route) as its stock script does, leaving out the
        resolver file, which belongs to the host. Returns the client's 'bound' line."""
        script = script_dir / "udhcpc.sh"
        out = script_dir / "udhcpc.out"
        script.write_text(_UDHCPC_SCRIPT.format(out=out))
        script.chmod(0o755)
        self.lab.exec(self.ns["mn"], "udhcpc", "-i", "mn0", "-f", "-q", "-n", "-t", "5", "-T",
                      "1", "-s", str(script), check=False, timeout=20)  # fmt: skip
        lines = out.read_text().splitlines() if out.exists() else []
        return next((line for line in lines if line.startswith("bound ")), "")

    def _mag_transport(self, mag: str) -> None:
        """A stand-in MAG's transport: its tunnel to the LMA through the project's own tunnel
        backend (the one ``auto`` picks on this kernel), uplink rules by iproute2."""
        from pyroute2 import IPRoute

        from netlmm_aaa.core.lma_policy import TunnelMode
        from netlmm_aaa.dataplane.backend_probe import open_backend
        from netlmm_aaa.dataplane.netlink_routes import (
            ROUTE_PROTOCOL,
            NetlinkRouteWriter,
        )
        from netlmm_aaa.dataplane.tunnel_backend import Backend

        L, ns, pcoa = self.lab, self.ns[mag], MAG_ADDR[mag]
        L.ip(ns, "-6", "addr", "add", f"{pcoa}/64", "dev", "tr0", "nodad")
        L.ip(ns, "addr", "add", f"{MAG_V4[mag]}/24", "dev", "tr0")
        with IPRoute(netns=ns, groups=0, flags=0) as ipr:
            oif = ipr.link_lookup(ifname="tr0")[0]
            tunnel = open_backend(Backend.AUTO, TunnelMode.IP6IP6, ipr=ipr, netns=ns, oif=oif,
                                  local_address=pcoa, peers=(LMAA,))  # fmt: skip
            self.backend = tunnel.name
            writer = NetlinkRouteWriter.open(netns=ns, oif=oif, table=100,
                                        protocol=ROUTE_PROTOCOL, tunnel=tunnel)  # fmt: skip
            try:
                # Uplink: everything from the MN's addresses into the tunnel to the LMA.
                failed = writer.replace([("::/0", LMAA), ("0.0.0.0/0", LMAA)])
            finally:
                writer.close()
                tunnel.close()
            if failed:
                raise RuntimeError(f"{mag} uplink: {failed}")
        L.ip(ns, "-6", "rule", "add", "pref", "1000", "from", HNP, "iif", "acc0", "table", "100")
        L.ip(
            ns, "rule", "add", "pref", "1000", "from", f"{MN_V4}/32", "iif", "acc0", "table", "100"
        )

    def route_peer(self, role: str, destination: str, table: str = "main") -> str | None:
        """The tunnel peer (or gateway) of the route to ``destination`` in namespace ``role``,
        read from iproute2's text, whatever the backend: seg6 ``segs 1 [ PEER ]``, eBPF
        ``encap bpf xmit netlmm/1/LOCAL>PEER``, or ``via PEER``."""
        family = "-6" if ":" in destination else "-4"
        text = " ".join(
            self.lab.ip(self.ns[role], family, "route", "show", "table", table, destination).split()
        )
        patterns = (
            r"encap seg6 mode encap\.red segs 1 \[ (\S+) \]",
            r"encap bpf xmit netlmm/\d+/\S+?>(\S+)",
            r"via (?:inet6 )?(\S+)",
        )
        for pattern in patterns:
            found = re.search(pattern, text)
            if found:
                return found.group(1)
        return None

    def attach(self, mag: str) -> None:
        """The MAG side of an attachment: fixed router addresses first, then up, then routes."""
        L, ns = self.lab, self.ns[mag]
        L.ip(ns, "-6", "addr", "add", "fe80::1/64", "dev", "acc0", "nodad")
        L.ip(ns, "addr", "add", f"{ROUTER_V4}/32", "dev", "acc0")
        L.ip(ns, "link", "set", "acc0", "up")
        L.ip(ns, "-6", "route", "replace", HNP, "dev", "acc0")
        L.ip(ns, "route", "replace", f"{MN_V4}/32", "dev", "acc0", "src", ROUTER_V4)

    def move_cable(self, to_bridge: str) -> float:
        """Patch-panel handover: unplug the MN's cable and plug it into another MAG's bridge
        (netlink calls prepared beforehand, so the move itself takes well under a millisecond).
        Returns the time (``time.time()``) the cable is up on its new bridge."""
        from pyroute2 import IPRoute

        with IPRoute(netns=self.ns["sw"]) as ipr:
            cable = ipr.link_lookup(ifname="cable")[0]
            bridge = ipr.link_lookup(ifname=to_bridge)[0]
            ipr.link("set", index=cable, state="down")
            ipr.link("set", index=cable, master=bridge)
            ipr.link("set", index=cable, state="up")
            return time.time()

    def move_mn(self, src: str, dst: str) -> None:
        """L2 handover: the MN's access link moves from one MAG to the other."""
        self.lab.ip(self.ns[src], "link", "set", "acc0", "netns", self.ns[dst])
        self.attach(dst)

    # ------------------------------------------------------------------ LMA daemon
    def write_config(self, tunnel_mode: str = "ip6ip6", signalling: str = "dual") -> Path:
        """The LMA's configuration. ``signalling``: how the MAGs may reach it. ``dual``: over
        IPv6 or IPv4 (RFC 5844 §4), so the LMA needs a backend with IPv4 outer headers
        (``auto``: ebpf); ``ipv6``: the MAGs are known by IPv6 only and ``auto`` may take
        ip6tnl; ``ipv4``: by IPv4 only, and the LMA has no IPv6 address (an IPv4 transport)."""
        db = self.tmp / "lma.db"
        sock = self.tmp / "lma.sock"
        families = {"dual": (MAG_ADDR, MAG_V4), "ipv6": (MAG_ADDR,), "ipv4": (MAG_V4,)}[signalling]
        mag_addresses = {
            mag: ", ".join(f'"{addresses[mag]}"' for addresses in families) for mag in MAG_ADDR
        }
        lmaa = "" if signalling == "ipv4" else f'address = "{LMAA}"'
        text = f"""
[lma]
name = "lma1"
{lmaa}
ipv4_address = "{LMA_V4}"
transport_device = "tr0"
tunnel_mode = "{tunnel_mode}"
database = "sqlite:///{db}"
control_socket = "{sock}"
metrics_listen = "127.0.0.1:{METRICS_PORT}"

[lma.pools]
prefix = "2001:db8:1000::/48"
ipv4 = "203.0.113.0/24"
ipv4_default_router = "{ROUTER_V4}"

[lma.timers]
heartbeat_interval = 0

[[lma.mag]]
name = "mag1"
addresses = [{mag_addresses["mag1"]}]

[[lma.mag]]
name = "mag2"
addresses = [{mag_addresses["mag2"]}]

[[lma.mobile_node]]
mn_id = "alice@example.org"
home_network_prefix = "{HNP}"
ipv4_home_address = "{MN_V4}"
"""
        self.config_path = self.tmp / "lma.toml"
        self.config_path.write_text(text)
        return self.config_path

    def start_lma(self) -> None:
        assert self.config_path is not None
        env = dict(os.environ, PYTHONPATH=str(REPO))
        with open(self.tmp / "lma.log", "ab") as log:  # the child keeps its own descriptor
            self.lma_proc = self.lab.spawn(
                self.ns["lma"],
                [sys.executable, "-m", "netlmm_aaa", "lma", "--config", str(self.config_path)],
                stdout=log,
                stderr=log,
                env=env,
            )
        # Generous: under software emulation (the stock-kernel lane) the interpreter alone
        # takes seconds to import the daemon.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.lma_proc.poll() is not None:
                raise RuntimeError(f"LMA exited: {(self.tmp / 'lma.log').read_text()[-3000:]}")
            if self.lma_control({"command": "status"}, quiet=True):
                return
            time.sleep(0.1)
        raise RuntimeError(f"LMA not ready: {(self.tmp / 'lma.log').read_text()[-3000:]}")

    def scrape(self, namespace: str, port: int = 0) -> str:
        """``GET /metrics`` of a daemon listening on 127.0.0.1 inside ``namespace`` ('' if it
        does not answer)."""
        code = (
            "import urllib.request,sys;"
            f"sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:{port or METRICS_PORT}"
            "/metrics', timeout=5).read().decode())"
        )
        run = subprocess.run(
            ["ip", "netns", "exec", self.ns[namespace], sys.executable, "-c", code],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        return run.stdout if run.returncode == 0 else ""

    def lma_control(
        self, request: dict[str, object], quiet: bool = False
    ) -> dict[str, object] | None:
        import json

        path = str(self.tmp / "lma.sock")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect(path)
                s.sendall(json.dumps(request).encode() + b"\n")
                data = b""
                while not data.endswith(b"\n"):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            return json.loads(data)  # type: ignore[no-any-return]
        except OSError:
            if quiet:
                return None
            raise

    def kill_lma(self) -> None:
        assert self.lma_proc is not None
        self.lma_proc.kill()
        self.lma_proc.wait(timeout=10)

    # ------------------------------------------------------------------ MAG signalling driver
    def mag_socket(self, mag: str) -> socket.socket:
        sock = pr_netns.create_socket(self.ns[mag], socket.AF_INET6, socket.SOCK_RAW, IPPROTO_MH)
        sock.bind((MAG_ADDR[mag], 0))
        sock.settimeout(3)
        return sock  # type: ignore[no-any-return]

    def mag_udp_socket(self, mag: str) -> socket.socket:
        sock = pr_netns.create_socket(self.ns[mag], socket.AF_INET, socket.SOCK_DGRAM, 0)
        sock.bind((MAG_V4[mag], 5436))
        sock.settimeout(3)
        return sock  # type: ignore[no-any-return]

    @staticmethod
    def send(sock: socket.socket, mag: str, message: MobilityMessage) -> None:
        mh = encode_mobility_header(message, source=MAG_ADDR[mag], destination=LMAA)
        sock.sendto(mh, (LMAA, 0))

    @staticmethod
    def receive(sock: socket.socket, mag: str, kind: type | None = None) -> MobilityMessage:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            data, peer = sock.recvfrom(4096)
            message = decode_mobility_header(
                data,
                source=ipaddress.IPv6Address(peer[0]).packed,
                destination=ipaddress.IPv6Address(MAG_ADDR[mag]).packed,
            )
            if kind is None or type(message) is kind:
                return message
        raise TimeoutError(f"no {kind} at {mag}")

    # ------------------------------------------------------------------ probes
    def ping(self, src: str, dst: str, count: int = 3) -> bool:
        result = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                self.ns[src],
                "ping",
                "-c",
                str(count),
                "-i",
                "0.2",
                "-W",
                "1",
                dst,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return result.returncode == 0

    def uplink_marks(self, role: str) -> dict[str, int]:
        """What a MAG's ingress filter lets through and marks: ``"<mac> . <prefix or IPv4
        address>"`` -> the mark (the uplink table; ``NO_UPLINK`` for a downlink only prepared), read
        from nftables in ``role``'s namespace."""
        return uplink_marks(self.ns[role])


def uplink_marks(namespace: str) -> dict[str, int]:
    """:meth:`PmipLab.uplink_marks` of the MAG in ``namespace``."""
    marks: dict[str, int] = {}
    for name in ("stations6", "stations4"):
        argv = ["ip", "netns", "exec", namespace, "nft", "-j", "list", "map", "netdev",
                "netlmm_mag", name]  # fmt: skip
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout
        for item in json.loads(out)["nftables"]:
            for key, mark in item.get("map", {}).get("elem", []):
                mac, address = key["concat"]
                if isinstance(address, dict):
                    address = f"{address['prefix']['addr']}/{address['prefix']['len']}"
                marks[f"{mac} . {address}"] = int(mark)
    return marks
