"""The eBPF assembler and the tunnel programs: exact encodings, labels, and the kernel's
verifier accepting what we generate (where this process may load programs)."""

from __future__ import annotations

import os
import socket
import struct

import pytest

from netlmm_aaa.dataplane.bpf_assembler import (
    Assembler,
    AssemblyError,
    Helper,
    Jump,
    Reg,
    Size,
    imm16_of,
)
from netlmm_aaa.dataplane.bpf_programs import (
    COUNTERS,
    decapsulation_program,
    encapsulation_program,
)
from netlmm_aaa.dataplane.bpf_syscall import (
    BpfError,
    MapType,
    ProgramType,
    create_map,
    load_program,
    lookup_element,
    program_info,
    update_element,
)
from netlmm_aaa.dataplane.netlink_routes import endpoint_octets, endpoint_text, nla
from netlmm_aaa.dataplane.port import DataPlaneError
from netlmm_aaa.dataplane.tunnel_backend import PlainRoutes
from netlmm_aaa.dataplane.tunnel_ebpf import (
    LWT_BPF_PROG_NAME,
    LWT_BPF_XMIT,
    LWTUNNEL_ENCAP_BPF,
    NLA_F_NESTED,
    EbpfTunnel,
    map_address,
    route_name,
)
from netlmm_aaa.dataplane.tunnel_ip6tnl import Ip6tnlTunnel
from netlmm_aaa.dataplane.tunnel_seg6 import Seg6Tunnel


def _insns(code: bytes) -> list[tuple[int, int, int, int]]:
    return [struct.unpack_from("<BBhi", code, i) for i in range(0, len(code), 8)]


def test_instructions_encode_as_the_kernel_defines_them() -> None:
    a = Assembler()
    a.mov(Reg.R0, 2)  # BPF_ALU64 | BPF_MOV | BPF_K = 0xb7
    a.mov_reg(Reg.R6, Reg.R1)  # 0xbf, dst 6, src 1
    a.load(Size.U32, Reg.R7, Reg.R6, 16)  # BPF_LDX | BPF_MEM | BPF_W = 0x61
    a.store_imm(Size.U8, Reg.R10, -42, 41)  # BPF_ST | BPF_MEM | BPF_B = 0x72
    a.atomic_add(Size.U64, Reg.R0, 0, Reg.R1)  # BPF_STX | BPF_ATOMIC | BPF_DW = 0xdb
    a.call(Helper.LWT_PUSH_ENCAP)
    a.exit()
    assert _insns(a.assemble()) == [
        (0xB7, 0x00, 0, 2),
        (0xBF, 0x16, 0, 0),
        (0x61, 0x67, 16, 0),
        (0x72, 0x0A, -42, 41),
        (0xDB, 0x10, 0, 0),
        (0x85, 0x00, 0, 73),
        (0x95, 0x00, 0, 0),
    ]


def test_jumps_resolve_relative_to_the_next_instruction() -> None:
    a = Assembler()
    a.jump_if(Jump.EQ, Reg.R1, 7, "out")  # pc 0 -> pc 3: offset 2
    a.load_imm64(Reg.R2, 0x1122334455667788)  # two slots
    a.label("out")
    a.jump("top")  # pc 3 -> pc 0: offset -4
    a.label("top")
    code = _insns(a.assemble())
    assert code[0] == (0x15, 0x01, 2, 7)
    assert code[1] == (0x18, 0x02, 0, 0x55667788)
    assert code[2] == (0x00, 0x00, 0, 0x11223344)
    assert code[3] == (0x05, 0x00, 0, 0)  # "top" is the instruction after it


def test_assembly_errors_are_typed() -> None:
    a = Assembler()
    a.jump("nowhere")
    with pytest.raises(AssemblyError, match="undefined label"):
        a.assemble()
    b = Assembler()
    b.label("x")
    with pytest.raises(AssemblyError, match="twice"):
        b.label("x")
    with pytest.raises(AssemblyError, match="out of range"):
        Assembler().load_imm64(Reg.R1, 1 << 64)
    with pytest.raises(AssemblyError, match="u32 or u64"):
        Assembler().atomic_add(Size.U8, Reg.R0, 0, Reg.R1)


def test_encapsulation_bakes_in_both_addresses_and_the_protocol_checks() -> None:
    code = encapsulation_program("2001:db8:ff::1", "2001:db8:ff::2")
    assert code == encapsulation_program("2001:db8:ff::1", "2001:db8:ff::2")  # deterministic
    assert code != encapsulation_program("2001:db8:ff::1", "2001:db8:ff::3")
    immediates = [imm & 0xFFFFFFFF for _, _, _, imm in _insns(code)]
    for address in ("2001:db8:ff::1", "2001:db8:ff::2"):
        packed = socket.inet_pton(socket.AF_INET6, address)
        for word in range(0, 16, 4):
            assert struct.unpack("<I", packed[word : word + 4])[0] in immediates
    assert imm16_of(b"\x86\xdd") in immediates and imm16_of(b"\x08\x00") in immediates


