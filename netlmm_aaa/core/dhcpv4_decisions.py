"""The MAG's DHCPv4 decisions (RFC 2131 §4.3, RFC 5844 §3.3): which answer a client gets.

Sans-IO: a decoded request and the station's lease (its IPv4 home address from the PBA, or None
when the station has no registered binding with one) in, a reply type and the reason out. Only
registered stations are answered; the address is the one the LMA anchors, so it is the same on
every MAG and a renewal after a handover is acknowledged by the new MAG.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class DhcpMessageType(IntEnum):
    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class DhcpRequest:
    """A client's BOOTREQUEST with a DHCP message type."""

    message_type: DhcpMessageType
    xid: int
    flags: int
    ciaddr: str
    """The client's address when it has one (RENEWING, REBINDING, INFORM), else 0.0.0.0."""
    giaddr: str
    mac: str
    """chaddr: the client's MAC, lower-case with colons."""
    requested_address: str | None = None
    """Option 50 (SELECTING, INIT-REBOOT)."""
    server_identifier: str | None = None
    """Option 54: the server a SELECTING client chose."""

    @property
    def broadcast(self) -> bool:
        return bool(self.flags & 0x8000)


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """What the MAG may hand a station: its IPv4 home address and the home network's length."""

    address: str
    prefix_length: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DhcpDecision:
    reply: DhcpMessageType | None
    """OFFER / ACK / NAK, or None: stay silent."""
    reason: str
    """Why (for the audit trail and logs)."""
    yiaddr: str = "0.0.0.0"


def decide(request: DhcpRequest, lease: Lease | None, server_identifier: str) -> DhcpDecision:
    """RFC 2131 §4.3.1-4.3.5 for a server that owns exactly one address per client."""
    kind = request.message_type
    if kind is DhcpMessageType.RELEASE:
        # The home address stays anchored at the LMA for as long as the binding lives.
        return DhcpDecision(reply=None, reason="release (the binding keeps the address)")
    if kind is DhcpMessageType.DECLINE:
        return DhcpDecision(reply=None, reason=f"decline of {request.requested_address}")
    if lease is None:
        return DhcpDecision(reply=None, reason="no registered binding with an IPv4 home address")
    if kind is DhcpMessageType.DISCOVER:
        return DhcpDecision(reply=DhcpMessageType.OFFER, reason="offer", yiaddr=lease.address)
    if kind is DhcpMessageType.INFORM:
        return DhcpDecision(reply=DhcpMessageType.ACK, reason="inform")
    # REQUEST
    if request.server_identifier is not None:  # SELECTING
        if request.server_identifier != server_identifier:
            return DhcpDecision(reply=None, reason="the client chose another server")
        wanted = request.requested_address
    elif request.requested_address is not None:  # INIT-REBOOT
        wanted = request.requested_address
    else:  # RENEWING / REBINDING
        wanted = request.ciaddr
    if wanted != lease.address:
        return DhcpDecision(
            reply=DhcpMessageType.NAK, reason=f"asked for {wanted}, its address is {lease.address}"
        )
    return DhcpDecision(reply=DhcpMessageType.ACK, reason="ack", yiaddr=lease.address)
