"""One LMA and one MAG joined by a tunnel, each programmed by the project's own data plane.

    CN cn0 ---- cn0 LMA tr0 ====== tr0 MAG acc0 ---- mn0 MN

The LMA side is :class:`~netlmm_aaa.dataplane.lma_linux.LmaLinuxDataPlane` with one binding
(home prefix and IPv4 HoA toward the MAG), the MAG side
:class:`~netlmm_aaa.dataplane.mag_linux.MagLinuxDataPlane` with that station installed, both on
the tunnel backend asked for. Used by the data-plane tests and ``bench/dataplane.py``; addresses
are documentation ranges, namespaces carry the lab's random suffix.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field

from netlmm_aaa.core.actions import BindingSnapshot, StationBinding
from netlmm_aaa.core.events import Transport
from netlmm_aaa.core.lma_policy import TunnelMode
from netlmm_aaa.dataplane.lma_linux import LmaLinuxDataPlane
from netlmm_aaa.dataplane.mag_linux import FIXED_MAG_LINK_LOCAL, MagLinuxDataPlane
from netlmm_aaa.dataplane.port import RouteOperation
from netlmm_aaa.dataplane.tunnel_backend import Backend
from testbed.netns import Lab

LMAA = "2001:db8:ff::1"
PROXY_COA = "2001:db8:ff::2"
UNKNOWN_PEER = "2001:db8:ff::99"
#: The IPv4 transport (RFC 5844 §4): the LMA's and the MAG's IPv4 tunnel addresses.
LMA_T4 = "192.0.2.1"
MAG_T4 = "192.0.2.2"
HNP = "2001:db8:1:1::/64"
MN_V6 = "2001:db8:1:1::100"
MN_V4 = "203.0.113.10"
ROUTER_V4 = "203.0.113.1"
CN_V6 = "2001:db8:c::2"
CN_V4 = "198.51.100.2"
MN_ID = b"alice@example.org"
#: GRE mode: the key the MAG assigned (LMA -> MAG) and the one the LMA assigned (MAG -> LMA).
DOWNLINK_KEY = 0x0000_1234
UPLINK_KEY = 0x8765_4321


def binding(proxy_coa: str = PROXY_COA, gre: bool = False) -> BindingSnapshot:
    """The MN's binding as the LMA core would hand it to the data plane."""
    return BindingSnapshot(
        mn_id=MN_ID, home_network_prefixes=(HNP,), ipv4_home_address=MN_V4, mag="mag",
        proxy_coa=proxy_coa, signalling_address=proxy_coa,
        transport=Transport.IPV6 if ":" in proxy_coa else Transport.UDP4,
        link_layer_identifier=b"", access_technology=4, lifetime=3600, registered_utc=0.0,
        refreshed_utc=0.0, last_handover_utc=None, last_sequence=1, last_timestamp=None,
        gre_key_downlink=DOWNLINK_KEY if gre else None,
        gre_key_uplink=UPLINK_KEY if gre else None,
    )  # fmt: skip


