"""RADIUS authentication as the MAG's relay between a NAS (hostapd) and the AAA server sees it:
check an Access-Request from the NAS, re-sign it for the server, check the server's answer and
re-sign it for the NAS; read the RFC 6572 mobility profile out of an Access-Accept.

hostapd keeps the RFC 6572 attributes (the node's home network prefix, IPv4 home address and
LMA) to itself, so the MAG relays authentication to see the Access-Accept. A relay is a RADIUS
proxy (RFC 2865 §2.3): each hop has its own shared secret, so the Message-Authenticator
(RFC 3579 §3.2), the Response Authenticator, User-Password (RFC 2865 §5.2) and the salted
attributes (MS-MPPE-Send/Recv-Key, RFC 2548 §2.4.2-3; Tunnel-Password, RFC 2868 §3.5) are
recomputed or re-encrypted for the next hop (the salted ones with pyrad; User-Password by hand,
since pyrad reads it back as text and a password is octets). Pure bytes in, bytes out; the
caller supplies the random Request Authenticator.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import struct
from dataclasses import dataclass

from pyrad.packet import Packet, PacketError

from netlmm_aaa.wire.radius_accounting import (
    CALLING_STATION_ID,
    CHARGEABLE_USER_IDENTITY,
    MAX_PACKET,
    MESSAGE_AUTHENTICATOR,
    USER_NAME,
    RadiusError,
    hmac_md5,
    walk_attributes,
)

ACCESS_REQUEST = 1
ACCESS_ACCEPT = 2
ACCESS_REJECT = 3
ACCESS_CHALLENGE = 11
_RESPONSES = frozenset({ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE})

USER_PASSWORD = 2
VENDOR_SPECIFIC = 26
TUNNEL_PASSWORD = 69
EAP_MESSAGE = 79
_MICROSOFT = 311
_MS_MPPE_SEND_KEY = 16
_MS_MPPE_RECV_KEY = 17

# RFC 6572 §4
MOBILE_NODE_IDENTIFIER = 145
PMIP6_HOME_LMA_IPV6_ADDRESS = 147
PMIP6_HOME_HN_PREFIX = 151
PMIP6_HOME_IPV4_HOA = 155


@dataclass(frozen=True, slots=True, kw_only=True)
class MobilityProfile:
    """The node's RFC 6572 profile from an Access-Accept (None: not given, the LMA decides)."""

    home_network_prefix: str | None = None
    ipv4_home_address: str | None = None
    lma_address: str | None = None
    mn_id: bytes | None = None
    """Mobile-Node-Identifier (145), else the CUI, else the (inner) User-Name of the Accept."""
    user_name: bytes | None = None
    """The Accept's User-Name: hostapd takes it as the station's identity (``STA <mac>``)."""


def _bounded(data: bytes) -> bytes:
    if len(data) < 20:
        raise RadiusError("too_short", f"{len(data)} octets, a RADIUS packet has at least 20")
    length = struct.unpack_from("!H", data, 2)[0]
    if length < 20 or length > MAX_PACKET or length > len(data):
        raise RadiusError("bad_length", f"Length {length} for a {len(data)}-octet datagram")
    return data[:length]


def _message_authenticator_at(data: bytes) -> int:
    """Offset of the Message-Authenticator value, or -1 (attributes already walked)."""
    position = 20
    while position + 2 <= len(data):
        kind, size = data[position], data[position + 1]
        if kind == MESSAGE_AUTHENTICATOR and size == 18:
            return position + 2
        position += size
    return -1


def _hmac(data: bytes, authenticator: bytes, at: int, secret: bytes) -> bytes:
    """RFC 3579 §3.2: HMAC-MD5 over the packet with ``authenticator`` in the header and the
    Message-Authenticator zeroed."""
    packet = bytearray(data)
    packet[4:20] = authenticator
    packet[at : at + 16] = bytes(16)
    return hmac_md5(secret, bytes(packet))


def check_access_request(data: bytes, secret: bytes) -> bytes:
    """The Access-Request datagram ``data`` from a NAS with ``secret``, bounded by its Length;
    :class:`RadiusError` unless it carries EAP (802.1X) and its Message-Authenticator verifies
    (required with EAP-Message, RFC 3579 §3.3)."""
    packet = _bounded(data)
    if packet[0] != ACCESS_REQUEST:
        raise RadiusError("not_access_request", f"code {packet[0]}")
    attributes = walk_attributes(packet)
    at = _message_authenticator_at(packet)
    if at < 0:
        if any(kind == EAP_MESSAGE for kind, _ in attributes):
            raise RadiusError("no_message_authenticator", "EAP-Message without one (RFC 3579)")
        raise RadiusError("no_message_authenticator", "the relay takes 802.1X (EAP) only")
    if not hmac.compare_digest(_hmac(packet, packet[4:20], at, secret), packet[at : at + 16]):
        raise RadiusError("bad_message_authenticator", "Message-Authenticator does not verify")
    if not any(kind == EAP_MESSAGE for kind, _ in attributes):
        # PAP, CHAP or MAC authentication bypass: an Accept for it would confirm a station
        # that no 802.1X exchange authenticated.
        raise RadiusError("not_eap", "no EAP-Message: the relay takes 802.1X (EAP) only")
    return packet


