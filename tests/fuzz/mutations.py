"""A seeded, structure-aware mutational fuzzer for the Mobility Header decoder (no extra deps).

Inputs are valid messages (our own and the captured OPMIP vectors) mutated by bit flips, byte
overwrites with boundary values, truncation, extension, length-octet edits and option splicing,
plus pure random buffers. The property: :func:`decode_mobility_header` either returns a message or
raises ``WireFormatError``; anything else is a bug. Used by the CI-sized test (100k inputs) and by
``python -m tests.fuzz.fuzz_mobility_header`` for long runs (atheris when installed).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from netlmm_aaa.core.messages import (
    BindingError,
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    Heartbeat,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    UpdateNotification,
    UpdateNotificationAcknowledgement,
)
from netlmm_aaa.core.options import (
    AccessTechnologyTypeOption,
    GreKeyOption,
    HandoffIndicatorOption,
    HomeNetworkPrefixOption,
    IPv4DefaultRouterAddressOption,
    IPv4DhcpSupportModeOption,
    IPv4HomeAddressReplyOption,
    IPv4HomeAddressRequestOption,
    LinkLocalAddressOption,
    MobileNodeIdentifierOption,
    MobileNodeLinkLayerIdentifierOption,
    RestartCounterOption,
    TimestampOption,
    UnknownOption,
)
from netlmm_aaa.wire.mobility_header import encode_mobility_header

_ALL_OPTIONS = (
    MobileNodeIdentifierOption.from_nai("mn1@example.org"),
    HomeNetworkPrefixOption.from_network("2001:db8:100::/64"),
    HandoffIndicatorOption(3),
    AccessTechnologyTypeOption(4),
    MobileNodeLinkLayerIdentifierOption.from_mac("02:00:00:00:01:01"),
    LinkLocalAddressOption.from_address("fe80::1"),
    TimestampOption.from_seconds(1_700_000_000.5),
    RestartCounterOption(7),
    GreKeyOption(1001),
    GreKeyOption(None),
    IPv4HomeAddressRequestOption.from_address("0.0.0.0"),
    IPv4HomeAddressReplyOption(0, bytes([203, 0, 113, 10]), 24),
    IPv4DefaultRouterAddressOption(bytes([203, 0, 113, 1])),
    IPv4DhcpSupportModeOption(True),
    UnknownOption(200, b"\x01\x02\x03"),
)

SEEDS: list[bytes] = [
    encode_mobility_header(m)
    for m in (
        ProxyBindingUpdate(7, 900, options=_ALL_OPTIONS),
        ProxyBindingAcknowledgement(0, 7, 900, options=_ALL_OPTIONS[:6]),
        Heartbeat(1, True, False, (RestartCounterOption(3),)),
        BindingRevocationIndication(1, 5, options=_ALL_OPTIONS[:2]),
        BindingRevocationAcknowledgement(0, 5),
        UpdateNotification(5, 1, options=_ALL_OPTIONS[:1]),
        UpdateNotificationAcknowledgement(5, 0),
        BindingError(2),
    )
] + [
    # OPMIP's layout: HNP at 8n+6 and six Pad1 octets.
    bytes.fromhex(
        "3b07050025d89c9d8200000f0810016d6e31406578616d706c652e6f72671612"
        "004020010db80100000000000000000000001702000418020000000000000000"
    )
]

_BOUNDARY = (0x00, 0x01, 0x02, 0x7F, 0x80, 0xFE, 0xFF)


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One mutated copy of ``data``."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(9)
        if choice == 0 and buf:  # flip a bit
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif choice == 1 and buf:  # boundary value
            buf[rng.randrange(len(buf))] = rng.choice(_BOUNDARY)
        elif choice == 2 and buf:  # truncate
            del buf[rng.randrange(len(buf)) :]
        elif choice == 3:  # extend
            buf += rng.randbytes(rng.randint(1, 24))
        elif choice == 4 and len(buf) > 1:  # Header Len
            buf[1] = rng.choice((*_BOUNDARY, len(buf) // 8 - 1, len(buf) // 8)) & 0xFF
        elif choice == 5 and len(buf) > 13:  # an option Length octet somewhere after 12
            buf[rng.randrange(13, len(buf))] = rng.choice((*_BOUNDARY, 16, 18))
        elif choice == 6 and len(buf) > 12:  # splice another seed's tail
            other = rng.choice(SEEDS)
            cut = rng.randrange(12, len(buf))
            buf = buf[:cut] + other[rng.randrange(12, len(other)) :]
        elif choice == 7 and len(buf) > 2:  # MH type
            buf[2] = rng.choice((5, 6, 7, 13, 16, 19, 20, rng.randrange(256)))
        elif choice == 8 and len(buf) > 6:  # B.R. type / status octet
            buf[6] = rng.choice(_BOUNDARY)
    return bytes(buf)


def inputs(seed: int, count: int) -> Iterator[bytes]:
    """``count`` fuzz inputs, reproducible from ``seed``; one in eight purely random."""
    rng = random.Random(seed)
    for i in range(count):
        if i % 8 == 7:
            yield rng.randbytes(rng.randint(0, 96))
        else:
            yield mutate(rng, rng.choice(SEEDS))
