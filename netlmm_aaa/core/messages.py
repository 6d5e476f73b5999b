"""Mobility messages of Proxy Mobile IPv6 as typed, immutable values.

Like the options, messages are ``NamedTuple``s with class-aware equality (see
:mod:`netlmm_aaa.core.options` for why). Field values are those on the wire: sequence numbers as
integers, lifetimes in units of 4 seconds (use :func:`lifetime_to_units` and the
``lifetime_seconds`` properties), flags as the ``IntFlag`` of the message.

The encoder and decoder are in :mod:`netlmm_aaa.wire.mobility_header`.
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypeVar

from netlmm_aaa.core.codes import (
    BindingAcknowledgementFlag,
    BindingUpdateFlag,
    RevocationFlag,
)
from netlmm_aaa.core.options import MobilityOption, make_type_strict

#: Lifetimes travel in units of 4 seconds (RFC 6275 §6.1.7, RFC 5213 §8.1).
LIFETIME_UNIT_SECONDS = 4
#: The largest lifetime the 16-bit field can carry, in seconds.
MAX_LIFETIME_SECONDS = 0xFFFF * LIFETIME_UNIT_SECONDS

Options = tuple[MobilityOption, ...]


def lifetime_to_units(seconds: float) -> int:
    """Seconds -> the 16-bit lifetime field (rounded up to a whole unit, capped at 0xFFFF)."""
    if seconds <= 0:
        return 0
    return min(0xFFFF, -int(-seconds // LIFETIME_UNIT_SECONDS))


class ProxyBindingUpdate(NamedTuple):
    """Proxy Binding Update: MH type 5 with P=1 (RFC 5213 §8.1). Lifetime 0 de-registers."""

    sequence: int
    """Sequence number (16 bits)."""
    lifetime: int
    """Requested lifetime in units of 4 seconds (16 bits); 0 means de-registration."""
    flags: int = BindingUpdateFlag.A | BindingUpdateFlag.P
    """:class:`~netlmm_aaa.core.codes.BindingUpdateFlag` bits (A and P in a normal PBU)."""
    options: Options = ()
    """Mobility options in wire order (padding excluded)."""

    @property
    def lifetime_seconds(self) -> int:
        """The lifetime in seconds."""
        return self.lifetime * LIFETIME_UNIT_SECONDS

    @property
    def proxy(self) -> bool:
        """True when the P flag is set (a proxy registration)."""
        return bool(self.flags & BindingUpdateFlag.P)


class ProxyBindingAcknowledgement(NamedTuple):
    """Proxy Binding Acknowledgement: MH type 6 with P=1 (RFC 5213 §8.2)."""

    status: int
    """A :class:`~netlmm_aaa.core.codes.BindingStatus` (or the raw value); below 128 accepts."""
    sequence: int
    """Sequence number copied from the PBU (16 bits)."""
    lifetime: int
    """Granted lifetime in units of 4 seconds (16 bits)."""
    flags: int = BindingAcknowledgementFlag.P
    """:class:`~netlmm_aaa.core.codes.BindingAcknowledgementFlag` bits."""
    options: Options = ()
    """Mobility options in wire order (padding excluded)."""

    @property
    def lifetime_seconds(self) -> int:
        """The lifetime in seconds."""
        return self.lifetime * LIFETIME_UNIT_SECONDS

    @property
    def accepted(self) -> bool:
        """True when the status accepts the binding (below 128)."""
        return self.status < 128


class Heartbeat(NamedTuple):
    """Heartbeat: MH type 13 (RFC 5847 §3.3)."""

    sequence: int
    """Sequence number (32 bits); a response copies the request's."""
    response: bool = False
    """The R flag: False for a request, True for a response."""
    unsolicited: bool = False
    """The U flag: an unsolicited response, sent after a restart."""
    options: Options = ()
    """Mobility options (only Restart Counter is valid, in responses)."""