def test_gre_encapsulation_carries_the_key_and_the_k_bit_only() -> None:
    code = encapsulation_program("2001:db8:ff::1", "2001:db8:ff::2", 0x12345678)
    immediates = [imm & 0xFFFFFFFF for _, _, _, imm in _insns(code)]
    assert struct.unpack("<I", bytes.fromhex("12345678"))[0] in immediates  # the key, in order
    assert imm16_of(b"\x20\x00") in immediates  # flags: K set, C/S/version clear
    assert 47 in immediates and 48 in immediates  # next header GRE, 48 octets pushed
    assert code != encapsulation_program("2001:db8:ff::1", "2001:db8:ff::2", 0x12345679)


def _can_load_bpf() -> str | None:
    if os.geteuid() != 0:
        return "loading BPF programs needs root (CAP_BPF)"
    return None


@pytest.mark.skipif(_can_load_bpf() is not None, reason=str(_can_load_bpf()))
def test_the_verifier_accepts_both_programs() -> None:
    encap = load_program(encapsulation_program("2001:db8:ff::1", "2001:db8:ff::2"),
                         ProgramType.LWT_XMIT, "nlmm_encap")  # fmt: skip
    gre = load_program(encapsulation_program("2001:db8:ff::1", "2001:db8:ff::2", 0xFFFF_FFFF),
                       ProgramType.LWT_XMIT, "nlmm_encap")  # fmt: skip
    os.close(gre)
    peers = create_map(MapType.HASH, 16, 4, 16, "nlmm_peers")
    keys = create_map(MapType.HASH, 4, 16, 16, "nlmm_gre_keys")
    counters = create_map(MapType.ARRAY, 4, 8, COUNTERS, "nlmm_counters")
    try:
        decap = load_program(decapsulation_program("2001:db8:ff::1", peers, keys, counters),
                             ProgramType.SCHED_CLS, "nlmm_decap")  # fmt: skip
        try:
            info = program_info(decap)
            assert (info.type, info.name) == (ProgramType.SCHED_CLS, "nlmm_decap")
            assert len(info.map_ids) == 3
        finally:
            os.close(decap)
        assert program_info(encap).name == "nlmm_encap"
        update_element(peers, socket.inet_pton(socket.AF_INET6, "2001:db8:ff::2"), b"\1\0\0\0")
        assert lookup_element(peers, socket.inet_pton(socket.AF_INET6, "2001:db8:ff::2"), 4)
        assert lookup_element(peers, bytes(16), 4) is None
    finally:
        for fd in (encap, peers, keys, counters):
            os.close(fd)


@pytest.mark.skipif(_can_load_bpf() is not None, reason=str(_can_load_bpf()))
def test_a_refused_program_carries_the_verifier_log() -> None:
    a = Assembler()
    a.exit()  # returns r0 without setting it: "R0 !read_ok"
    with pytest.raises(BpfError) as refused:
        load_program(a.assemble(), ProgramType.SCHED_CLS, "nlmm_bad")
    assert "R0" in refused.value.verifier_log


def _dumped_encap(name: str) -> bytes:
    """An RTA_ENCAP payload as a route dump carries it for ``encap bpf xmit NAME``."""
    return nla(LWT_BPF_XMIT | NLA_F_NESTED, nla(LWT_BPF_PROG_NAME, name.encode() + b"\0"))


def test_route_names_read_back_as_the_peer_only_when_current() -> None:
    tunnel = EbpfTunnel()
    tunnel.local = "2001:db8:ff::1"
    peer = socket.inet_pton(socket.AF_INET6, "2001:db8:ff::11")
    current = _dumped_encap(route_name("2001:db8:ff::1", "2001:db8:ff::11"))
    assert tunnel.route_endpoint(LWTUNNEL_ENCAP_BPF, current) == peer
    assert tunnel.route_endpoint(LWTUNNEL_ENCAP_BPF, current) == peer  # cached
    keyed = _dumped_encap(route_name("2001:db8:ff::1", "2001:db8:ff::11", 0xFFFF_FFFF))
    assert tunnel.route_endpoint(LWTUNNEL_ENCAP_BPF, keyed) == peer + b"\xff" * 4
    too_big = _dumped_encap(route_name("2001:db8:ff::1", "2001:db8:ff::11", 1 << 32))
    assert tunnel.route_endpoint(LWTUNNEL_ENCAP_BPF, too_big) is None
    for stale in ("netlmm/0/2001:db8:ff::1>2001:db8:ff::11",  # another program version
                  "netlmm/1/2001:db8:ff::7>2001:db8:ff::11",  # another local address
                  "netlmm/1/2001:db8:ff::1>not-an-address", "pmip_to_b"):  # fmt: skip
        assert tunnel.route_endpoint(LWTUNNEL_ENCAP_BPF, _dumped_encap(stale)) is None, stale
    assert tunnel.route_endpoint(5, current) is None  # a seg6 route
    assert tunnel.route_endpoint(LWTUNNEL_ENCAP_BPF, b"\x03\x00") is None  # truncated


