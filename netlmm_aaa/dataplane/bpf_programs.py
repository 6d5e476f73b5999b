"""The eBPF programs of the ``ebpf`` tunnel backend, written with :mod:`.bpf_assembler`.

Two programs put RFC 5213 / RFC 5844 / RFC 5845 tunnels on the wire exactly as ip6tnl and ip6gre
do, and, over an IPv4 transport network (RFC 5844 §4), as sit, ipip and gre do:

:func:`encapsulation_program` (``BPF_PROG_TYPE_LWT_XMIT``, one per tunnel peer, or per peer and
GRE key)
    Attached to routes (``encap bpf xmit``). Pushes an outer IPv6 header, our tunnel address to
    the peer's, and returns ``BPF_LWT_REROUTE`` so the kernel routes the packet again on its
    outer destination. Without a key the next header is 41 for an IPv6 packet and 4 for an IPv4
    packet (decided from ``skb->protocol``, so one program serves both families' routes toward
    a peer); with a key it is 47 followed by a GRE header with only the Key bit, the inner
    packet's EtherType and the key.

    Offloads: ``bpf_lwt_push_encap`` marks a GSO packet (a TCP super-packet from a local socket,
    veth or GRO) for segmentation after encapsulation, but only knows next headers 41 and 47:
    with next header 4 it refuses the packet, and bulk IPv4 TCP would stall. So an IPv4 packet
    is pushed with next header 41, which selects the IP-in-IPv6 GSO type the kernel segments
    with the inner header's own code (the type ip6tnl gives IPv4-in-IPv6 too), and the next
    header octet is then rewritten to 4: every segment leaves as RFC 5844 IPv4-in-IPv6. (GRE
    needs no such step: the kernel segments GRE whatever it carries.)

    Toward an IPv4 peer (RFC 5844 §4.1.4.1) the outer header is IPv4 instead: our IPv4 address
    to the peer's, DF set (the route's headroom lowers its MTU, so nothing needs fragmenting),
    protocol 41, 4 or 47 as above, by the same push-as-41-then-rewrite step; the kernel fills
    in the header checksum at the push, and the rewrite corrects it (``bpf_l3_csum_replace``).

:func:`decapsulation_program` (``BPF_PROG_TYPE_SCHED_CLS``, one per node, tc ingress)
    On the transport device, an IPv6 packet to our tunnel address is
    - next header 41 or 4 from a configured peer (a hash map keyed by the 16-octet address):
      stripped of its outer header;
    - next header 47 with a GRE header of only the Key bit, carrying IPv6 or IPv4, whose key is
      one we handed out *to that sender* (a hash map: key in network order -> the peer's
      address): stripped of both headers;
    - any other tunnel packet to us: dropped (ip6tnl's remote check; a key that is unknown or
      belongs to another peer moves nothing), and counted.
    and, when we have an IPv4 tunnel address, an IPv4 packet to it (no options, not a fragment)
    with protocol 41, 4 or 47 is judged the same way, its source looked up as the IPv4-mapped
    IPv6 address (``::ffff:a.b.c.d``) in the same maps. A fragmented tunnel packet is left to
    the kernel, which has no tunnel device to give it to: senders do not fragment (DF, and
    the routes' headroom).
    Stripping uses ``bpf_skb_adjust_room`` (``BPF_F_ADJ_ROOM_DECAP_L3_IPV4`` for an IPv4 inner
    packet, or ``bpf_skb_change_proto`` first on kernels older than 6.3); the packet goes on as
    the inner packet (``BPF_F_ADJ_ROOM_DECAP_L3_IPV6`` / ``bpf_skb_change_proto`` for IPv6 in
    IPv4). Everything that is not a tunnel packet to us passes untouched.

The header is built on the program's stack, the addresses and key baked in as immediates: no map
lookup on the transmit path.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from netlmm_aaa.dataplane.bpf_assembler import (
    Assembler,
    Helper,
    Jump,
    Reg,
    Size,
    imm16_of,
    imm32_of,
    imm64_of,
)

R0, R1, R2, R3, R4, R5 = Reg.R0, Reg.R1, Reg.R2, Reg.R3, Reg.R4, Reg.R5
R6, R7, R8, R9, R10 = Reg.R6, Reg.R7, Reg.R8, Reg.R9, Reg.R10

#: ``struct __sk_buff`` field offsets.
SKB_LEN = 0
SKB_PROTOCOL = 16
SKB_DATA = 76
SKB_DATA_END = 80
#: ``skb->protocol`` (big-endian) as a u32 load sees it.
ETH_P_IPV6 = imm16_of(b"\x86\xdd")
ETH_P_IP = imm16_of(b"\x08\x00")
#: GRE flags and version octets with only the Key bit (RFC 2890), as a u16 load sees them.
GRE_KEY_ONLY = imm16_of(b"\x20\x00")
#: Return codes and flags.
BPF_DROP = 2
BPF_LWT_REROUTE = 128
BPF_LWT_ENCAP_IP = 2
TC_ACT_OK = 0
TC_ACT_SHOT = 2
BPF_ADJ_ROOM_MAC = 1
BPF_F_ADJ_ROOM_FIXED_GSO = 1
BPF_F_ADJ_ROOM_DECAP_L3_IPV4 = 1 << 7
BPF_F_ADJ_ROOM_DECAP_L3_IPV6 = 1 << 8
BPF_F_HDR_FIELD_SIZE_2 = 2
#: IPv6 next header values.
NEXT_HEADER_IPV4 = 4
NEXT_HEADER_IPV6 = 41
NEXT_HEADER_GRE = 47
IPV6_HEADER = 40
IPV4_HEADER = 20
GRE_HEADER = 8  # flags and protocol, then the key
ETHERNET_HEADER = 14
#: Slots of the decapsulation counters map (u64 each).
COUNTER_DECAPSULATED = 0
COUNTER_UNKNOWN_PEER = 1
COUNTER_UNKNOWN_KEY = 2
COUNTERS = 3
#: Route headroom an encapsulating route declares, so the kernel lowers its MTU by as much.
ENCAPSULATION_HEADROOM = IPV6_HEADER
GRE_ENCAPSULATION_HEADROOM = IPV6_HEADER + GRE_HEADER
IPV4_ENCAPSULATION_HEADROOM = IPV4_HEADER
IPV4_GRE_ENCAPSULATION_HEADROOM = IPV4_HEADER + GRE_HEADER
#: IPv4 header: version 4 with 5 words, no options; flags DF, fragment offset 0; identification 0.
IPV4_VERSION_IHL = imm16_of(b"\x45\x00")
IPV4_ID_DF = imm32_of(b"\x00\x00\x40\x00")
IPV4_FRAGMENT_BITS = imm16_of(b"\x3f\xff")  # MF and the offset, as a u16 load sees them
IPV4_MAPPED_PREFIX = imm32_of(b"\x00\x00\xff\xff")

_HEADER = -48  # the outer headers' place on the stack: r10-48 .. r10-1
_HEADER4 = -44  # an IPv4 outer header's: its addresses (offset 12) 8-aligned, as stores need


def _packed(address: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, address)


def is_ipv4(address: str) -> bool:
    """Whether ``address`` (text) is an IPv4 address: a tunnel toward it has an IPv4 header."""
    return ipaddress.ip_address(address).version == 4


def encapsulation_program(
    source: str, destination: str, gre_key: int | None = None, hop_limit: int = 64
) -> bytes:
    """LWT_XMIT bytecode: IPv6- or IPv4-in-IPv6 from ``source`` to ``destination``, in GRE with
    ``gre_key`` when given; IPv6- or IPv4-in-IPv4 when both addresses are IPv4."""
    if is_ipv4(source) != is_ipv4(destination):
        raise ValueError(f"tunnel endpoints of two families: {source} and {destination}")
    ipv4 = is_ipv4(source)
    gre = gre_key is not None
    base, outer = (_HEADER4, IPV4_HEADER) if ipv4 else (_HEADER, IPV6_HEADER)
    protocol_at = 9 if ipv4 else 6  # the outer header's protocol / next header octet
    # Without GRE: 41, also for IPv4 inside (see the module docstring).
    protocol = NEXT_HEADER_GRE if gre else NEXT_HEADER_IPV6
    a = Assembler()
    a.mov_reg(R6, R1)  # r6 = skb
    a.load(Size.U32, R7, R6, SKB_PROTOCOL)  # r7 = skb->protocol, kept across calls
    a.jump_if(Jump.EQ, R7, ETH_P_IPV6, "carried")
    a.jump_if(Jump.NE, R7, ETH_P_IP, "drop")  # neither IPv6 nor IPv4: nothing we carry
    a.label("carried")
    # r0 = the length field: IPv6's payload length is the inner packet (+ GRE header), IPv4's
    # total length counts its own header too.
    a.load(Size.U32, R0, R6, SKB_LEN)
    extra = (IPV4_HEADER if ipv4 else 0) + (GRE_HEADER if gre else 0)
    if extra:
        a.add(R0, extra)
    a.to_be16(R0)
    if ipv4:
        _ipv4_header(a, source, destination, protocol, hop_limit)
    else:
        _ipv6_header(a, source, destination, protocol, hop_limit)
    if gre_key is not None:
        a.store_imm(Size.U16, R10, base + outer, GRE_KEY_ONLY)
        a.store(Size.U16, R10, base + outer + 2, R7)  # protocol: the inner EtherType
        a.store_imm(Size.U32, R10, base + outer + 4, imm32_of(gre_key.to_bytes(4, "big")))
    a.mov_reg(R1, R6)  # bpf_lwt_push_encap(skb, BPF_LWT_ENCAP_IP, header, length)
    a.mov(R2, BPF_LWT_ENCAP_IP)
    a.mov_reg(R3, R10)
    a.add(R3, base)
    a.mov(R4, outer + (GRE_HEADER if gre else 0))
    a.call(Helper.LWT_PUSH_ENCAP)
    a.jump_if(Jump.NE, R0, 0, "drop")
    if not gre:
        a.jump_if(Jump.NE, R7, ETH_P_IP, "reroute")
        a.store_imm(Size.U8, R10, base + protocol_at, NEXT_HEADER_IPV4)  # IPv4 inside: 4
        a.mov_reg(R1, R6)  # bpf_skb_store_bytes(skb, protocol_at, &protocol, 1, 0)
        a.mov(R2, protocol_at)
        a.mov_reg(R3, R10)
        a.add(R3, base + protocol_at)
        a.mov(R4, 1)
        a.mov(R5, 0)
        a.call(Helper.SKB_STORE_BYTES)
        a.jump_if(Jump.NE, R0, 0, "drop")
        if ipv4:
            a.mov_reg(R1, R6)  # bpf_l3_csum_replace(skb, 10, ttl|41, ttl|4, 2)
            a.mov(R2, 10)
            a.mov(R3, imm16_of(bytes((hop_limit, NEXT_HEADER_IPV6))))
            a.mov(R4, imm16_of(bytes((hop_limit, NEXT_HEADER_IPV4))))
            a.mov(R5, BPF_F_HDR_FIELD_SIZE_2)
            a.call(Helper.L3_CSUM_REPLACE)
            a.jump_if(Jump.NE, R0, 0, "drop")
        a.label("reroute")
    a.mov(R0, BPF_LWT_REROUTE)
    a.exit()
    a.label("drop")
    a.mov(R0, BPF_DROP)
    a.exit()
    return a.assemble()


def _ipv6_header(a: Assembler, source: str, destination: str, next_header: int,
                 hop_limit: int) -> None:  # fmt: skip
    """The outer IPv6 header at r10+_HEADER, its payload length from r0."""
    src, dst = _packed(source), _packed(destination)
    a.store_imm(Size.U32, R10, _HEADER, 0x60)  # version 6, traffic class 0, flow label 0
    a.store(Size.U16, R10, _HEADER + 4, R0)
    a.store_imm(Size.U8, R10, _HEADER + 6, next_header)
    a.store_imm(Size.U8, R10, _HEADER + 7, hop_limit)
    for index, half in enumerate((src[:8], src[8:], dst[:8], dst[8:])):
        a.load_imm64(R1, imm64_of(half))
        a.store(Size.U64, R10, _HEADER + 8 + 8 * index, R1)


def _ipv4_header(a: Assembler, source: str, destination: str, protocol: int, ttl: int) -> None:
    """The outer IPv4 header (RFC 5844 §4) at r10+_HEADER4, its total length from r0: DF, no
    options, the checksum left 0 for the kernel to compute at the push."""
    addresses = socket.inet_pton(socket.AF_INET, source) + socket.inet_pton(socket.AF_INET,
                                                                           destination)  # fmt: skip
    a.store_imm(Size.U16, R10, _HEADER4, IPV4_VERSION_IHL)
    a.store(Size.U16, R10, _HEADER4 + 2, R0)
    a.store_imm(Size.U32, R10, _HEADER4 + 4, IPV4_ID_DF)
    a.store_imm(Size.U16, R10, _HEADER4 + 8, imm16_of(bytes((ttl, protocol))))
    a.store_imm(Size.U16, R10, _HEADER4 + 10, 0)
    a.load_imm64(R1, imm64_of(addresses))
    a.store(Size.U64, R10, _HEADER4 + 12, R1)


def _count(a: Assembler, counters_fd: int, slot: int) -> None:
    """counters[slot] += 1 (atomic); clobbers r0-r5."""
    a.store_imm(Size.U32, R10, -4, slot)
    a.load_map(R1, counters_fd)
    a.mov_reg(R2, R10)
    a.add(R2, -4)
    a.call(Helper.MAP_LOOKUP_ELEM)
    done = f"counted_{len(a)}"
    a.jump_if(Jump.EQ, R0, 0, done)  # the verifier insists: a lookup may find nothing
    a.mov(R1, 1)
    a.atomic_add(Size.U64, R0, 0, R1)
    a.label(done)


def decapsulation_program(
    local: str | None,
    peers_fd: int,
    keys_fd: int,
    counters_fd: int,
    local_ipv4: str | None = None,
) -> bytes:
    """SCHED_CLS bytecode (tc ingress, direct action) decapsulating tunnels to ``local`` (IPv6)
    and ``local_ipv4``: from the peers in map ``peers_fd`` (key: 16-octet IPv6 address, an IPv4
    peer's IPv4-mapped; value: u32), and GRE whose key map ``keys_fd`` gives to the sender (key:
    u32 in network order, value: the 16-octet address)."""
    a = Assembler()
    a.mov_reg(R6, R1)  # r6 = skb
    a.load(Size.U32, R2, R6, SKB_PROTOCOL)
    if local_ipv4 is not None:
        a.jump_if(Jump.EQ, R2, ETH_P_IP, "ipv4")
    if local is not None:
        a.jump_if(Jump.NE, R2, ETH_P_IPV6, "pass")
        _ipv6_outer(a, local, peers_fd, keys_fd, counters_fd)
    if local_ipv4 is not None:
        a.label("ipv4")
        _ipv4_outer(a, local_ipv4, peers_fd, keys_fd, counters_fd)
    a.label("decapsulated")
    _count(a, counters_fd, COUNTER_DECAPSULATED)
    a.label("pass")
    a.mov(R0, TC_ACT_OK)
    a.exit()
    a.label("drop")
    a.mov(R0, TC_ACT_SHOT)
    a.exit()
    return a.assemble()


def _strip(a: Assembler, flags: int) -> None:
    """r0 = bpf_skb_adjust_room(skb, -r8, BPF_ADJ_ROOM_MAC, flags); clobbers r1-r5."""
    a.mov_reg(R1, R6)
    a.mov(R2, 0)
    a.sub_reg(R2, R8)
    a.mov(R3, BPF_ADJ_ROOM_MAC)
    a.mov(R4, flags)
    a.call(Helper.SKB_ADJUST_ROOM)


def _set_ethertype(a: Assembler, ethertype: int) -> None:
    """The frame's EtherType says what the packet now is, for whatever reads the frame next
    (taps); clobbers r0-r5."""
    a.store_imm(Size.U16, R10, -8, ethertype)
    a.mov_reg(R1, R6)  # bpf_skb_store_bytes(skb, 12, &ethertype, 2, 0)
    a.mov(R2, 12)
    a.mov_reg(R3, R10)
    a.add(R3, -8)
    a.mov(R4, 2)
    a.mov(R5, 0)
    a.call(Helper.SKB_STORE_BYTES)


@dataclass(frozen=True, slots=True)
class _OuterFamily:
    """What the judging and stripping of a tunnel packet depend on in its outer header."""

    tag: str
    """Suffix of this family's labels."""
    header: int
    """Outer header length."""
    same: int
    """Next header of an inner packet of the outer header's own family."""
    other_flag: int
    """``bpf_skb_adjust_room`` flag that strips down to the other family."""
    other_protocol: int
    """That family's EtherType (for ``bpf_skb_change_proto`` and the frame)."""
    other_header: int
    """That family's header length (what ``bpf_skb_change_proto`` leaves in place)."""


