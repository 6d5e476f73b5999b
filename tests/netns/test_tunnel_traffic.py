"""Real traffic through the LMA-MAG tunnel, per tunnel backend this kernel has: ping and bulk TCP
for the IPv6 home prefix and the IPv4 home address in both directions, the encapsulation
judged by tshark on the transport link, and tunnel packets from an unknown peer dropped.

Both ends are the project's own data planes (:mod:`testbed.tunnel_pair`)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest

from netlmm_aaa.core.lma_policy import TunnelMode
from netlmm_aaa.dataplane.backend_probe import auto_choice
from netlmm_aaa.dataplane.tunnel_backend import Backend
from netlmm_aaa.dataplane.tunnel_ebpf import EbpfTunnel
from netlmm_aaa.dataplane.tunnel_ip6tnl import Ip6tnlTunnel
from testbed.tunnel_pair import (
    CN_V4,
    CN_V6,
    DOWNLINK_KEY,
    LMA_T4,
    LMAA,
    MAG_T4,
    MN_V4,
    MN_V6,
    PROXY_COA,
    UNKNOWN_PEER,
    UPLINK_KEY,
    TunnelPair,
)
from tests.conftest import require_backend
from tests.netns.topology import lab

pytestmark = [pytest.mark.netns, pytest.mark.tshark]

#: (backend, forwarding mode): every encapsulating backend with IPv6/IPv4-in-IPv6, and GRE where
#: the backend carries it.
ENCAPSULATING = [
    pytest.param(Backend.IP6TNL, TunnelMode.IP6IP6, id="ip6tnl"),
    pytest.param(Backend.EBPF, TunnelMode.IP6IP6, id="ebpf"),
    pytest.param(Backend.SEG6, TunnelMode.IP6IP6, id="seg6"),
    pytest.param(Backend.IP6TNL, TunnelMode.GRE, id="ip6tnl-gre"),
    pytest.param(Backend.EBPF, TunnelMode.GRE, id="ebpf-gre"),
]


def test_an_encapsulating_backend_runs_on_this_kernel(tunnel_backends: dict[str, object]) -> None:
    """The run never passes with no tunnel tested: some backend must work here."""
    assert auto_choice(tunnel_backends.values()) is not None, tunnel_backends  # type: ignore[arg-type]


def _outer_headers(tshark: str, capture: Path, display: str) -> list[tuple[str, str, str]]:
    """(next header, outer source, outer destination) of the matching packets; with GRE the
    next header reads ``47/<key>``. An outer fragment header is looked through (the next header
    it names), so the tunnel protocol is checked on fragmented packets too."""
    out = subprocess.run(
        [tshark, "-r", str(capture), "-Y", display, "-T", "fields", "-e", "ipv6.nxt",
         "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "gre.key", "-e", "ipv6.fraghdr.nxt"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    rows = []
    for line in out.splitlines():
        nxt, src, dst, key, after_fragment = (field.split(",")[0] for field in line.split("\t"))
        if nxt == "44":
            nxt = after_fragment
        rows.append((f"{nxt}/{int(key, 0)}" if key else nxt, src, dst))
    return rows


def _outer_fragments(tshark: str, capture: Path) -> list[tuple[str, str]]:
    """(frame number, outer source) of the captured packets whose *outer* header is an IPv6
    fragment: a tunnel whose MTU is right never fragments. (A fragmented inner packet, which a
    sender makes after a Packet Too Big, is fine.)"""
    out = subprocess.run(
        [tshark, "-r", str(capture), "-Y", "ipv6.nxt == 44", "-T", "fields", "-e", "ipv6.nxt",
         "-e", "frame.number", "-e", "ipv6.src"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    rows = [[field.split(",")[0] for field in line.split("\t")] for line in out.splitlines()]
    return [(number, source) for nxt, number, source in rows if nxt == "44"]


@pytest.mark.parametrize(("backend", "mode"), ENCAPSULATING)
def test_traffic_through_the_tunnel(
    backend: Backend, mode: TunnelMode, tunnel_backends: dict[str, object], tshark: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    require_backend(tunnel_backends, backend.value)
    with lab() as L:
        pair = TunnelPair(L, mode, backend)
        pair.build()

        async def scenario() -> None:
            await pair.start()
            try:
                assert pair.lma is not None and pair.lma.backend_name == backend.value
                capture = tmp_path / "transport.pcap"
                dumper = pair.capture("mag", "tr0", str(capture), "ip6")
                for source, destination in (("cn", MN_V6), ("cn", MN_V4), ("mn", CN_V6),
                                            ("mn", CN_V4)):  # fmt: skip
                    assert pair.ping(source, destination), f"ping {source} -> {destination}"
                # Path MTU: a full-size packet gets a Packet Too Big, then passes.
                pair.ping("cn", MN_V6, count=1, size=1452)
                assert pair.ping("cn", MN_V6, count=2, size=1452), "IPv6 at the path MTU"
                transfers = {}
                for sender, receiver, destination in (
                    ("cn", "mn", MN_V6), ("cn", "mn", MN_V4),
                    ("mn", "cn", CN_V6), ("mn", "cn", CN_V4),
                ):  # fmt: skip
                    result = pair.bulk_tcp(sender, receiver, destination, 16)
                    transfers[(sender, destination)] = result
                    assert result.get("received") == 16 << 20, (sender, destination, result)
                time.sleep(0.3)
                pair.stop(dumper)
                down = {(LMAA, PROXY_COA)}
                up = {(PROXY_COA, LMAA)}
                v6 = _outer_headers(tshark, capture, "icmpv6.type == 128")
                v4 = _outer_headers(tshark, capture, "icmp.type == 8")
                tcp4 = _outer_headers(tshark, capture, "ip && tcp.len > 1000")
                tcp6 = _outer_headers(tshark, capture, "ipv6.nxt != 58 && tcp.len > 1000 && !ip")
                assert not (fragments := _outer_fragments(tshark, capture)), fragments[:10]
                for rows in (v6, v4, tcp4, tcp6):
                    assert {(s, d) for _, s, d in rows} == down | up, rows[:5]
                if mode is TunnelMode.GRE:
                    # RFC 5845: toward the MAG the MAG's downlink key, toward the LMA the
                    # LMA's uplink key, whatever the inner family (TCP segments included).
                    for rows in (v6, v4, tcp4, tcp6):
                        keys = {(s, n) for n, s, _ in rows}
                        assert keys == {(LMAA, f"47/{DOWNLINK_KEY}"),
                                        (PROXY_COA, f"47/{UPLINK_KEY}")}, keys  # fmt: skip
                else:
                    assert {n for n, _, _ in v6} == {"41"}, v6
                    assert {n for n, _, _ in v4} == {"4"}, v4
                    # Every IPv4 TCP segment (the GSO path) left as IPv4-in-IPv6, both ways.
                    assert tcp4 and {n for n, _, _ in tcp4} == {"4"}, tcp4[:5]
                    assert {n for n, _, _ in tcp6} == {"41"}, tcp6[:5]
            finally:
                await pair.close()

        asyncio.run(scenario())


def _ipv4_outer_headers(tshark: str, capture: Path, display: str) -> list[tuple[str, ...]]:
    """(protocol, outer source, outer destination, MF, fragment offset) of the matching packets
    on an IPv4 transport (the first IPv4 header is the outer one); with GRE the protocol reads
    ``47/<key>``."""
    out = subprocess.run(
        [tshark, "-r", str(capture), "-Y", display, "-T", "fields", "-e", "ip.proto",
         "-e", "ip.src", "-e", "ip.dst", "-e", "gre.key", "-e", "ip.flags.mf",
         "-e", "ip.frag_offset"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    rows = []
    for line in out.splitlines():
        proto, src, dst, key, mf, offset = (field.split(",")[0] for field in line.split("\t"))
        rows.append((f"{proto}/{int(key, 0)}" if key else proto, src, dst, mf, offset))
    return rows


IPV4_TRANSPORT = [
    pytest.param(TunnelMode.IP6IP6, id="ebpf"),
    pytest.param(TunnelMode.GRE, id="ebpf-gre"),
]


@pytest.mark.parametrize("mode", IPV4_TRANSPORT)
def test_traffic_over_an_ipv4_transport(
    mode: TunnelMode, tunnel_backends: dict[str, object], tshark: str, tmp_path: Path
) -> None:
    """RFC 5844 §4: the transport link has no IPv6 address (link-local only); the home prefix
    and the IPv4 home address travel in IPv4 (protocol 41 / 4, or GRE with the RFC 5845 keys)
    between the two IPv4 tunnel addresses, bulk TCP included (the GSO path), never fragmented
    outside."""
    require_backend(tunnel_backends, "ebpf")
    with lab() as L:
        pair = TunnelPair(L, mode, Backend.EBPF, ipv4_transport=True)
        pair.build()

        async def scenario() -> None:
            await pair.start()
            try:
                capture = tmp_path / "transport.pcap"
                dumper = pair.capture("mag", "tr0", str(capture))
                for source, destination in (("cn", MN_V6), ("cn", MN_V4), ("mn", CN_V6),
                                            ("mn", CN_V4)):  # fmt: skip
                    assert pair.ping(source, destination), f"ping {source} -> {destination}"
                pair.ping("cn", MN_V6, count=1, size=1452)  # Packet Too Big, then it passes
                assert pair.ping("cn", MN_V6, count=2, size=1452), "IPv6 at the path MTU"
                for sender, receiver, destination in (
                    ("cn", "mn", MN_V6), ("cn", "mn", MN_V4),
                    ("mn", "cn", CN_V6), ("mn", "cn", CN_V4),
                ):  # fmt: skip
                    result = pair.bulk_tcp(sender, receiver, destination, 16)
                    assert result.get("received") == 16 << 20, (sender, destination, result)
                time.sleep(0.3)
                pair.stop(dumper)
                # No IPv6 address on the transport link, and no IPv6 frame on it but link-local
                # housekeeping: the tunnels are IPv4.
                for role in ("lma", "mag"):
                    assert not L.ip(pair.ns[role], "-6", "addr", "show", "dev", "tr0", "scope",
                                    "global").strip()  # fmt: skip
                routable = "eth.type == 0x86dd && !(ipv6.src == fe80::/10 && ipv6.dst == ff00::/8)"
                assert _ipv4_outer_headers(tshark, capture, routable) == []
                ends = {(LMA_T4, MAG_T4), (MAG_T4, LMA_T4)}
                v6 = _ipv4_outer_headers(tshark, capture, "icmpv6.type == 128")
                v4 = _ipv4_outer_headers(tshark, capture, "icmp.type == 8")
                tcp4 = _ipv4_outer_headers(tshark, capture, "tcp.len > 1000 && !ipv6")
                tcp6 = _ipv4_outer_headers(tshark, capture, "tcp.len > 1000 && ipv6")
                for rows in (v6, v4, tcp4, tcp6):
                    assert rows and {(s, d) for _, s, d, _, _ in rows} == ends, rows[:5]
                    outer_fragments = [r for r in rows if r[3] not in ("", "0", "False")
                                       or r[4] not in ("", "0")]  # fmt: skip
                    assert not outer_fragments, outer_fragments[:5]
                if mode is TunnelMode.GRE:
                    for rows in (v6, v4, tcp4, tcp6):
                        keys = {(s, n) for n, s, _, _, _ in rows}
                        assert keys == {(LMA_T4, f"47/{DOWNLINK_KEY}"),
                                        (MAG_T4, f"47/{UPLINK_KEY}")}, keys  # fmt: skip
                else:
                    assert {n for n, *_ in v6} == {"41"}, v6[:5]
                    assert {n for n, *_ in v4} == {"4"}, v4[:5]
                    assert {n for n, *_ in tcp4} == {"4"}, tcp4[:5]
                    assert {n for n, *_ in tcp6} == {"41"}, tcp6[:5]
            finally:
                await pair.close()

        asyncio.run(scenario())


@pytest.mark.parametrize(("backend", "mode"), ENCAPSULATING)
def test_tunnel_packets_from_an_unknown_peer_are_dropped(
    backend: Backend, mode: TunnelMode, tunnel_backends: dict[str, object]
) -> None:
    """The same tunnelled datagram reaches the MN from the LMA's address and not from an
    address that is no configured peer (an attacker on the transport network); in GRE mode
    neither with a key we never handed out, nor with the right key from another source."""
    require_backend(tunnel_backends, backend.value)
    with lab() as L:
        pair = TunnelPair(L, mode, backend)
        pair.build()

        async def scenario() -> None:
            await pair.start()
            try:
                gre = mode is TunnelMode.GRE
                key = DOWNLINK_KEY if gre else None
                packets = [(UNKNOWN_PEER, b"forged", key)]
                if gre:
                    packets += [(LMAA, b"wrong key", UPLINK_KEY), (LMAA, b"no key", None)]
                received = pair.tunnelled_udp_received(
                    [*packets, (LMAA, b"genuine", key)], 7777, last=b"genuine"
                )
                assert received == [b"genuine"], received
                assert pair.mag is not None
                tunnel = pair.mag.tunnel
                if isinstance(tunnel, EbpfTunnel | Ip6tnlTunnel):
                    counters = tunnel.counters()
                    if gre:  # forged and wrong key; no GRE at all is no peer's in GRE mode
                        assert (counters["unknown_key"], counters["unknown_peer"]) == (2, 1), (
                            counters)  # fmt: skip
                    else:
                        assert counters["unknown_peer"] == 1, counters
                    if isinstance(tunnel, EbpfTunnel):
                        assert counters["decapsulated"] >= 1, counters
            finally:
                await pair.close()

        asyncio.run(scenario())


#: Known defect (Debian 12's 6.1, in the QEMU lane): an eBPF end there fragments forwarded IPv4
#: (docs/dataplane.md), and IPv4 TCP in fragmented GRE from it to ip6gre stalls; pings and IPv6
#: pass. Not strict: a kernel without the quirk passes.
_EBPF_GRE_ON_OLD_KERNELS = pytest.mark.xfail(
    reason="eBPF GRE end on a kernel that fragments forwarded IPv4 (6.1): IPv4 TCP stalls",
    strict=False,
)


@pytest.mark.parametrize(
    "mode",
    [pytest.param(TunnelMode.IP6IP6, id="ip6ip6"),
     pytest.param(TunnelMode.GRE, id="gre", marks=_EBPF_GRE_ON_OLD_KERNELS)],
)  # fmt: skip
def test_ebpf_and_ip6tnl_ends_interoperate(
    mode: TunnelMode, tunnel_backends: dict[str, object], tshark: str, tmp_path: Path
) -> None:
    """An eBPF LMA and an ip6tnl MAG (the same octets on the wire): pings and TCP for both
    families, in both directions. The ip6tnl end never fragments; the eBPF end may, on kernels
    whose LWT rerouting reads a forwarded IPv4 packet's control block as IPv6's (Debian 12's
    6.1: forwarded IPv4 leaves as fragments of at most 1280 octets, see docs/dataplane.md), and
    the ip6tnl receiver takes them: that is what this checks there."""
    require_backend(tunnel_backends, "ebpf")
    require_backend(tunnel_backends, "ip6tnl")
    with lab() as L:
        pair = TunnelPair(L, mode, Backend.EBPF, mag_backend=Backend.IP6TNL)
        pair.build()

        async def scenario() -> None:
            await pair.start()
            try:
                assert pair.lma is not None and pair.mag is not None
                assert (pair.lma.backend_name, pair.mag.backend_name) == ("ebpf", "ip6tnl")
                capture = tmp_path / "interop.pcap"
                dumper = pair.capture("mag", "tr0", str(capture), "ip6")
                for source, destination in (("cn", MN_V6), ("cn", MN_V4), ("mn", CN_V6),
                                            ("mn", CN_V4)):  # fmt: skip
                    assert pair.ping(source, destination), f"ping {source} -> {destination}"
                for destination in (MN_V6, MN_V4):
                    result = pair.bulk_tcp("cn", "mn", destination, 8)
                    assert result.get("received") == 8 << 20, (destination, result)
                time.sleep(0.3)
                pair.stop(dumper)
                fragments = _outer_fragments(tshark, capture)
                assert {source for _, source in fragments} <= {LMAA}, fragments[:10]
                echoes = _outer_headers(tshark, capture, "icmpv6.type == 128 || icmp.type == 8")
                expected = ({"47/" + str(DOWNLINK_KEY), "47/" + str(UPLINK_KEY)}
                            if mode is TunnelMode.GRE else {"41", "4"})  # fmt: skip
                assert {n for n, _, _ in echoes} == expected, echoes
            finally:
                await pair.close()

        asyncio.run(scenario())


@pytest.mark.parametrize(
    ("backend", "mode"), [p for p in ENCAPSULATING if p.values[1] is not TunnelMode.GRE]
)
def test_a_peer_added_at_run_time_is_decapsulated_from(
    backend: Backend, mode: TunnelMode, tunnel_backends: dict[str, object]
) -> None:
    """A reload that adds a peer (MagDataPlane.set_peers; the LMA's receiver is the same
    backend code): the receiver drops its tunnelled datagrams before and delivers them after,
    without a restart of the data plane; a reload that removes it drops them again."""
    require_backend(tunnel_backends, backend.value)
    with lab() as L:
        pair = TunnelPair(L, mode, backend)
        pair.build()

        async def scenario() -> None:
            await pair.start()
            try:
                assert pair.mag is not None
                for added in (False, True, False):
                    await pair.mag.set_peers([UNKNOWN_PEER] if added else [])
                    received = pair.tunnelled_udp_received(
                        [(UNKNOWN_PEER, b"from the new peer", None), (LMAA, b"genuine", None)],
                        7777, last=b"genuine")  # fmt: skip
                    wanted = [b"from the new peer", b"genuine"] if added else [b"genuine"]
                    assert received == wanted, (added, received)
            finally:
                await pair.close()

        asyncio.run(scenario())
