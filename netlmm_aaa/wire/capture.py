"""Reading and writing packet captures, and finding mobility messages in captured frames.

Pure Python, no scapy: pcap (micro- and nanosecond, either byte order) and pcapng (SHB, IDB, EPB,
SPB; other blocks skipped), link types Ethernet (with 802.1Q/802.1ad tags), raw IP, Linux cooked
(SLL, SLL2) and BSD loopback. In each frame we walk the IPv6 extension-header chain to next header
135 (transport ``ipv6-mh``) or the IPv4/IPv6 UDP header to port 5436 (transport ``udp5436``).

Everything here is bounded by the captured length; a frame too short for what its headers claim
is reported as a :class:`CaptureFrameError` for that frame, never an exception that ends the read.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from netlmm_aaa.core.errors import NetlmmError
from netlmm_aaa.wire.ipv4_udp_transport import PMIP6_CONTROL_PORT
from netlmm_aaa.wire.mobility_header import IPPROTO_MH

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

_IPV6_EXTENSION_HEADERS = {0, 43, 60}  # hop-by-hop, routing, destination options


class CaptureError(NetlmmError):
    """The capture file cannot be read at all (not pcap/pcapng, or its structure is broken)."""


class CaptureFrameError(NetlmmError):
    """One frame cannot be taken apart down to a mobility message."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """One captured frame."""

    number: int
    """1-based frame number, as tshark counts."""
    linktype: int
    """The link-layer header type of the interface it was captured on."""
    data: bytes
    """The captured octets."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CapturedMobilityMessage:
    """The Mobility Header octets found in a frame, with what the checksum needs."""

    frame: int
    """1-based frame number."""
    transport: str
    """``ipv6-mh`` (IPv6 next header 135) or ``udp5436`` (RFC 5844 framing)."""
    source: str
    """Source address of the innermost IP header."""
    destination: str
    """Destination address of the innermost IP header."""
    payload: bytes
    """The Mobility Header octets (bounded by the IP/UDP length fields)."""
    source_packed: bytes
    """Source address, packed (16 octets for IPv6, 4 for IPv4)."""
    destination_packed: bytes
    """Destination address, packed."""


# ------------------------------------------------------------------------------------ reading


def read_frames(stream: BinaryIO) -> Iterator[Frame]:
    """Yield every frame of a pcap or pcapng stream. Raises :class:`CaptureError` if unreadable."""
    head = stream.read(4)
    if len(head) < 4:
        raise CaptureError("file is too short to be a pcap or pcapng capture")
    if head == b"\x0a\x0d\x0d\x0a":
        yield from _read_pcapng(stream, head)
    elif head in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        yield from _read_pcap(stream, ">")
    elif head in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        yield from _read_pcap(stream, "<")
    else:
        raise CaptureError(f"not a pcap or pcapng capture (magic {head.hex()})")


