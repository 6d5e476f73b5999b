"""Long fuzz run of the RADIUS accounting decoder, for manual use (a short run is in CI).

    python -m tests.fuzz.fuzz_radius_accounting --inputs 1000000

Inputs are signed Accounting-Requests (hostapd- and controller-shaped) mutated by bit flips,
boundary octets, truncation, extension, attribute-length edits and attribute splicing. Half of
the mutants are re-signed with the right secret, so that the decoder's checks past the Request
Authenticator (duplicates, sizes, UTF-8, MACs, status types) are exercised too. The property:
:func:`decode_accounting_request` returns a request or raises ``RadiusError``; nothing else.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import struct
import sys
import time
from collections import Counter
from collections.abc import Iterator

from netlmm_aaa.wire.radius_accounting import RadiusError, decode_accounting_request

SECRET = b"fuzz-secret"


def _u32(value: int) -> bytes:
    return struct.pack("!I", value)


def sign(data: bytes, secret: bytes = SECRET) -> bytes:
    """``data`` with its Request Authenticator recomputed (RFC 2866 §3) over its first Length
    octets (or all of it when Length is implausible)."""
    if len(data) < 20:
        return data
    length = struct.unpack_from("!H", data, 2)[0]
    end = length if 20 <= length <= len(data) else len(data)
    auth = hashlib.md5(data[:4] + bytes(16) + data[20:end] + secret).digest()
    return data[:4] + auth + data[20:]


def build(attributes: list[tuple[int, bytes]], identifier: int = 1) -> bytes:
    body = b"".join(bytes((kind, len(value) + 2)) + value for kind, value in attributes)
    return sign(struct.pack("!BBH", 4, identifier, 20 + len(body)) + bytes(16) + body)


_COMMON = [
    (1, b"alice@example.org"), (44, b"2D5A1F9C8E7B6A54"), (31, b"02-88-00-00-AA-01"),
    (30, b"02-88-00-00-01-01:corp"), (32, b"ap1.example"), (4, bytes([10, 0, 0, 1])),
    (45, _u32(1)), (55, _u32(1_790_000_000)), (41, _u32(0)), (61, _u32(19)),
]  # fmt: skip
SEEDS: list[bytes] = [
    build([(40, _u32(1)), *_COMMON, (89, b"cui-alice"), (25, b"class-token")]),
    build([(40, _u32(3)), *_COMMON, (46, _u32(600))]),
    build([(40, _u32(2)), *_COMMON, (46, _u32(900)), (49, _u32(1))]),
    build([(40, _u32(7)), (32, b"ap1.example"), (4, bytes([10, 0, 0, 1]))]),
    build([(40, _u32(1)), *_COMMON, (26, _u32(14122) + b"\x01\x06abcd"), (33, b"proxy")]),
    build([(40, _u32(1)), *_COMMON, (148, b"\x00\x40" + bytes(8))]),  # an RFC 6572 attribute
]
_BOUNDARY = (0x00, 0x01, 0x02, 0x03, 0x7F, 0x80, 0xFE, 0xFF)


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(8)
        if choice == 0 and buf:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif choice == 1 and buf:
            buf[rng.randrange(len(buf))] = rng.choice(_BOUNDARY)
        elif choice == 2 and buf:
            del buf[rng.randrange(len(buf)) :]
        elif choice == 3:
            buf += rng.randbytes(rng.randint(1, 24))
        elif choice == 4 and len(buf) > 4:  # the Length field
            struct.pack_into("!H", buf, 2, rng.choice((0, 19, 20, len(buf), len(buf) + 1, 4097)))
        elif choice == 5 and len(buf) > 21:  # an attribute Length octet
            buf[rng.randrange(21, len(buf))] = rng.choice(_BOUNDARY)
        elif choice == 6 and len(buf) > 20:  # splice another seed's attributes (duplicates)
            other = rng.choice(SEEDS)
            buf += other[20 : 20 + rng.randrange(2, len(other) - 18)]
        elif choice == 7 and buf:  # the code
            buf[0] = rng.choice((1, 2, 4, 5, 12, 40, rng.randrange(256)))
    out = bytes(buf)
    return sign(out) if rng.random() < 0.5 else out


def inputs(seed: int, count: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    for i in range(count):
        if i % 8 == 7:
            yield rng.randbytes(rng.randint(0, 120))
        else:
            yield mutate(rng, rng.choice(SEEDS))


def check_one(data: bytes) -> str:
    """Decode ``data``: "decoded" or the RadiusError reason. Anything else propagates."""
    try:
        request = decode_accounting_request(data, SECRET)
    except RadiusError as exc:
        return exc.reason
    assert 0 <= request.identifier <= 255
    assert request.calling_station_id is None or len(request.calling_station_id) == 17
    return "decoded"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2866)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    outcomes = Counter(check_one(data) for data in inputs(args.seed, args.inputs))
    elapsed = time.perf_counter() - start
    print(
        f"{args.inputs} inputs (seed {args.seed}): {outcomes['decoded']} decoded, "
        f"{args.inputs - outcomes['decoded']} rejected with RadiusError "
        f"({len(outcomes) - 1} distinct reasons), 0 other exceptions, {elapsed:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