IPV6_OUTER = _OuterFamily("", IPV6_HEADER, NEXT_HEADER_IPV6, BPF_F_ADJ_ROOM_DECAP_L3_IPV4,
                          ETH_P_IP, IPV4_HEADER)  # fmt: skip
IPV4_OUTER = _OuterFamily("4", IPV4_HEADER, NEXT_HEADER_IPV4, BPF_F_ADJ_ROOM_DECAP_L3_IPV6,
                          ETH_P_IPV6, IPV6_HEADER)  # fmt: skip


def _ipv6_outer(a: Assembler, local: str, peers_fd: int, keys_fd: int, counters_fd: int) -> None:
    """The IPv6 outer header's part of :func:`decapsulation_program` (skb->protocol is IPv6)."""
    own = _packed(local)
    outer_destination = ETHERNET_HEADER + 24
    a.load(Size.U32, R7, R6, SKB_DATA)  # r7 = packet start (Ethernet header)
    a.load(Size.U32, R8, R6, SKB_DATA_END)
    a.mov_reg(R2, R7)
    a.add(R2, ETHERNET_HEADER + IPV6_HEADER)
    a.jump_if_reg(Jump.GT, R2, R8, "pass")  # shorter than an IPv6 header: not ours
    a.load(Size.U8, R9, R7, ETHERNET_HEADER + 6)  # r9 = next header
    a.jump_if(Jump.EQ, R9, NEXT_HEADER_IPV6, "tunnel")
    a.jump_if(Jump.EQ, R9, NEXT_HEADER_IPV4, "tunnel")
    a.jump_if(Jump.NE, R9, NEXT_HEADER_GRE, "pass")
    a.label("tunnel")
    a.load(Size.U64, R2, R7, outer_destination)  # addressed to us?
    a.load_imm64(R3, imm64_of(own[:8]))
    a.jump_if_reg(Jump.NE, R2, R3, "pass")
    a.load(Size.U64, R2, R7, outer_destination + 8)
    a.load_imm64(R3, imm64_of(own[8:]))
    a.jump_if_reg(Jump.NE, R2, R3, "pass")
    _judge_and_strip(a, peers_fd, keys_fd, counters_fd, IPV6_OUTER,
                     sender=(R7, ETHERNET_HEADER + 8))  # fmt: skip


