"""RFC 5844 §4 IPv4 transport: the Mobility Header carried directly in UDP port 5436.

There is no IPv6 header, so there is no pseudo-header: the MH checksum is sent as 0 and receivers
MUST ignore it (RFC 5844 §4.1.3.1, §4.2.2.1). The UDP checksum protects the message instead.
(An IPv6 header inside the UDP payload is a framing error other implementations make; it decodes
as garbage here, as it does in Wireshark.)
"""

from __future__ import annotations

from netlmm_aaa.core.messages import MobilityMessage
from netlmm_aaa.wire.mobility_header import decode_mobility_header, encode_mobility_header

#: UDP port "pmip6-cntl": PMIPv6 signalling over IPv4 (RFC 5844 §4).
PMIP6_CONTROL_PORT = 5436
#: UDP port "pmip6-data": IPv4-UDP encapsulated data, when the F flag was accepted.
PMIP6_DATA_PORT = 5437


def encode_udp_payload(message: MobilityMessage) -> bytes:
    """The UDP payload carrying ``message`` (MH checksum 0)."""
    return encode_mobility_header(message)


def decode_udp_payload(payload: bytes) -> MobilityMessage:
    """Decode a UDP 5436 payload; the MH checksum is ignored as RFC 5844 requires."""
    return decode_mobility_header(payload)