def _read_exact(stream: BinaryIO, n: int, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise CaptureError(f"capture ends inside {what} ({len(data)} of {n} octets)")
    return data


def _read_pcap(stream: BinaryIO, order: str) -> Iterator[Frame]:
    header = _read_exact(stream, 20, "the pcap file header")
    linktype = struct.unpack(order + "HHiIII", header)[5] & 0x0FFFFFFF
    record = struct.Struct(order + "IIII")
    number = 0
    while True:
        rh = stream.read(16)
        if not rh:
            return
        if len(rh) < 16:
            raise CaptureError(f"capture ends inside the header of record {number + 1}")
        _sec, _frac, caplen, _origlen = record.unpack(rh)
        if caplen > 0x4000000:
            raise CaptureError(f"record {number + 1} claims {caplen} octets")
        number += 1
        yield Frame(number=number, linktype=linktype, data=_read_exact(stream, caplen, "a record"))


def _read_pcapng(stream: BinaryIO, first: bytes) -> Iterator[Frame]:
    order = "<"
    linktypes: list[int] = []
    number = 0
    block_type_raw = first
    while True:
        length_raw = _read_exact(stream, 4, "a pcapng block header")
        if block_type_raw == b"\x0a\x0d\x0d\x0a":
            bom = _read_exact(stream, 4, "the section header")
            order = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            if struct.unpack(order + "I", bom)[0] != 0x1A2B3C4D:
                raise CaptureError("pcapng section header has a bad byte-order magic")
            total = struct.unpack(order + "I", length_raw)[0]
            if total < 28 or total % 4:
                raise CaptureError(f"pcapng section header length {total} is invalid")
            _read_exact(stream, total - 12, "the section header")
            linktypes = []
        else:
            block_type = struct.unpack(order + "I", block_type_raw)[0]
            total = struct.unpack(order + "I", length_raw)[0]
            if total < 12 or total % 4 or total > 0x4000000:
                raise CaptureError(f"pcapng block of type {block_type} has invalid length {total}")
            body = _read_exact(stream, total - 8, f"pcapng block type {block_type}")[:-4]
            if block_type == 1:  # Interface Description Block
                if len(body) < 8:
                    raise CaptureError("pcapng interface description block is too short")
                linktypes.append(struct.unpack_from(order + "H", body)[0])
            elif block_type in (6, 3):  # Enhanced / Simple Packet Block
                if block_type == 6:
                    if len(body) < 20:
                        raise CaptureError("pcapng enhanced packet block is too short")
                    iface, _hi, _lo, caplen, _orig = struct.unpack_from(order + "IIIII", body)
                    data = body[20 : 20 + caplen]
                else:
                    if len(body) < 4:
                        raise CaptureError("pcapng simple packet block is too short")
                    iface = 0
                    data = body[4:]
                if iface >= len(linktypes):
                    raise CaptureError(f"packet block names undescribed interface {iface}")
                number += 1
                yield Frame(number=number, linktype=linktypes[iface], data=data)
        block_type_raw = stream.read(4)
        if not block_type_raw:
            return
        if len(block_type_raw) < 4:
            raise CaptureError("capture ends inside a pcapng block type")


# ------------------------------------------------------------------------------------ dissecting


def _need(data: bytes, end: int, what: str) -> None:
    if end > len(data):
        raise CaptureFrameError(f"frame truncated in {what} (needs {end} octets, has {len(data)})")


def _network_layer(frame: Frame) -> tuple[int, bytes]:
    """(IP version, the IP packet) of a frame."""
    data = frame.data
    lt = frame.linktype
    if lt == LINKTYPE_ETHERNET:
        _need(data, 14, "the Ethernet header")
        ethertype = struct.unpack_from("!H", data, 12)[0]
        pos = 14
        while ethertype in (0x8100, 0x88A8):
            _need(data, pos + 4, "a VLAN tag")
            ethertype = struct.unpack_from("!H", data, pos + 2)[0]
            pos += 4
        payload = data[pos:]
    elif lt == LINKTYPE_LINUX_SLL:
        _need(data, 16, "the Linux cooked header")
        ethertype = struct.unpack_from("!H", data, 14)[0]
        payload = data[16:]
    elif lt == LINKTYPE_LINUX_SLL2:
        _need(data, 20, "the Linux cooked v2 header")
        ethertype = struct.unpack_from("!H", data, 0)[0]
        payload = data[20:]
    elif lt == LINKTYPE_NULL:
        _need(data, 4, "the loopback header")
        family = int.from_bytes(data[:4], "little")
        if family > 0xFFFF:
            family = int.from_bytes(data[:4], "big")
        ethertype = 0x0800 if family == 2 else 0x86DD
        payload = data[4:]
    elif lt in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        _need(data, 1, "the IP header")
        ethertype = 0x0800 if data[0] >> 4 == 4 else 0x86DD
        payload = data
    else:
        raise CaptureFrameError(f"link type {lt} is not supported")
    if ethertype == 0x86DD:
        return 6, payload
    if ethertype == 0x0800:
        return 4, payload
    return 0, payload


def find_mobility_message(frame: Frame) -> CapturedMobilityMessage | None:
    """The mobility message in ``frame``, or None when the frame carries none.

    Raises :class:`CaptureFrameError` when the frame is cut short or malformed on the way there.
    """
    version, packet = _network_layer(frame)
    depth = 0
    while version and depth < 4:  # at most 4 levels of IP-in-IP
        depth += 1
        if version == 6:
            _need(packet, 40, "the IPv6 header")
            plen = struct.unpack_from("!H", packet, 4)[0]
            end = 40 + plen
            _need(packet, end, "the IPv6 payload")
            src, dst = packet[8:24], packet[24:40]
            nh = packet[6]
            pos = 40
            while nh in _IPV6_EXTENSION_HEADERS or nh == 44 or nh == 51:
                _need(packet, pos + 8, "an IPv6 extension header")
                if nh == 44:
                    if struct.unpack_from("!H", packet, pos + 2)[0] & 0xFFF9:
                        raise CaptureFrameError("IPv6 fragment: reassembly is not supported")
                    size = 8
                elif nh == 51:
                    size = (packet[pos + 1] + 2) * 4
                else:
                    size = (packet[pos + 1] + 1) * 8
                nh = packet[pos]
                pos += size
                _need(packet, pos, "an IPv6 extension header")
            if nh == IPPROTO_MH:
                return _found(frame, "ipv6-mh", src, dst, packet[pos:end])
            if nh == 17:
                return _udp(frame, src, dst, packet[pos:end])
            if nh in (41, 4):
                version, packet = (6 if nh == 41 else 4), packet[pos:end]
                continue
            return None
        _need(packet, 20, "the IPv4 header")
        ihl = (packet[0] & 0x0F) * 4
        total = struct.unpack_from("!H", packet, 2)[0]
        if ihl < 20 or total < ihl:
            raise CaptureFrameError(f"IPv4 header length {ihl} / total length {total} is invalid")
        _need(packet, total, "the IPv4 packet")
        if struct.unpack_from("!H", packet, 6)[0] & 0x3FFF:
            raise CaptureFrameError("IPv4 fragment: reassembly is not supported")
        proto = packet[9]
        src, dst = packet[12:16], packet[16:20]
        if proto == 17:
            return _udp(frame, src, dst, packet[ihl:total])
        if proto == 41:
            version, packet = 6, packet[ihl:total]
            continue
        return None
    return None


def _udp(frame: Frame, src: bytes, dst: bytes, segment: bytes) -> CapturedMobilityMessage | None:
    _need(segment, 8, "the UDP header")
    sport, dport, length = struct.unpack_from("!HHH", segment)
    if PMIP6_CONTROL_PORT not in (sport, dport):
        return None
    if length < 8:
        raise CaptureFrameError(f"UDP length {length} is shorter than its header")
    _need(segment, length, "the UDP payload")
    return _found(frame, "udp5436", src, dst, segment[8:length])


def _found(
    frame: Frame, transport: str, src: bytes, dst: bytes, payload: bytes
) -> CapturedMobilityMessage:
    ip = ipaddress.IPv6Address if len(src) == 16 else ipaddress.IPv4Address
    return CapturedMobilityMessage(
        frame=frame.number,
        transport=transport,
        source=str(ip(src)),
        destination=str(ip(dst)),
        payload=payload,
        source_packed=src,
        destination_packed=dst,
    )


# ------------------------------------------------------------------------------------ writing


def ipv6_mobility_frame(source: str, destination: str, mh: bytes, *, hop_limit: int = 255) -> bytes:
    """An Ethernet frame carrying IPv6 next header 135 with ``mh`` (documentation MACs)."""
    ip = (
        struct.pack("!IHBB", 0x60000000, len(mh), IPPROTO_MH, hop_limit)
        + ipaddress.IPv6Address(source).packed
        + ipaddress.IPv6Address(destination).packed
    )
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x86\xdd" + ip + mh


def _ones_complement(data: bytes) -> int:
    if len(data) & 1:
        data += b"\x00"
    s = int.from_bytes(data, "big") % 0xFFFF
    return 0xFFFF - s if s else 0


def ipv4_udp_frame(
    source: str,
    destination: str,
    payload: bytes,
    *,
    source_port: int = PMIP6_CONTROL_PORT,
    destination_port: int = PMIP6_CONTROL_PORT,
) -> bytes:
    """An Ethernet frame carrying IPv4/UDP with ``payload``, both checksums computed."""
    src = ipaddress.IPv4Address(source).packed
    dst = ipaddress.IPv4Address(destination).packed
    ulen = 8 + len(payload)
    pseudo = src + dst + struct.pack("!BBH", 0, 17, ulen)
    udp = struct.pack("!HHHH", source_port, destination_port, ulen, 0) + payload
    udp_sum = _ones_complement(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", udp_sum) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0, 0x4000, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _ones_complement(ip)) + ip[12:]
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + udp


def write_pcap(
    stream: BinaryIO, frames: Iterable[bytes], *, linktype: int = LINKTYPE_ETHERNET
) -> int:
    """Write ``frames`` as a classic pcap (microsecond timestamps 1 ms apart). Returns the count."""
    stream.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
    count = 0
    for count, frame in enumerate(frames, 1):
        stream.write(struct.pack("<IIII", 1_700_000_000, count * 1000, len(frame), len(frame)))
        stream.write(frame)
    return count