def _ipv4_outer(a: Assembler, local: str, peers_fd: int, keys_fd: int, counters_fd: int) -> None:
    """The IPv4 outer header's part of :func:`decapsulation_program` (RFC 5844 §4)."""
    own = int.from_bytes(socket.inet_pton(socket.AF_INET, local), "little")
    outer = ETHERNET_HEADER
    mapped = -24  # the sender as an IPv4-mapped IPv6 address: r10-24 .. r10-9
    a.load(Size.U32, R7, R6, SKB_DATA)
    a.load(Size.U32, R8, R6, SKB_DATA_END)
    a.mov_reg(R2, R7)
    a.add(R2, ETHERNET_HEADER + IPV4_HEADER)
    a.jump_if_reg(Jump.GT, R2, R8, "pass")
    a.load(Size.U8, R2, R7, outer)
    a.jump_if(Jump.NE, R2, 0x45, "pass")  # options: not a header we write
    a.load(Size.U16, R2, R7, outer + 6)
    a.and_(R2, IPV4_FRAGMENT_BITS)
    a.jump_if(Jump.NE, R2, 0, "pass")  # a fragment: see the module docstring
    a.load(Size.U8, R9, R7, outer + 9)  # r9 = protocol
    a.jump_if(Jump.EQ, R9, NEXT_HEADER_IPV6, "tunnel4")
    a.jump_if(Jump.EQ, R9, NEXT_HEADER_IPV4, "tunnel4")
    a.jump_if(Jump.NE, R9, NEXT_HEADER_GRE, "pass")
    a.label("tunnel4")
    a.load(Size.U32, R2, R7, outer + 16)  # addressed to us?
    a.load_imm64(R3, own)  # (an immediate compare would sign-extend the address)
    a.jump_if_reg(Jump.NE, R2, R3, "pass")
    a.store_imm(Size.U64, R10, mapped, 0)
    a.store_imm(Size.U32, R10, mapped + 8, IPV4_MAPPED_PREFIX)
    a.load(Size.U32, R2, R7, outer + 12)
    a.store(Size.U32, R10, mapped + 12, R2)
    _judge_and_strip(a, peers_fd, keys_fd, counters_fd, IPV4_OUTER, sender=(R10, mapped))


