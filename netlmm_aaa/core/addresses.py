"""Text <-> packed conversion of the addresses and prefixes on the signalling path.

:mod:`ipaddress` is thorough but runs a few dozen Python functions per conversion (~10-20 us
warm, several times that when the code has gone cold between two handovers, which is the normal
case). A PBU/PBA exchange converts a prefix and an IPv4 home address several times on each side,
so these helpers handle the plain forms directly (regular expressions and ``int``, both in C)
and hand anything else (scope ids, IPv4-mapped text, malformed input) to :mod:`ipaddress`, whose
result or error is then the answer. Results are identical to :mod:`ipaddress`'s for every input
(tested with Hypothesis against it).
"""

from __future__ import annotations

import ipaddress
import re

_HEXTETS = re.compile(r"(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?")
_DOTTED = re.compile(r"(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}")
_PREFIX_LENGTH = re.compile(r"0|[1-9][0-9]{0,2}")
_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"


def pack_ipv6(text: str) -> bytes:
    """The 16 octets of IPv6 address ``text`` (ValueError when it is not one)."""
    head, double, tail = text.partition("::")
    if _HEXTETS.fullmatch(head) and _HEXTETS.fullmatch(tail):
        words = (head.split(":") if head else []) + (tail.split(":") if tail else [])
        missing = 8 - len(words)
        if (missing == 0 and not double) or (missing >= 1 and double):
            if double:
                count = len(head.split(":")) if head else 0
                words[count:count] = ["0"] * missing
            value = 0
            for word in words:
                value = (value << 16) | int(word, 16)
            return value.to_bytes(16, "big")
    return ipaddress.IPv6Address(text).packed


def pack_ipv4(text: str) -> bytes:
    """The 4 octets of dotted-quad IPv4 address ``text`` (ValueError when it is not one)."""
    if _DOTTED.fullmatch(text):
        octets = [int(part) for part in text.split(".")]
        if max(octets) <= 255:
            return bytes(octets)
    return ipaddress.IPv4Address(text).packed


def format_ipv4(packed: bytes) -> str:
    """Dotted-quad text of 4 packed octets."""
    if len(packed) != 4:
        return str(ipaddress.IPv4Address(packed))
    return f"{packed[0]}.{packed[1]}.{packed[2]}.{packed[3]}"


def format_ipv6(packed: bytes) -> str:
    """RFC 5952 text of 16 packed octets, exactly as ``str(ipaddress.IPv6Address(packed))``."""
    if len(packed) != 16 or packed[:12] == _V4_MAPPED:
        return str(ipaddress.IPv6Address(packed))
    words = [(packed[i] << 8) | packed[i + 1] for i in range(0, 16, 2)]
    best_start, best_length, start = -1, 0, -1
    for index, word in enumerate(words):
        if word == 0:
            if start < 0:
                start = index
            if index - start + 1 > best_length:
                best_start, best_length = start, index - start + 1
        else:
            start = -1
    text = [f"{word:x}" for word in words]
    if best_length > 1:
        left = ":".join(text[:best_start])
        right = ":".join(text[best_start + best_length :])
        return f"{left}::{right}"
    return ":".join(text)


def ipv6_network(text: str) -> tuple[bytes, int]:
    """(network octets, prefix length) of ``"2001:db8:1::/64"`` (a bare address is a /128);
    like ``ipaddress.IPv6Network(text)``, host bits set are an error."""
    address, slash, length_text = text.partition("/")
    if not slash:
        length_text = "128"
    if _PREFIX_LENGTH.fullmatch(length_text) and int(length_text) <= 128:
        length = int(length_text)
        try:
            packed = pack_ipv6(address)
        except ValueError:
            pass
        else:
            value = int.from_bytes(packed, "big")
            host_bits = (1 << (128 - length)) - 1
            if not value & host_bits:
                return packed, length
    network = ipaddress.IPv6Network(text)
    return network.network_address.packed, network.prefixlen


def format_ipv6_network(packed: bytes, length: int) -> str:
    """``str(ipaddress.IPv6Network((packed, length), strict=False))``: host bits cleared."""
    if len(packed) != 16 or not 0 <= length <= 128:
        return str(ipaddress.IPv6Network((packed, length), strict=False))
    value = int.from_bytes(packed, "big")
    value &= ~((1 << (128 - length)) - 1) & ((1 << 128) - 1)
    return f"{format_ipv6(value.to_bytes(16, 'big'))}/{length}"
