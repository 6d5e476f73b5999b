"""Golden vectors: captures of other implementations decode, match tshark's counts, re-encode."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

from netlmm_aaa.core.codes import AccessTechnologyType, BindingStatus, HandoffIndicator
from netlmm_aaa.core.errors import WireFormatError
from netlmm_aaa.core.messages import (
    MESSAGE_SHORT_NAMES,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    find_option,
)
from netlmm_aaa.core.options import (
    AccessTechnologyTypeOption,
    HandoffIndicatorOption,
    HomeNetworkPrefixOption,
    IPv4HomeAddressRequestOption,
    MobileNodeIdentifierOption,
    TimestampOption,
)
from netlmm_aaa.wire.capture import find_mobility_message, read_frames
from netlmm_aaa.wire.ipv4_udp_transport import decode_udp_payload
from netlmm_aaa.wire.mobility_header import decode_mobility_header, encode_mobility_header
from tests.conftest import VECTORS

CAPTURES = {
    # file: (mobility messages, PBUs, PBAs, de-registration PBUs), from the vectors' README
    "opmip-lma-mag-signaling.pcapng": (54, 27, 27, 13),
    "opmip-mag-vs-scapy-lma.pcapng": (38, 19, 19, 9),
}


def _load_hex(name: str) -> tuple[bytes, str, str]:
    lines = (VECTORS / name).read_text().splitlines()
    src = dst = ""
    for line in lines:
        if line.startswith("# src "):
            _, _, src, _, dst = line.split()
    data = bytes.fromhex("".join(line for line in lines if not line.startswith("#")))
    return data, src, dst


def _messages(path: Path) -> list[tuple[int, object]]:
    out = []
    with path.open("rb") as stream:
        for frame in read_frames(stream):
            captured = find_mobility_message(frame)
            if captured is None:
                continue
            if captured.transport == "ipv6-mh":
                msg = decode_mobility_header(
                    captured.payload,
                    source=captured.source_packed,
                    destination=captured.destination_packed,
                )
            else:
                msg = decode_udp_payload(captured.payload)
            out.append((frame.number, msg))
    return out


def _tshark_count(tshark: str, path: Path, display_filter: str) -> int:
    result = subprocess.run(
        [tshark, "-r", str(path), "-Y", display_filter, "-T", "fields", "-e", "frame.number"],
        capture_output=True,
        text=True,
        check=True,
    )
    return len(result.stdout.split())


@pytest.mark.tshark
@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_capture_counts_agree_with_tshark(name: str, testvectors: Path, tshark: str) -> None:
    path = testvectors / name
    messages = _messages(path)
    kinds = Counter(MESSAGE_SHORT_NAMES[type(m)] for _, m in messages)
    total, pbus, pbas, deregs = CAPTURES[name]
    deregistrations = sum(
        1 for _, m in messages if isinstance(m, ProxyBindingUpdate) and m.lifetime == 0
    )
    assert (len(messages), kinds["PBU"], kinds["PBA"], deregistrations) == (
        total,
        pbus,
        pbas,
        deregs,
    )
    assert _tshark_count(tshark, path, "mipv6") == len(messages)
    assert _tshark_count(tshark, path, "mip6.mhtype==5") == kinds["PBU"]
    assert _tshark_count(tshark, path, "mip6.mhtype==6") == kinds["PBA"]
    assert _tshark_count(tshark, path, "mip6.mhtype==5 && mip6.bu.lifetime==0") == deregistrations
    # Frame numbers agree too, not only the counts.
    result = subprocess.run(
        [tshark, "-r", str(path), "-Y", "mipv6", "-T", "fields", "-e", "frame.number"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [int(n) for n in result.stdout.split()] == [n for n, _ in messages]


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_capture_messages_reencode_to_equivalent_messages(name: str, testvectors: Path) -> None:
    for _, message in _messages(testvectors / name):
        assert isinstance(message, ProxyBindingUpdate | ProxyBindingAcknowledgement)
        # OPMIP misaligns and pads with Pad1 runs; our canonical encoding differs in layout only.
        again = encode_mobility_header(message, source="2001:db8:1::2", destination="2001:db8:1::1")
        assert decode_mobility_header(again) == message
        assert find_option(message, MobileNodeIdentifierOption) is not None
        assert find_option(message, HomeNetworkPrefixOption) is not None


def test_opmip_pbu_vector() -> None:
    data, src, dst = _load_hex("pbu_opmip_register.hex")
    pbu = decode_mobility_header(data, source=src, destination=dst)
    assert pbu == ProxyBindingUpdate(
        sequence=40093,
        lifetime=15,
        options=(
            MobileNodeIdentifierOption.from_nai("mn1@example.org"),
            HomeNetworkPrefixOption.from_network("2001:db8:100::/64"),
            HandoffIndicatorOption(HandoffIndicator.UNKNOWN),
            AccessTechnologyTypeOption(AccessTechnologyType.RESERVED),
        ),
    )
    # HNP misaligned at offset 30 and six Pad1 octets at the end: both tolerated.
    assert data[30] == 22
    assert data[-6:] == bytes(6)
    ours = encode_mobility_header(pbu, source=src, destination=dst)
    assert ours != data
    assert ours[36] == 22  # we align it at 8n+4
    assert decode_mobility_header(ours, source=src, destination=dst) == pbu


def test_opmip_pba_vector() -> None:
    data, src, dst = _load_hex("pba_opmip_register.hex")
    pba = decode_mobility_header(data, source=src, destination=dst)
    assert isinstance(pba, ProxyBindingAcknowledgement)
    assert pba.status is BindingStatus.ACCEPTED
    assert pba.accepted
    assert (pba.sequence, pba.lifetime, pba.flags) == (40093, 15, 0x20)


def test_opmip_deregistration_vector() -> None:
    data, src, dst = _load_hex("pbu_opmip_deregister.hex")
    pbu = decode_mobility_header(data, source=src, destination=dst)
    assert isinstance(pbu, ProxyBindingUpdate)
    assert pbu.lifetime == 0
    assert find_option(pbu, MobileNodeIdentifierOption) == MobileNodeIdentifierOption.from_nai(
        "mn2@example.org"
    )


def test_scapy_vector_with_timestamp_and_ipv4_request() -> None:
    data, src, dst = _load_hex("pbu_scapy_timestamp_hoa.hex")
    pbu = decode_mobility_header(data, source=src, destination=dst)
    assert isinstance(pbu, ProxyBindingUpdate)
    assert pbu.sequence == 7
    ts = find_option(pbu, TimestampOption)
    assert ts is not None
    assert ts.seconds == 1_700_000_000.5  # 2023-11-14 22:13:20.5 UTC
    assert find_option(pbu, IPv4HomeAddressRequestOption) == IPv4HomeAddressRequestOption()


def test_checksum_of_vectors_is_checked() -> None:
    data, src, dst = _load_hex("pbu_opmip_register.hex")
    with pytest.raises(WireFormatError, match="checksum"):
        decode_mobility_header(data, source=dst, destination=src[:-1] + "3")


def test_negative_vector_ipv6_inside_udp_is_rejected(testvectors: Path) -> None:
    with (testvectors / "scapy_pbu.pcap").open("rb") as stream:
        frames = list(read_frames(stream))
    captured = find_mobility_message(frames[1])
    assert captured is not None
    assert captured.transport == "udp5436"
    with pytest.raises(WireFormatError):
        decode_udp_payload(captured.payload)
