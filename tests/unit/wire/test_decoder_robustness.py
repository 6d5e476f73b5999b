"""Strict decoding: every malformed input raises a WireFormatError naming the problem."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netlmm_aaa.core.errors import (
    ChecksumError,
    InvalidOptionError,
    TruncatedMessageError,
    UnknownMessageTypeError,
    WireFormatError,
)
from netlmm_aaa.core.messages import Heartbeat, ProxyBindingUpdate
from netlmm_aaa.core.options import HomeNetworkPrefixOption, UnknownOption
from netlmm_aaa.wire.mobility_header import decode_mobility_header, encode_mobility_header
from tests.fuzz.fuzz_mobility_header import check_one
from tests.fuzz.mutations import SEEDS, inputs

SRC, DST = "2001:db8::2", "2001:db8::1"
PBU = encode_mobility_header(
    ProxyBindingUpdate(7, 15, options=(HomeNetworkPrefixOption.from_network("2001:db8::/64"),))
)


def _with(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + bytes((value,)) + data[offset + 1 :]


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"", TruncatedMessageError, "cannot hold"),
        (b"\x3b\x00\x05", TruncatedMessageError, "cannot hold"),
        (PBU[:-8], TruncatedMessageError, "Header Len says"),
        (PBU + b"\x00" * 8, WireFormatError, "follow the"),
        (_with(PBU, 0, 6), WireFormatError, "Payload Proto"),
        (_with(PBU, 2, 99), UnknownMessageTypeError, "type 99"),
        (b"\x3b\x00\x05\x00\x00\x00\x00\x00", TruncatedMessageError, "Binding Update needs"),
        (b"\x3b\x00\x07\x00\x00\x00\x02\x00", TruncatedMessageError, "Binding Error needs"),
        # HNP option claims 19 octets: runs past the end.
        (_with(PBU, 13, 19), TruncatedMessageError, "runs past the end"),
        # HNP option with length 17: wrong for its type.
        (_with(PBU, 13, 17)[:-1] + b"\x00", InvalidOptionError, "must be 18"),
        # Prefix length 129.
        (_with(PBU, 15, 129), InvalidOptionError, "exceeds 128"),
        # Binding Revocation of B.R. type 3.
        (bytes.fromhex("3b011000000003000001000000000000"), WireFormatError, "Revocation type 3"),
    ],
)
def test_malformed_messages_raise_typed_errors(
    data: bytes, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words) as info:
        decode_mobility_header(data)
    assert isinstance(info.value, WireFormatError)
    assert info.value.offset is not None


def test_unknown_message_type_carries_the_type_for_a_binding_error() -> None:
    with pytest.raises(UnknownMessageTypeError) as info:
        decode_mobility_header(b"\x3b\x00\x08\x00\x00\x00\x00\x00")  # OAI's non-IANA type 8
    assert info.value.mh_type == 8


def test_option_header_cut_at_the_end() -> None:
    mh = bytearray(encode_mobility_header(Heartbeat(1)))  # 16 octets, options 12..16 are PadN
    mh[12:15] = b"\x00\x00\x00"  # Pad1 x3 ...
    mh[15] = 9  # ... then a type octet with no length octet
    with pytest.raises(TruncatedMessageError, match="no Length octet"):
        decode_mobility_header(bytes(mh))


def test_checksum_is_verified_when_addresses_are_given() -> None:
    good = encode_mobility_header(ProxyBindingUpdate(7, 15), source=SRC, destination=DST)
    decode_mobility_header(good, source=SRC, destination=DST)
    bad = _with(good, 11, good[11] ^ 0x01)
    with pytest.raises(ChecksumError, match="does not verify"):
        decode_mobility_header(bad, source=SRC, destination=DST)
    decode_mobility_header(bad)  # without addresses (UDP, kernel-verified) it is ignored


def test_pad1_runs_padn_and_unknown_options_are_tolerated() -> None:
    # Options: Pad1 x3, PadN(1), an unknown type 250 with 3 octets; 12 + 3 + 3 + 5 = 23 -> pad 1
    body = b"\x00\x00\x00" + b"\x01\x01\x00" + b"\xfa\x03abc" + b"\x00"
    mh = bytes((59, (12 + len(body)) // 8 - 1, 5, 0, 0, 0, 0, 1, 0x82, 0, 0, 1)) + body
    message = decode_mobility_header(mh)
    assert message.options == (UnknownOption(250, b"abc"),)
    assert decode_mobility_header(encode_mobility_header(message)) == message


def test_bytearray_and_memoryview_inputs() -> None:
    assert decode_mobility_header(bytearray(PBU)) == decode_mobility_header(PBU)  # type: ignore[arg-type]
    assert decode_mobility_header(memoryview(PBU)) == decode_mobility_header(PBU)  # type: ignore[arg-type]


@given(st.binary(max_size=300))
def test_random_bytes_raise_only_wire_format_errors(data: bytes) -> None:
    check_one(data)


@given(st.sampled_from(SEEDS), st.integers(0, 300), st.integers(0, 255))
def test_single_byte_edits_raise_only_wire_format_errors(seed: bytes, pos: int, v: int) -> None:
    if pos < len(seed):
        check_one(seed[:pos] + bytes((v,)) + seed[pos + 1 :])


def test_hundred_thousand_mutated_inputs_raise_only_wire_format_errors() -> None:
    decoded = rejected = 0
    for data in inputs(seed=2026, count=100_000):
        if check_one(data):
            decoded += 1
        else:
            rejected += 1
    # Both outcomes must be well represented, or the mutator is not exercising the decoder.
    assert decoded > 5_000
    assert rejected > 20_000


# In the hardening suite (security-tests.md W1: the PMIPv6 decoder corpus and property).
pytestmark = pytest.mark.hardening