def test_an_ipv4_peer_gets_an_ipv4_outer_header() -> None:
    """RFC 5844 §4: toward an IPv4 peer the header pushed is 20 octets of IPv4 (28 with GRE)
    with both IPv4 addresses baked in, DF set; mixed families are refused."""
    code = encapsulation_program("192.0.2.1", "192.0.2.200")
    insns = _insns(code)
    immediates = [imm & 0xFFFFFFFF for _, _, _, imm in insns]
    pair = socket.inet_pton(socket.AF_INET, "192.0.2.1") + socket.inet_pton(
        socket.AF_INET, "192.0.2.200"
    )
    assert struct.unpack("<I", pair[:4])[0] in immediates  # the 64-bit immediate's halves
    assert struct.unpack("<I", pair[4:])[0] in immediates
    assert imm16_of(b"\x45\x00") in immediates  # version 4, five words
    assert struct.unpack("<I", b"\x00\x00\x40\x00")[0] in immediates  # DF
    assert (0xB7, 0x04, 0, 20) in insns  # r4 = 20 octets pushed
    assert any(code == 0x85 and imm == Helper.L3_CSUM_REPLACE for code, _, _, imm in insns)
    gre = _insns(encapsulation_program("192.0.2.1", "192.0.2.200", 7))
    assert (0xB7, 0x04, 0, 28) in gre
    with pytest.raises(ValueError, match="two families"):
        encapsulation_program("192.0.2.1", "2001:db8::2")


@pytest.mark.skipif(_can_load_bpf() is not None, reason=str(_can_load_bpf()))
def test_the_verifier_accepts_the_ipv4_transport_programs() -> None:
    peers = create_map(MapType.HASH, 16, 4, 16, "nlmm_peers")
    keys = create_map(MapType.HASH, 4, 16, 16, "nlmm_gre_keys")
    counters = create_map(MapType.ARRAY, 4, 8, COUNTERS, "nlmm_counters")
    try:
        for source, destination, key in (("192.0.2.1", "198.51.100.200", None),
                                         ("192.0.2.1", "198.51.100.200", 0xFFFF_FFFF)):  # fmt: skip
            os.close(load_program(encapsulation_program(source, destination, key),
                                  ProgramType.LWT_XMIT, "nlmm_encap"))  # fmt: skip
        for local, local_ipv4 in ((None, "192.0.2.200"), ("2001:db8:ff::1", "192.0.2.200")):
            os.close(load_program(decapsulation_program(local, peers, keys, counters, local_ipv4),
                                  ProgramType.SCHED_CLS, "nlmm_decap"))  # fmt: skip
    finally:
        for fd in (peers, keys, counters):
            os.close(fd)


def test_ipv4_endpoints_and_route_names_read_back() -> None:
    assert endpoint_octets("192.0.2.2") == socket.inet_pton(socket.AF_INET, "192.0.2.2")
    for text in ("192.0.2.2", "192.0.2.2 key 4660", "2001:db8::2", "2001:db8::2 key 1"):
        assert endpoint_text(endpoint_octets(text)) == text
    tunnel = EbpfTunnel()
    tunnel.local, tunnel.local_ipv4 = "2001:db8:ff::1", "192.0.2.1"
    peer = socket.inet_pton(socket.AF_INET, "192.0.2.2")
    named = _dumped_encap(route_name("192.0.2.1", "192.0.2.2", 9))
    assert tunnel.route_endpoint(LWTUNNEL_ENCAP_BPF, named) == peer + (9).to_bytes(4, "big")
    other = _dumped_encap(route_name("192.0.2.7", "192.0.2.2"))  # another IPv4 local address
    assert tunnel.route_endpoint(LWTUNNEL_ENCAP_BPF, other) is None
    assert map_address("192.0.2.2") == socket.inet_pton(socket.AF_INET6, "::ffff:192.0.2.2")


def test_backends_with_ipv6_outer_headers_refuse_an_ipv4_transport() -> None:
    """Said plainly at start-up, before the kernel is touched: only ebpf (and plain routing
    for IPv4 destinations) carries RFC 5844 IPv4 tunnels."""
    for backend in (Ip6tnlTunnel(), Seg6Tunnel()):
        with pytest.raises(DataPlaneError, match=f"the {backend.name} backend puts IPv6 outer"):
            backend.open(None, 1, "2001:db8:ff::1", ("192.0.2.2",))
        with pytest.raises(DataPlaneError, match="needs the ebpf backend"):
            backend.open(None, 1, "2001:db8:ff::1", (), local_ipv4="192.0.2.1")
    with pytest.raises(DataPlaneError, match="IPv6 home prefix via an IPv4 peer"):
        PlainRoutes().route_attributes(socket.AF_INET6, 1, endpoint_octets("192.0.2.2"))
    assert PlainRoutes().route_attributes(socket.AF_INET, 1, endpoint_octets("192.0.2.2"))
