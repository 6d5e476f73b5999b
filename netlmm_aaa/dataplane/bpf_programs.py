"""The eBPF programs of the ``ebpf`` tunnel backend, written with :mod:`.bpf_assembler`.

Two programs put RFC 5213 / RFC 5844 / RFC 5845 tunnels on the wire exactly as ip6tnl and ip6gre
do:

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

:func:`decapsulation_program` (``BPF_PROG_TYPE_SCHED_CLS``, one per node, tc ingress)
    On the transport device, an IPv6 packet to our tunnel address is
    - next header 41 or 4 from a configured peer (a hash map keyed by the 16-octet address):
      stripped of its outer header;
    - next header 47 with a GRE header of only the Key bit, carrying IPv6 or IPv4, whose key is
      one we handed out *to that sender* (a hash map: key in network order -> the peer's
      address): stripped of both headers;
    - any other tunnel packet to us: dropped (ip6tnl's remote check; a key that is unknown or
      belongs to another peer moves nothing), and counted.
    Stripping uses ``bpf_skb_adjust_room`` (``BPF_F_ADJ_ROOM_DECAP_L3_IPV4`` for an IPv4 inner
    packet, or ``bpf_skb_change_proto`` first on kernels older than 6.3); the packet goes on as
    the inner packet. Everything that is not a tunnel packet to us passes untouched.

The header is built on the program's stack, the addresses and key baked in as immediates: no map
lookup on the transmit path.
"""

from __future__ import annotations

import socket

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
#: IPv6 next header values.
NEXT_HEADER_IPV4 = 4
NEXT_HEADER_IPV6 = 41
NEXT_HEADER_GRE = 47
IPV6_HEADER = 40
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

_HEADER = -48  # the outer headers' place on the stack: r10-48 .. r10-1


def _packed(address: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, address)


def encapsulation_program(
    source: str, destination: str, gre_key: int | None = None, hop_limit: int = 64
) -> bytes:
    """LWT_XMIT bytecode: IPv6- or IPv4-in-IPv6 from ``source`` to ``destination``, in GRE with
    ``gre_key`` when given."""
    src, dst = _packed(source), _packed(destination)
    gre = gre_key is not None
    a = Assembler()
    a.mov_reg(R6, R1)  # r6 = skb
    a.load(Size.U32, R7, R6, SKB_PROTOCOL)  # r7 = skb->protocol, kept across calls
    a.jump_if(Jump.EQ, R7, ETH_P_IPV6, "carried")
    a.jump_if(Jump.NE, R7, ETH_P_IP, "drop")  # neither IPv6 nor IPv4: nothing we carry
    a.label("carried")
    a.load(Size.U32, R0, R6, SKB_LEN)  # payload length = the inner packet (+ GRE header)
    if gre:
        a.add(R0, GRE_HEADER)
    a.to_be16(R0)
    a.store_imm(Size.U32, R10, _HEADER, 0x60)  # version 6, traffic class 0, flow label 0
    a.store(Size.U16, R10, _HEADER + 4, R0)
    # Without GRE: 41, also for IPv4 (see the module docstring).
    a.store_imm(Size.U8, R10, _HEADER + 6, NEXT_HEADER_GRE if gre else NEXT_HEADER_IPV6)
    a.store_imm(Size.U8, R10, _HEADER + 7, hop_limit)
    for index, half in enumerate((src[:8], src[8:], dst[:8], dst[8:])):
        a.load_imm64(R1, imm64_of(half))
        a.store(Size.U64, R10, _HEADER + 8 + 8 * index, R1)
    if gre_key is not None:
        a.store_imm(Size.U16, R10, _HEADER + 40, GRE_KEY_ONLY)
        a.store(Size.U16, R10, _HEADER + 42, R7)  # protocol: the inner EtherType
        a.store_imm(Size.U32, R10, _HEADER + 44, imm32_of(gre_key.to_bytes(4, "big")))
    a.mov_reg(R1, R6)  # bpf_lwt_push_encap(skb, BPF_LWT_ENCAP_IP, header, length)
    a.mov(R2, BPF_LWT_ENCAP_IP)
    a.mov_reg(R3, R10)
    a.add(R3, _HEADER)
    a.mov(R4, IPV6_HEADER + (GRE_HEADER if gre else 0))
    a.call(Helper.LWT_PUSH_ENCAP)
    a.jump_if(Jump.NE, R0, 0, "drop")
    if not gre:
        a.jump_if(Jump.NE, R7, ETH_P_IP, "reroute")
        a.store_imm(Size.U8, R10, _HEADER + 6, NEXT_HEADER_IPV4)  # IPv4 inside: next header 4
        a.mov_reg(R1, R6)  # bpf_skb_store_bytes(skb, 6, &next_header, 1, 0)
        a.mov(R2, 6)
        a.mov_reg(R3, R10)
        a.add(R3, _HEADER + 6)
        a.mov(R4, 1)
        a.mov(R5, 0)
        a.call(Helper.SKB_STORE_BYTES)
        a.jump_if(Jump.NE, R0, 0, "drop")
        a.label("reroute")
    a.mov(R0, BPF_LWT_REROUTE)
    a.exit()
    a.label("drop")
    a.mov(R0, BPF_DROP)
    a.exit()
    return a.assemble()


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