def _keystream_block(secret: bytes, previous: bytes) -> bytes:
    return hashlib.md5(secret + previous).digest()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _reencrypt(
    cipher: bytes, first: bytes, secret: bytes, new_first: bytes, new_secret: bytes
) -> bytes:
    """RFC 2865 §5.2 style chaining (b1 = MD5(S + first), bi = MD5(S + c(i-1))): decrypt with
    (``secret``, ``first``) and encrypt the same plaintext with (``new_secret``, ``new_first``)."""
    if not cipher or len(cipher) % 16:
        raise RadiusError("bad_encrypted_attribute", f"{len(cipher)} octets, not 16n")
    out = bytearray()
    previous, new_previous = first, new_first
    for i in range(0, len(cipher), 16):
        block = cipher[i : i + 16]
        plain = _xor(block, _keystream_block(secret, previous))
        new_block = _xor(plain, _keystream_block(new_secret, new_previous))
        out += new_block
        previous, new_previous = block, new_block
    return bytes(out)


def _encode(code: int, identifier: int, authenticator: bytes, attributes: bytes) -> bytes:
    return struct.pack("!BBH", code, identifier, 20 + len(attributes)) + authenticator + attributes


def forward_access_request(
    packet: bytes, nas_secret: bytes, identifier: int, authenticator: bytes, server_secret: bytes
) -> bytes:
    """A checked Access-Request re-signed for the server: new Identifier and (random) Request
    Authenticator, User-Password re-encrypted, Message-Authenticator recomputed."""
    body = bytearray(packet[20:])
    position = 0
    while position + 2 <= len(body):
        kind, size = body[position], body[position + 1]
        if kind == USER_PASSWORD:
            value = bytes(body[position + 2 : position + size])
            body[position + 2 : position + size] = _reencrypt(
                value, packet[4:20], nas_secret, authenticator, server_secret
            )
        position += size
    out = _encode(ACCESS_REQUEST, identifier, authenticator, bytes(body))
    at = _message_authenticator_at(out)
    digest = _hmac(out, authenticator, at, server_secret)
    return out[:at] + digest + out[at + 16 :]


def check_access_response(data: bytes, request: bytes, secret: bytes) -> bytes:
    """The server's answer to ``request`` (as we sent it), bounded; :class:`RadiusError` unless
    its Response Authenticator and Message-Authenticator verify with ``secret``."""
    packet = _bounded(data)
    if packet[0] not in _RESPONSES:
        raise RadiusError("not_access_response", f"code {packet[0]}")
    if packet[1] != request[1]:
        raise RadiusError("unmatched_identifier", f"Identifier {packet[1]} != {request[1]}")
    walk_attributes(packet)
    expected = hashlib.md5(packet[:4] + request[4:20] + packet[20:] + secret).digest()
    if not hmac.compare_digest(expected, packet[4:20]):
        raise RadiusError("bad_response_authenticator", "Response Authenticator does not verify")
    at = _message_authenticator_at(packet)
    if at >= 0 and not hmac.compare_digest(
        _hmac(packet, request[4:20], at, secret), packet[at : at + 16]
    ):
        raise RadiusError("bad_message_authenticator", "Message-Authenticator does not verify")
    return packet


def _salt_codec(secret: bytes, request_authenticator: bytes) -> Packet:
    """pyrad's RFC 2868 §3.5 salt encryption for a reply to the request with
    ``request_authenticator``, under ``secret``."""
    packet = Packet(code=ACCESS_ACCEPT, secret=secret)
    packet.request_authenticator = request_authenticator
    return packet


def _reencrypt_salted(
    value: bytes, offset: int, old: tuple[bytes, bytes], new: tuple[bytes, bytes]
) -> bytes:
    """A salt-encrypted string after ``offset`` octets (the tag), b1 = MD5(S + Request
    Authenticator + Salt) (RFC 2548 §2.4.2, RFC 2868 §3.5): decrypted with the old hop's
    (secret, Request Authenticator), encrypted for the new one under a fresh salt (pyrad)."""
    try:
        plain = _salt_codec(*old).SaltDecrypt(value[offset:])
    except PacketError as exc:
        raise RadiusError("bad_encrypted_attribute", f"salted value: {exc}") from None
    return value[:offset] + bytes(_salt_codec(*new).SaltCrypt(plain))


