"""Error types, split by whose fault they are (h11 style).

- :class:`WireFormatError` and its subclasses: a peer sent bytes we cannot trust. The packet is
  dropped (and audited by the caller); nothing else happens.
- :class:`InvalidTransition`: our own code misused a state machine. It means a bug.
- :class:`ConfigError`: the operator's configuration is wrong.
"""

from __future__ import annotations


class NetlmmError(Exception):
    """Base class of every error this package raises on purpose."""


class WireFormatError(NetlmmError):
    """Bytes from the network that do not decode to a valid message.

    ``offset`` is the octet offset (from the start of the Mobility Header, or of the buffer being
    decoded) where the problem was found, when known.
    """

    def __init__(self, reason: str, *, offset: int | None = None) -> None:
        self.reason = reason
        self.offset = offset
        super().__init__(reason if offset is None else f"{reason} (at octet {offset})")


class TruncatedMessageError(WireFormatError):
    """The buffer ends before a length field says it should."""


class ChecksumError(WireFormatError):
    """The Mobility Header checksum does not verify against the IPv6 pseudo-header."""


class UnknownMessageTypeError(WireFormatError):
    """A Mobility Header of a type we do not implement.

    RFC 6275 §9.2 says to answer it with a Binding Error, status 2; ``mh_type`` says which type
    it was.
    """

    def __init__(self, mh_type: int) -> None:
        self.mh_type = mh_type
        super().__init__(f"unknown Mobility Header type {mh_type}", offset=2)


class InvalidOptionError(WireFormatError):
    """A mobility option whose length or contents break its RFC definition."""


class InvalidTransition(NetlmmError):
    """A state machine was fed an input that its transition table does not allow (a bug)."""


class ConfigError(NetlmmError):
    """Invalid configuration; the message names the key and the value."""
