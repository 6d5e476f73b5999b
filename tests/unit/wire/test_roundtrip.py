"""Round trips: encode -> decode gives the same message; decode -> encode gives the same bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netlmm_aaa.core.codes import (
    AccessTechnologyType,
    BindingStatus,
    BindingUpdateFlag,
    HandoffIndicator,
)
from netlmm_aaa.core.messages import (
    MESSAGE_SHORT_NAMES,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    find_option,
    find_options,
    lifetime_to_units,
)
from netlmm_aaa.core.options import (
    AccessTechnologyTypeOption,
    HandoffIndicatorOption,
    HomeNetworkPrefixOption,
    MobileNodeIdentifierOption,
    TimestampOption,
    option_type_of,
)
from netlmm_aaa.wire.ipv4_udp_transport import decode_udp_payload, encode_udp_payload
from netlmm_aaa.wire.mobility_header import (
    decode_mobility_header,
    encode_mobility_header,
    verify_mobility_header_checksum,
)
from netlmm_aaa.wire.mobility_options import ALIGNMENT, decode_options, encode_options
from tests.strategies import MESSAGE_STRATEGIES, OPTION_STRATEGIES, any_message, option_lists

SRC = bytes.fromhex("20010db8000100000000000000000002")
DST = bytes.fromhex("20010db8000100000000000000000001")


def _walk_options(mh: bytes, start: int) -> list[tuple[int, int]]:
    """(offset, type) of every option in ``mh`` from ``start``, padding included."""
    out = []
    pos = start
    while pos < len(mh):
        out.append((pos, mh[pos]))
        pos += 1 if mh[pos] == 0 else 2 + mh[pos + 1]
    return out


@pytest.mark.parametrize("kind", list(MESSAGE_STRATEGIES), ids=lambda k: MESSAGE_SHORT_NAMES[k])
@given(data=st.data())
def test_every_message_round_trips_over_ipv6_with_checksum(kind: type, data: st.DataObject) -> None:
    message = data.draw(MESSAGE_STRATEGIES[kind])
    mh = encode_mobility_header(message, source=SRC, destination=DST)
    assert len(mh) % 8 == 0
    assert mh[1] == len(mh) // 8 - 1
    assert verify_mobility_header_checksum(mh, SRC, DST)
    decoded = decode_mobility_header(mh, source=SRC, destination=DST)
    assert decoded == message
    assert type(decoded) is kind
    # Canonical bytes re-encode to themselves.
    assert encode_mobility_header(decoded, source=SRC, destination=DST) == mh


@given(message=any_message)
def test_every_message_round_trips_over_udp5436_with_zero_checksum(message: object) -> None:
    payload = encode_udp_payload(message)  # type: ignore[arg-type]
    assert payload[4:6] == b"\x00\x00"
    assert decode_udp_payload(payload) == message
    assert encode_udp_payload(decode_udp_payload(payload)) == payload


@pytest.mark.parametrize("kind", list(OPTION_STRATEGIES), ids=lambda k: k.__name__)
@given(data=st.data(), offset=st.integers(0, 7))
def test_every_option_round_trips_and_is_aligned(
    kind: type, data: st.DataObject, offset: int
) -> None:
    option = data.draw(OPTION_STRATEGIES[kind])
    start = 8 + offset
    encoded = encode_options([option], start)
    assert (start + len(encoded)) % 8 == 0
    assert decode_options(b"\xee" * start + encoded, start, start + len(encoded)) == (option,)
    # The option's Type octet sits where its RFC alignment says.
    located = [(pos, t) for pos, t in _walk_options(b"\xee" * start + encoded, start) if t > 1]
    assert len(located) == 1
    pos, otype = located[0]
    assert otype == option_type_of(option)
    modulus, remainder = ALIGNMENT.get(otype, (1, 0))
    assert pos % modulus == remainder


@given(options=option_lists)
def test_option_lists_keep_order_and_alignment(options: tuple) -> None:
    encoded = encode_options(options, 12)
    mh = bytes(12) + encoded
    assert decode_options(mh, 12, len(mh)) == options
    for pos, otype in _walk_options(mh, 12):
        if otype in ALIGNMENT:
            modulus, remainder = ALIGNMENT[otype]
            assert pos % modulus == remainder


def test_full_pbu_layout_matches_rfc_alignment() -> None:
    pbu = ProxyBindingUpdate(
        sequence=7,
        lifetime=lifetime_to_units(3600),
        options=(
            MobileNodeIdentifierOption.from_nai("mn1@example.org"),
            HomeNetworkPrefixOption.from_network("2001:db8:100::/64"),
            HandoffIndicatorOption(HandoffIndicator.SAME_INTERFACE),
            AccessTechnologyTypeOption(AccessTechnologyType.IEEE_802_11),
            TimestampOption.from_seconds(1_700_000_000.5),
        ),
    )
    mh = encode_mobility_header(pbu)
    layout = [(pos, t) for pos, t in _walk_options(mh, 12)]
    # MN-ID at 12 (18 octets) -> PadN -> HNP at 36 (8n+4) -> HI, ATT -> PadN -> Timestamp (8n+2).
    assert layout[0] == (12, 8)
    assert (36, 22) in layout
    ts_pos = next(pos for pos, t in layout if t == 27)
    assert ts_pos % 8 == 2
    assert mh[8:10] == b"\x82\x00"  # A and P
    assert int.from_bytes(mh[10:12], "big") == 900  # 3600 s in 4 s units


def test_lifetime_units() -> None:
    assert lifetime_to_units(0) == 0
    assert lifetime_to_units(1) == 1
    assert lifetime_to_units(4) == 1
    assert lifetime_to_units(5) == 2
    assert lifetime_to_units(10**9) == 0xFFFF
    assert ProxyBindingUpdate(sequence=1, lifetime=15).lifetime_seconds == 60


def test_type_aware_equality_and_lookup() -> None:
    assert HandoffIndicatorOption(4) != AccessTechnologyTypeOption(4)
    assert HandoffIndicatorOption(4) == HandoffIndicatorOption(HandoffIndicator.UNKNOWN)
    assert hash(HandoffIndicatorOption(4)) == hash(HandoffIndicatorOption(4))
    pbu = ProxyBindingUpdate(
        sequence=1,
        lifetime=1,
        options=(HomeNetworkPrefixOption(bytes(16), 64), HomeNetworkPrefixOption(bytes(16), 48)),
    )
    assert find_option(pbu, HomeNetworkPrefixOption) == HomeNetworkPrefixOption(bytes(16), 64)
    assert len(find_options(pbu, HomeNetworkPrefixOption)) == 2
    assert find_option(pbu, TimestampOption) is None
    pba = ProxyBindingAcknowledgement(status=0, sequence=1, lifetime=1)
    assert pba != ProxyBindingUpdate(sequence=0, lifetime=1)  # same tuple length, other class


def test_decoder_maps_known_codes_to_enums_and_keeps_unknown_values() -> None:
    pba = ProxyBindingAcknowledgement(status=160, sequence=9, lifetime=0)
    decoded = decode_mobility_header(encode_mobility_header(pba))
    assert decoded.status is BindingStatus.MISSING_MN_IDENTIFIER_OPTION  # type: ignore[union-attr]
    odd = ProxyBindingAcknowledgement(status=200, sequence=9, lifetime=0)
    assert decode_mobility_header(encode_mobility_header(odd)).status == 200  # type: ignore[union-attr]
    flags = decode_mobility_header(encode_mobility_header(ProxyBindingUpdate(1, 1))).flags  # type: ignore[union-attr]
    assert flags == BindingUpdateFlag.A | BindingUpdateFlag.P


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (ProxyBindingUpdate(sequence=0x10000, lifetime=1), "does not fit"),
        (ProxyBindingUpdate(sequence=1, lifetime=-1), "does not fit"),
        (
            ProxyBindingUpdate(1, 1, options=(HomeNetworkPrefixOption(b"short", 64),)),
            "16 octets",
        ),
        (
            ProxyBindingUpdate(1, 1, options=(HomeNetworkPrefixOption(bytes(16), 129),)),
            "0-128",
        ),
        (ProxyBindingUpdate(1, 1, options=(HandoffIndicatorOption(256),)), "does not fit"),
        (
            ProxyBindingUpdate(1, 1, options=(MobileNodeIdentifierOption(b"x" * 255),)),
            "at most 254",
        ),
        (
            ProxyBindingUpdate(1, 1, options=(MobileNodeIdentifierOption(b"x" * 250),) * 9),
            "does not fit",
        ),
    ],
)
def test_encoder_rejects_values_that_do_not_fit(message: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        encode_mobility_header(message)  # type: ignore[arg-type]


def test_encoder_rejects_non_messages_and_half_addresses() -> None:
    with pytest.raises(TypeError):
        encode_mobility_header((1, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="both"):
        encode_mobility_header(ProxyBindingUpdate(1, 1), source=SRC)