class BindingRevocationIndication(NamedTuple):
    """Binding Revocation Indication: MH type 16, B.R. Type 1 (RFC 5846 §5.1)."""

    trigger: int
    """A :class:`~netlmm_aaa.core.codes.RevocationTrigger` (or the raw value)."""
    sequence: int
    """Sequence number (16 bits)."""
    flags: int = RevocationFlag.P
    """:class:`~netlmm_aaa.core.codes.RevocationFlag` bits (P, V, G)."""
    options: Options = ()
    """Mobility options in wire order (padding excluded)."""


class BindingRevocationAcknowledgement(NamedTuple):
    """Binding Revocation Acknowledgement: MH type 16, B.R. Type 2 (RFC 5846 §5.2)."""

    status: int
    """A :class:`~netlmm_aaa.core.codes.RevocationStatus` (or the raw value)."""
    sequence: int
    """Sequence number copied from the BRI (16 bits)."""
    flags: int = RevocationFlag.P
    """:class:`~netlmm_aaa.core.codes.RevocationFlag` bits (P, V, G)."""
    options: Options = ()
    """Mobility options in wire order (padding excluded)."""


class UpdateNotification(NamedTuple):
    """Update Notification: MH type 19 (RFC 7077 §4.1)."""

    sequence: int
    """Sequence number (16 bits)."""
    reason: int
    """An :class:`~netlmm_aaa.core.codes.UpdateNotificationReason` (or the raw value, 16 bits)."""
    ack_requested: bool = True
    """The A flag: the receiver must answer with an Update Notification Acknowledgement."""
    retransmission: bool = False
    """The D flag: this is a retransmission."""
    options: Options = ()
    """Mobility options in wire order (padding excluded)."""


class UpdateNotificationAcknowledgement(NamedTuple):
    """Update Notification Acknowledgement: MH type 20 (RFC 7077 §4.2)."""

    sequence: int
    """Sequence number copied from the UPN (16 bits)."""
    status: int
    """An :class:`~netlmm_aaa.core.codes.UpdateNotificationStatus` (or the raw value)."""
    options: Options = ()
    """Mobility options in wire order (padding excluded)."""


class BindingError(NamedTuple):
    """Binding Error: MH type 7 (RFC 6275 §6.1.9). Status 2 answers an unrecognized MH type."""

    status: int
    """1: unknown binding for Home Address destination option; 2: unrecognized MH Type value."""
    home_address: bytes = bytes(16)
    """The home address from the offending packet, or all zeros (16 packed octets)."""
    options: Options = ()
    """Mobility options in wire order (padding excluded)."""


MobilityMessage = (
    ProxyBindingUpdate
    | ProxyBindingAcknowledgement
    | Heartbeat
    | BindingRevocationIndication
    | BindingRevocationAcknowledgement
    | UpdateNotification
    | UpdateNotificationAcknowledgement
    | BindingError
)
"""Any decoded mobility message."""

#: Short names used in logs, the audit trail and ``netlmm-aaa decode``.
MESSAGE_SHORT_NAMES: dict[type[Any], str] = {
    ProxyBindingUpdate: "PBU",
    ProxyBindingAcknowledgement: "PBA",
    Heartbeat: "HB",
    BindingRevocationIndication: "BRI",
    BindingRevocationAcknowledgement: "BRA",
    UpdateNotification: "UPN",
    UpdateNotificationAcknowledgement: "UPA",
    BindingError: "BE",
}

make_type_strict(*MESSAGE_SHORT_NAMES)

_O = TypeVar("_O")


def find_option(message: MobilityMessage, kind: type[_O]) -> _O | None:
    """The first option of class ``kind`` in ``message``, or None."""
    for option in message.options:
        if type(option) is kind:
            return option
    return None


def find_options(message: MobilityMessage, kind: type[_O]) -> list[_O]:
    """Every option of class ``kind`` in ``message``, in wire order."""
    return [option for option in message.options if type(option) is kind]