def _judge_and_strip(a: Assembler, peers_fd: int, keys_fd: int, counters_fd: int,
                     outer: _OuterFamily, sender: tuple[Reg, int]) -> None:  # fmt: skip
    """For a tunnel packet addressed to us (r7 = packet start, r8 = its end, r9 = the outer
    header's next header): decapsulate it when its sender (16 octets at ``sender``: register,
    offset) is a configured peer, or, in GRE, holds the key it uses; else drop and count.
    Ends in the ``decapsulated`` or ``drop`` labels."""
    t = outer.tag
    gre_at = ETHERNET_HEADER + outer.header
    base, offset = sender
    a.jump_if(Jump.EQ, R9, NEXT_HEADER_GRE, f"gre{t}")

    # IPv6- or IPv4-in-IP: from a configured peer?
    a.load_map(R1, peers_fd)
    a.mov_reg(R2, base)
    a.add(R2, offset)
    a.call(Helper.MAP_LOOKUP_ELEM)
    a.jump_if(Jump.NE, R0, 0, f"known_peer{t}")
    _count(a, counters_fd, COUNTER_UNKNOWN_PEER)
    a.jump("drop")
    a.label(f"known_peer{t}")
    a.mov(R8, outer.header)  # r8 = octets to strip; r9 says what is inside (41 or 4)
    a.jump(f"strip{t}")

    # GRE: only the Key bit, IPv6 or IPv4 inside, a key we gave this sender.
    a.label(f"gre{t}")
    a.mov_reg(R2, R7)
    a.add(R2, gre_at + GRE_HEADER)
    a.jump_if_reg(Jump.GT, R2, R8, f"unknown_key{t}")
    a.load(Size.U16, R2, R7, gre_at)
    a.jump_if(Jump.NE, R2, GRE_KEY_ONLY, f"unknown_key{t}")
    a.load(Size.U16, R2, R7, gre_at + 2)
    a.mov(R9, NEXT_HEADER_IPV6)
    a.jump_if(Jump.EQ, R2, ETH_P_IPV6, f"gre_key{t}")
    a.mov(R9, NEXT_HEADER_IPV4)
    a.jump_if(Jump.NE, R2, ETH_P_IP, f"unknown_key{t}")
    a.label(f"gre_key{t}")
    a.load_map(R1, keys_fd)  # keys[key] == sender?
    a.mov_reg(R2, R7)
    a.add(R2, gre_at + 4)
    a.call(Helper.MAP_LOOKUP_ELEM)
    a.jump_if(Jump.EQ, R0, 0, f"unknown_key{t}")
    for half in (0, 8):
        a.load(Size.U64, R2, R0, half)
        a.load(Size.U64, R3, base, offset + half)
        a.jump_if_reg(Jump.NE, R2, R3, f"unknown_key{t}")
    a.mov(R8, outer.header + GRE_HEADER)
    a.jump(f"strip{t}")
    a.label(f"unknown_key{t}")
    _count(a, counters_fd, COUNTER_UNKNOWN_KEY)
    a.jump("drop")

    # Strip r8 octets after the Ethernet header; r9 == outer.same: the same family inside.
    a.label(f"strip{t}")
    a.jump_if(Jump.NE, R9, outer.same, f"strip_to_other{t}")
    _strip(a, BPF_F_ADJ_ROOM_FIXED_GSO)  # keep gso_size: the sender's segments stay as sent
    a.jump_if(Jump.NE, R0, 0, "drop")
    a.jump("decapsulated")
    a.label(f"strip_to_other{t}")
    _strip(a, BPF_F_ADJ_ROOM_FIXED_GSO | outer.other_flag)
    a.jump_if(Jump.EQ, R0, 0, f"stripped_to_other{t}")
    # Before Linux 6.3 the DECAP flags are refused: give the outer header the other family's
    # length and protocol (bpf_skb_change_proto), then remove it and the rest of the outer
    # headers.
    a.mov_reg(R1, R6)
    a.mov(R2, outer.other_protocol)
    a.mov(R3, 0)
    a.call(Helper.SKB_CHANGE_PROTO)
    a.jump_if(Jump.NE, R0, 0, "drop")
    a.add(R8, outer.other_header - outer.header)
    _strip(a, BPF_F_ADJ_ROOM_FIXED_GSO)
    a.jump_if(Jump.NE, R0, 0, "drop")
    a.label(f"stripped_to_other{t}")
    _set_ethertype(a, outer.other_protocol)
    a.jump("decapsulated")