def _vsa_reencrypt(value: bytes, old: tuple[bytes, bytes], new: tuple[bytes, bytes]) -> bytes:
    vendor = struct.unpack_from("!I", value)[0]
    if vendor != _MICROSOFT:
        return value
    out = bytearray(value[:4])
    position = 4
    while position + 2 <= len(value):
        sub, size = value[position], value[position + 1]
        sub_value = value[position + 2 : position + size]
        if sub in (_MS_MPPE_SEND_KEY, _MS_MPPE_RECV_KEY):
            sub_value = _reencrypt_salted(sub_value, 0, old, new)
        out += bytes((sub, size)) + sub_value
        position += size
    return bytes(out)


def forward_access_response(
    packet: bytes,
    server_request: bytes,
    server_secret: bytes,
    nas_request: bytes,
    nas_secret: bytes,
) -> bytes:
    """A checked answer re-signed for the NAS: its own Identifier, the salted keys re-encrypted
    for its secret and Request Authenticator, Message-Authenticator and Response Authenticator
    recomputed (RFC 2865 §3, RFC 3579 §3.2)."""
    old = (server_secret, server_request[4:20])
    new = (nas_secret, nas_request[4:20])
    attributes = bytearray()
    for kind, value in walk_attributes(packet):
        if kind == VENDOR_SPECIFIC:
            value = _vsa_reencrypt(value, old, new)
        elif kind == TUNNEL_PASSWORD:
            value = _reencrypt_salted(value, 1, old, new)
        attributes += bytes((kind, len(value) + 2)) + value
    out = bytearray(_encode(packet[0], nas_request[1], nas_request[4:20], bytes(attributes)))
    at = _message_authenticator_at(bytes(out))
    if at >= 0:
        out[at : at + 16] = _hmac(bytes(out), nas_request[4:20], at, nas_secret)
    signed = bytes(out[:4]) + nas_request[4:20] + bytes(out[20:]) + nas_secret
    out[4:20] = hashlib.md5(signed).digest()
    return bytes(out)


def calling_station_id(packet: bytes) -> str | None:
    """The station's MAC from Calling-Station-Id, lower-case with colons (None if absent or not
    a MAC)."""
    for kind, value in walk_attributes(packet):
        if kind == CALLING_STATION_ID:
            digits = "".join(c for c in value.decode("ascii", "replace").lower() if c.isalnum())
            if len(digits) == 12 and all(c in "0123456789abcdef" for c in digits):
                return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
            return None
    return None


def mobility_profile(accept: bytes) -> MobilityProfile:
    """The RFC 6572 profile of an Access-Accept; :class:`RadiusError` for malformed values.
    The "AAA assigns" values (``::/128``, ``0.0.0.0/32``) leave the choice to the LMA."""
    hnp = ipv4 = lma = None
    mn_id = cui = user = None
    for kind, value in walk_attributes(accept):
        if kind == PMIP6_HOME_HN_PREFIX:
            if len(value) < 2 or value[1] > 128 or len(value) - 2 < (value[1] + 7) // 8:
                raise RadiusError("bad_pmip6_attribute", "PMIP6-Home-HN-Prefix is malformed")
            length = value[1]
            prefix = (value[2:] + bytes(16))[:16]
            network = ipaddress.IPv6Network((prefix, length), strict=False)
            if not (network.network_address.is_unspecified and length == 128):
                hnp = str(network)
        elif kind == PMIP6_HOME_IPV4_HOA:
            if len(value) != 6:
                raise RadiusError("bad_pmip6_attribute", "PMIP6-Home-IPv4-HoA is not 6 octets")
            address = ipaddress.IPv4Address(value[2:])
            if not address.is_unspecified:
                ipv4 = str(address)
        elif kind == PMIP6_HOME_LMA_IPV6_ADDRESS:
            if len(value) != 16:
                raise RadiusError("bad_pmip6_attribute", "PMIP6-Home-LMA-IPv6-Address length")
            lma = str(ipaddress.IPv6Address(value))
        elif kind == MOBILE_NODE_IDENTIFIER:
            mn_id = value or None
        elif kind == CHARGEABLE_USER_IDENTITY:
            cui = value or None
        elif kind == USER_NAME:
            user = value or None
    return MobilityProfile(
        home_network_prefix=hnp, ipv4_home_address=ipv4, lma_address=lma,
        mn_id=mn_id or cui or user, user_name=user,
    )  # fmt: skip
