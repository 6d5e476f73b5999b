"""The capture reader: pcap and pcapng, link types, and bounded dissection of broken frames."""

from __future__ import annotations

import io
import struct

import pytest

from netlmm_aaa.core.messages import Heartbeat
from netlmm_aaa.wire.capture import (
    CaptureError,
    CaptureFrameError,
    Frame,
    find_mobility_message,
    ipv4_udp_frame,
    ipv6_mobility_frame,
    read_frames,
    write_pcap,
)
from netlmm_aaa.wire.mobility_header import encode_mobility_header

MH = encode_mobility_header(Heartbeat(1))


def _pcapng(frames: list[bytes], linktype: int = 1) -> bytes:
    shb_body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    out = (
        struct.pack("<II", 0x0A0D0D0A, 12 + len(shb_body))
        + shb_body
        + struct.pack("<I", 12 + len(shb_body))
    )
    idb_body = struct.pack("<HHI", linktype, 0, 65535)
    out += (
        struct.pack("<II", 1, 12 + len(idb_body)) + idb_body + struct.pack("<I", 12 + len(idb_body))
    )
    for f in frames:
        pad = b"\x00" * (-len(f) % 4)
        body = struct.pack("<IIIII", 0, 0, 0, len(f), len(f)) + f + pad
        out += struct.pack("<II", 6, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    return out


def test_pcap_and_pcapng_give_the_same_frames() -> None:
    frames = [
        ipv6_mobility_frame("2001:db8::2", "2001:db8::1", MH),
        ipv4_udp_frame("192.0.2.2", "192.0.2.1", MH),
    ]
    pcap = io.BytesIO()
    write_pcap(pcap, frames)
    a = list(read_frames(io.BytesIO(pcap.getvalue())))
    b = list(read_frames(io.BytesIO(_pcapng(frames))))
    assert [f.data for f in a] == [f.data for f in b] == frames
    found = [find_mobility_message(f) for f in a]
    assert [c.transport for c in found if c] == ["ipv6-mh", "udp5436"]
    assert all(c is not None and c.payload == MH for c in found)


def test_vlan_tagged_and_raw_ip_frames() -> None:
    eth = ipv6_mobility_frame("2001:db8::2", "2001:db8::1", MH)
    tagged = eth[:12] + b"\x81\x00\x00\x64" + eth[12:]
    assert find_mobility_message(Frame(number=1, linktype=1, data=tagged)).payload == MH  # type: ignore[union-attr]
    raw = Frame(number=1, linktype=101, data=eth[14:])
    assert find_mobility_message(raw).payload == MH  # type: ignore[union-attr]


def test_other_traffic_is_ignored() -> None:
    udp53 = ipv4_udp_frame("192.0.2.2", "192.0.2.1", b"dns", source_port=53, destination_port=53)
    assert find_mobility_message(Frame(number=1, linktype=1, data=udp53)) is None
    arp = b"\xff" * 12 + b"\x08\x06" + bytes(28)
    assert find_mobility_message(Frame(number=1, linktype=1, data=arp)) is None


@pytest.mark.parametrize("cut", [10, 30, 54, 60])
def test_truncated_frames_raise_frame_errors(cut: int) -> None:
    eth = ipv6_mobility_frame("2001:db8::2", "2001:db8::1", MH)
    with pytest.raises(CaptureFrameError, match="truncated"):
        find_mobility_message(Frame(number=1, linktype=1, data=eth[:cut]))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "too short"),
        (b"GIF89a..", "not a pcap"),
        (b"\xd4\xc3\xb2\xa1" + bytes(10), "file header"),
    ],
)
def test_unreadable_files_raise_capture_errors(data: bytes, words: str) -> None:
    with pytest.raises(CaptureError, match=words):
        list(read_frames(io.BytesIO(data)))


def test_truncated_record_is_a_capture_error() -> None:
    pcap = io.BytesIO()
    write_pcap(pcap, [ipv6_mobility_frame("2001:db8::2", "2001:db8::1", MH)])
    with pytest.raises(CaptureError, match="record"):
        list(read_frames(io.BytesIO(pcap.getvalue()[:-5])))
