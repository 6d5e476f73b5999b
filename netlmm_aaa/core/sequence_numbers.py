"""16-bit sequence numbers compared as serial numbers (RFC 6275 §9.5.1, RFC 1982)."""

from __future__ import annotations


def sequence_newer(candidate: int, last: int) -> bool:
    """True when ``candidate`` comes after ``last`` modulo 2**16 (under half the space ahead)."""
    return 0 < ((candidate - last) & 0xFFFF) < 0x8000


def next_sequence(value: int) -> int:
    """The sequence number after ``value``."""
    return (value + 1) & 0xFFFF