@dataclass
class TunnelPair:
    """The four namespaces and both data planes (started)."""

    lab: Lab
    mode: TunnelMode
    backend: Backend
    mag_backend: Backend | None = None
    """The MAG's backend when it differs from the LMA's (interoperation)."""
    ipv4_transport: bool = False
    """The transport link has IPv4 addresses only (IPv6 stays enabled on the devices, without
    an address: the home prefixes' routes leave through them): tunnels between
    :data:`LMA_T4` and :data:`MAG_T4` with IPv4 outer headers, the MAG without an IPv6
    Proxy-CoA."""
    ns: dict[str, str] = field(default_factory=dict)
    lma: LmaLinuxDataPlane | None = None
    mag: MagLinuxDataPlane | None = None

    def build(self) -> None:
        """Namespaces, links and addresses (no tunnel yet)."""
        L = self.lab
        for role in ("lma", "mag", "mn", "cn"):
            self.ns[role] = L.ns(role)
        lma, mag, mn, cn = (self.ns[r] for r in ("lma", "mag", "mn", "cn"))
        L.veth(lma, "tr0", mag, "tr0", mtu=1500)
        L.veth(lma, "cn0", cn, "cn0", mtu=1500)
        L.veth(mag, "acc0", mn, "mn0", mtu=1500)
        for role in ("lma", "mag"):
            L.sysctl(self.ns[role], "ipv6/conf/all/forwarding", "1")
            L.sysctl(self.ns[role], "ipv4/ip_forward", "1")
        if self.ipv4_transport:
            for role, address in (("lma", LMA_T4), ("mag", MAG_T4)):
                L.ip(self.ns[role], "addr", "add", f"{address}/24", "dev", "tr0")
        else:
            L.ip(lma, "-6", "addr", "add", f"{LMAA}/64", "dev", "tr0", "nodad")
            L.ip(mag, "-6", "addr", "add", f"{PROXY_COA}/64", "dev", "tr0", "nodad")
        L.ip(lma, "-6", "addr", "add", "2001:db8:c::1/64", "dev", "cn0", "nodad")
        L.ip(lma, "addr", "add", "198.51.100.1/24", "dev", "cn0")
        L.ip(cn, "-6", "addr", "add", f"{CN_V6}/64", "dev", "cn0", "nodad")
        L.ip(cn, "addr", "add", f"{CN_V4}/24", "dev", "cn0")
        L.ip(cn, "-6", "route", "add", "default", "via", "2001:db8:c::1")
        L.ip(cn, "route", "add", "default", "via", "198.51.100.1")
        L.ip(mn, "-6", "addr", "add", f"{MN_V6}/64", "dev", "mn0", "nodad")
        L.ip(mn, "addr", "add", f"{MN_V4}/24", "dev", "mn0")

    def mn_mac(self) -> str:
        text = self.lab.ip(self.ns["mn"], "link", "show", "mn0")
        return text.split("link/ether ")[1].split()[0]

    async def start(self) -> None:
        """Both data planes on the backend, the binding at the LMA, the station at the MAG."""
        v4 = self.ipv4_transport
        mag_address, lma_address = (MAG_T4, LMA_T4) if v4 else (PROXY_COA, LMAA)
        self.lma = LmaLinuxDataPlane(mode=self.mode, local_address=LMAA, device="tr0",
                                  peers=(mag_address,), backend=self.backend,
                                  local_ipv4=LMA_T4 if v4 else None,
                                  netns=self.ns["lma"])  # fmt: skip
        await self.lma.start()
        gre = self.mode is TunnelMode.GRE
        await self.lma.apply([RouteOperation(binding(mag_address, gre=gre), True)])
        self.mag = MagLinuxDataPlane(mode=self.mode, proxy_coa=None if v4 else PROXY_COA,
                                     ipv4_proxy_coa=MAG_T4 if v4 else None,
                                     lma_address=lma_address, device="tr0",
                                     ipv4_router=ROUTER_V4,
                                     backend=self.mag_backend or self.backend,
                                     netns=self.ns["mag"], ingress_filter=False)  # fmt: skip
        await self.mag.start()
        await self.mag.prepare_access_interface("acc0")
        await self.mag.install(StationBinding(
            mac=self.mn_mac(), mn_id=MN_ID, interface="acc0", home_network_prefixes=(HNP,),
            ipv4_home_address=MN_V4, lma_address=lma_address,
            gre_key_downlink=DOWNLINK_KEY if gre else None,
            gre_key_uplink=UPLINK_KEY if gre else None))  # fmt: skip
        mn = self.ns["mn"]
        self.lab.ip(mn, "-6", "route", "replace", "default", "via", FIXED_MAG_LINK_LOCAL,
                    "dev", "mn0")  # fmt: skip
        self.lab.ip(mn, "route", "replace", "default", "via", ROUTER_V4, "dev", "mn0", "onlink")

    async def close(self) -> None:
        for plane in (self.mag, self.lma):
            if plane is not None:
                await plane.close()
        self.lma = self.mag = None

    # ------------------------------------------------------------------ traffic

    def ping(self, source: str, destination: str, count: int = 3, size: int = 56) -> bool:
        run = subprocess.run(
            ["ip", "netns", "exec", self.ns[source], "ping", "-c", str(count), "-i", "0.2",
             "-W", "2", "-s", str(size), destination],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        return run.returncode == 0

    def bulk_tcp(self, sender: str, receiver: str, destination: str, mebibytes: int,
                 port: int = 5001) -> dict[str, float]:  # fmt: skip
        """Send ``mebibytes`` over TCP from namespace ``sender`` to ``destination`` (served in
        ``receiver``); the receiver's byte count, the seconds and the rate."""
        server = self.lab.spawn(
            self.ns[receiver], [sys.executable, "-m", "testbed.bulk_tcp", "serve",
                                str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            server.stdout.readline()  # "ready"
            run = subprocess.run(
                ["ip", "netns", "exec", self.ns[sender], sys.executable, "-m",
                 "testbed.bulk_tcp", "send", destination, str(port), str(mebibytes)],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            result: dict[str, float] = json.loads(run.stdout.strip().splitlines()[-1])
            return result
        finally:
            self.stop(server)

    @staticmethod
    def stop(proc: subprocess.Popen[bytes]) -> None:
        """End a process started here and close its pipes."""
        if proc.poll() is None:
            proc.terminate()
        proc.communicate(timeout=10)

    def capture(
        self, role: str, device: str, path: str, *expression: str
    ) -> subprocess.Popen[bytes]:
        """Start tcpdump writing ``path``; returns once it listens (:meth:`stop` ends it)."""
        return self.lab.capture(self.ns[role], device, path, *expression)

    def inject_tunnelled_udp(self, packets: list[tuple[str, bytes, int | None]],
                             port: int) -> None:  # fmt: skip
        """From the LMA's namespace, put on the transport link, in this order, tunnelled UDP
        datagrams from the CN to the MN's ``port``: per ``(outer source, payload, GRE key)`` an
        IPv6-in-IPv6 packet (key None) or GRE with that key, to the MAG (scapy builds them)."""
        code = (
            "import sys\n"
            "from scapy.all import Ether, GRE, IPv6, UDP, sendp, conf, get_if_hwaddr\n"
            "conf.verb = 0\n"
            "mac, port = sys.argv[1], int(sys.argv[2])\n"
            "frames = []\n"
            "for spec in sys.argv[3:]:\n"
            "    outer, data, key = spec.split(',')\n"
            f"    inner = IPv6(src='{CN_V6}', dst='{MN_V6}') / UDP(sport=4000, dport=port) / "
            "bytes.fromhex(data)\n"
            "    if key != '-':\n"
            "        inner = GRE(key_present=1, key=int(key), proto=0x86DD) / inner\n"
            "    frames.append(Ether(src=get_if_hwaddr('tr0'), dst=mac) / IPv6(src=outer, "
            f"dst='{PROXY_COA}') / inner)\n"
            "sendp(frames, iface='tr0', inter=0.05)\n"
        )
        mac = self.lab.ip(self.ns["mag"], "link", "show", "tr0").split("link/ether ")[1].split()[0]
        specs = [f"{source},{payload.hex()},{'-' if key is None else key}"
                 for source, payload, key in packets]  # fmt: skip
        self.lab.exec(self.ns["lma"], sys.executable, "-c", code, mac, str(port), *specs)

    def tunnelled_udp_received(
        self, packets: list[tuple[str, bytes, int | None]], port: int, last: bytes
    ) -> list[bytes]:
        """:meth:`inject_tunnelled_udp` with the MN listening on ``port``: the payloads it
        received, in order, up to ``last``. Generous time limits: the injector imports scapy,
        slow under emulation (the QEMU lane)."""
        listener = self.listen_udp(port, seconds=120.0, last=last)
        self.inject_tunnelled_udp(packets, port)
        out, _ = listener.communicate(timeout=150)
        return [bytes.fromhex(line) for line in out.decode().split()]

    def listen_udp(self, port: int, seconds: float, last: bytes) -> subprocess.Popen[bytes]:
        """A UDP receiver on the MN's home address, until it receives ``last`` or ``seconds``
        pass; its output: one hex payload per line."""
        code = (
            "import socket, sys, time\n"
            "s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n"
            f"s.bind(('{MN_V6}', {port})); print('ready', flush=True)\n"
            f"end = time.monotonic() + {seconds}\n"
            "while (left := end - time.monotonic()) > 0:\n"
            "    s.settimeout(left)\n"
            "    try:\n"
            "        data = s.recv(2048)\n"
            "    except TimeoutError:\n"
            "        break\n"
            "    print(data.hex(), flush=True)\n"
            f"    if data == {last!r}:\n"
            "        break\n"
        )
        proc = self.lab.spawn(self.ns["mn"], [sys.executable, "-c", code],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
        assert proc.stdout is not None
        proc.stdout.readline()
        return proc