def decapsulation_program(local: str, peers_fd: int, keys_fd: int, counters_fd: int) -> bytes:
    """SCHED_CLS bytecode (tc ingress, direct action) decapsulating tunnels to ``local``: from
    the peers in map ``peers_fd`` (key: 16-octet IPv6 address, value: u32), and GRE whose key
    map ``keys_fd`` gives to the sender (key: u32 in network order, value: 16-octet address)."""
    own = _packed(local)
    outer_source = ETHERNET_HEADER + 8
    outer_destination = ETHERNET_HEADER + 24
    gre_at = ETHERNET_HEADER + IPV6_HEADER
    a = Assembler()
    a.mov_reg(R6, R1)  # r6 = skb
    a.load(Size.U32, R2, R6, SKB_PROTOCOL)
    a.jump_if(Jump.NE, R2, ETH_P_IPV6, "pass")
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
    a.jump_if(Jump.EQ, R9, NEXT_HEADER_GRE, "gre")

    # IPv6- or IPv4-in-IPv6: from a configured peer?
    a.load_map(R1, peers_fd)
    a.mov_reg(R2, R7)
    a.add(R2, outer_source)
    a.call(Helper.MAP_LOOKUP_ELEM)
    a.jump_if(Jump.NE, R0, 0, "known_peer")
    _count(a, counters_fd, COUNTER_UNKNOWN_PEER)
    a.jump("drop")
    a.label("known_peer")
    a.mov(R8, IPV6_HEADER)  # r8 = octets to strip; r9 says what is inside (41 or 4)
    a.jump("strip")

    # GRE: only the Key bit, IPv6 or IPv4 inside, a key we gave this sender.
    a.label("gre")
    a.mov_reg(R2, R7)
    a.add(R2, gre_at + GRE_HEADER)
    a.jump_if_reg(Jump.GT, R2, R8, "unknown_key")
    a.load(Size.U16, R2, R7, gre_at)
    a.jump_if(Jump.NE, R2, GRE_KEY_ONLY, "unknown_key")
    a.load(Size.U16, R2, R7, gre_at + 2)
    a.mov(R9, NEXT_HEADER_IPV6)
    a.jump_if(Jump.EQ, R2, ETH_P_IPV6, "gre_key")
    a.mov(R9, NEXT_HEADER_IPV4)
    a.jump_if(Jump.NE, R2, ETH_P_IP, "unknown_key")
    a.label("gre_key")
    a.load_map(R1, keys_fd)  # keys[key] == outer source?
    a.mov_reg(R2, R7)
    a.add(R2, gre_at + 4)
    a.call(Helper.MAP_LOOKUP_ELEM)
    a.jump_if(Jump.EQ, R0, 0, "unknown_key")
    a.load(Size.U64, R2, R0, 0)
    a.load(Size.U64, R3, R7, outer_source)
    a.jump_if_reg(Jump.NE, R2, R3, "unknown_key")
    a.load(Size.U64, R2, R0, 8)
    a.load(Size.U64, R3, R7, outer_source + 8)
    a.jump_if_reg(Jump.NE, R2, R3, "unknown_key")
    a.mov(R8, IPV6_HEADER + GRE_HEADER)
    a.jump("strip")
    a.label("unknown_key")
    _count(a, counters_fd, COUNTER_UNKNOWN_KEY)
    a.jump("drop")

    # Strip r8 octets after the Ethernet header; r9 == 41: IPv6 inside, else IPv4.
    a.label("strip")
    a.mov(R4, BPF_F_ADJ_ROOM_FIXED_GSO)  # keep gso_size: the sender's segments stay as sent
    a.jump_if(Jump.EQ, R9, NEXT_HEADER_IPV6, "adjust")
    a.mov(R4, BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_DECAP_L3_IPV4)
    a.label("adjust")
    a.mov_reg(R1, R6)  # bpf_skb_adjust_room(skb, -r8, BPF_ADJ_ROOM_MAC, flags)
    a.mov(R2, 0)
    a.sub_reg(R2, R8)
    a.mov(R3, BPF_ADJ_ROOM_MAC)
    a.call(Helper.SKB_ADJUST_ROOM)
    a.jump_if(Jump.EQ, R0, 0, "stripped")
    a.jump_if(Jump.EQ, R9, NEXT_HEADER_IPV6, "drop")
    # Before Linux 6.3 the DECAP flag is refused: make the outer IPv6 header 20 octets with the
    # protocol IPv4 (bpf_skb_change_proto), then remove the rest of the outer headers.
    a.mov_reg(R1, R6)
    a.mov(R2, ETH_P_IP)
    a.mov(R3, 0)
    a.call(Helper.SKB_CHANGE_PROTO)
    a.jump_if(Jump.NE, R0, 0, "drop")
    a.mov_reg(R1, R6)
    a.mov(R2, 20)
    a.sub_reg(R2, R8)
    a.mov(R3, BPF_ADJ_ROOM_MAC)
    a.mov(R4, BPF_F_ADJ_ROOM_FIXED_GSO)
    a.call(Helper.SKB_ADJUST_ROOM)
    a.jump_if(Jump.NE, R0, 0, "drop")
    a.label("stripped")
    a.jump_if(Jump.EQ, R9, NEXT_HEADER_IPV6, "decapsulated")
    # The Ethernet type still says IPv6: say IPv4, for whatever reads the frame next (taps).
    a.store_imm(Size.U16, R10, -8, ETH_P_IP)
    a.mov_reg(R1, R6)  # bpf_skb_store_bytes(skb, 12, &ethertype, 2, 0)
    a.mov(R2, 12)
    a.mov_reg(R3, R10)
    a.add(R3, -8)
    a.mov(R4, 2)
    a.mov(R5, 0)
    a.call(Helper.SKB_STORE_BYTES)
    a.label("decapsulated")
    _count(a, counters_fd, COUNTER_DECAPSULATED)
    a.label("pass")
    a.mov(R0, TC_ACT_OK)
    a.exit()
    a.label("drop")
    a.mov(R0, TC_ACT_SHOT)
    a.exit()
    return a.assemble()
