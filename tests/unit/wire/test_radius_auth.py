"""The relay's RADIUS codec: requests and answers re-signed per hop (packets built here from the
RFCs' formulas; tests/integration/test_radius_auth_relay.py checks against eapol_test and
FreeRADIUS); salted keys and User-Password re-encrypted; RFC 6572 profiles read; every malformed
or forged packet a typed error."""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest

from netlmm_aaa.wire.radius_accounting import RadiusError, walk_attributes
from netlmm_aaa.wire.radius_auth import (
    ACCESS_ACCEPT,
    check_access_request,
    check_access_response,
    forward_access_request,
    forward_access_response,
    mobility_profile,
)

NAS_SECRET, SERVER_SECRET = b"nas-secret", b"server-secret"
NAS_AUTH, SERVER_AUTH = bytes(range(16)), bytes(range(100, 116))


def _attr(kind: int, value: bytes) -> bytes:
    return bytes((kind, len(value) + 2)) + value


def _password(plain: bytes, secret: bytes, authenticator: bytes) -> bytes:
    padded = plain + bytes(-len(plain) % 16)
    out, previous = b"", authenticator
    for i in range(0, len(padded), 16):
        block = bytes(a ^ b for a, b in zip(padded[i : i + 16],
                                            hashlib.md5(secret + previous).digest(), strict=True))  # fmt: skip
        out += block
        previous = block
    return out


def _signed_request(attributes: bytes, secret: bytes, authenticator: bytes, ident: int = 7) -> bytes:
    body = attributes + _attr(80, bytes(16))
    packet = bytearray(struct.pack("!BBH", 1, ident, 20 + len(body)) + authenticator + body)
    at = len(packet) - 16
    packet[at:] = hmac.new(secret, bytes(packet), hashlib.md5).digest()
    return bytes(packet)


def _request() -> bytes:
    attributes = (
        _attr(1, b"alice@example.org") + _attr(2, _password(b"pw-alice", NAS_SECRET, NAS_AUTH))
        + _attr(31, b"02-00-00-AA-BB-01") + _attr(79, b"\x02\x01\x00\x05\x01")
    )  # fmt: skip
    return _signed_request(attributes, NAS_SECRET, NAS_AUTH)


def _salted(key: bytes, secret: bytes, authenticator: bytes, salt: bytes) -> bytes:
    plain = bytes((len(key),)) + key
    plain += bytes(-len(plain) % 16)
    out, previous = b"", authenticator + salt
    for i in range(0, len(plain), 16):
        block = bytes(a ^ b for a, b in zip(plain[i : i + 16],
                                            hashlib.md5(secret + previous).digest(), strict=True))  # fmt: skip
        out += block
        previous = block
    return salt + out


def _unsalted(value: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """The plaintext of a salt-encrypted value (RFC 2868 §3.5), by hand."""
    salt, cipher = value[:2], value[2:]
    plain, previous = b"", authenticator + salt
    for i in range(0, len(cipher), 16):
        block = cipher[i : i + 16]
        plain += bytes(a ^ b for a, b in zip(block, hashlib.md5(secret + previous).digest(),
                                             strict=True))  # fmt: skip
        previous = block
    return plain[1 : 1 + plain[0]]


def _answer(request: bytes, secret: bytes, attributes: bytes, code: int = ACCESS_ACCEPT) -> bytes:
    body = attributes + _attr(80, bytes(16))
    packet = bytearray(struct.pack("!BBH", code, request[1], 20 + len(body)) + request[4:20] + body)
    at = len(packet) - 16
    packet[at:] = hmac.new(secret, bytes(packet), hashlib.md5).digest()
    packet[4:20] = hashlib.md5(bytes(packet[:4]) + request[4:20] + bytes(packet[20:]) + secret).digest()
    return bytes(packet)


def test_request_and_answer_round_trip_through_the_relay() -> None:
    request = check_access_request(_request(), NAS_SECRET)
    upstream = forward_access_request(request, NAS_SECRET, 42, SERVER_AUTH, SERVER_SECRET)
    # The server side sees a valid request signed with its secret, password readable.
    assert upstream[1] == 42
    assert check_access_request(upstream, SERVER_SECRET) == upstream
    password = upstream[upstream.index(b"\x02\x12") + 2 : upstream.index(b"\x02\x12") + 18]
    assert password == _password(b"pw-alice", SERVER_SECRET, SERVER_AUTH)
    with pytest.raises(RadiusError, match="bad_message_authenticator"):
        check_access_request(upstream, NAS_SECRET)
    # The server answers with MPPE keys, a Tunnel-Password and an RFC 6572 profile.
    send_key, recv_key = bytes(range(32)), bytes(range(32, 64))
    ms = struct.pack("!I", 311)
    ms += _attr(16, _salted(send_key, SERVER_SECRET, SERVER_AUTH, b"\x80\x01"))
    ms += _attr(17, _salted(recv_key, SERVER_SECRET, SERVER_AUTH, b"\x80\x02"))
    tunnel = b"\x01" + _salted(b"tunnel-pw", SERVER_SECRET, SERVER_AUTH, b"\x80\x03")
    hnp = b"\x00\x40" + bytes.fromhex("20010db8000100770000000000000000")
    hoa = b"\x00\x20" + bytes((203, 0, 113, 77))
    attributes = (_attr(26, ms) + _attr(69, tunnel) + _attr(151, hnp) + _attr(155, hoa)
                  + _attr(147, bytes.fromhex("20010db800ff00000000000000000001"))
                  + _attr(89, b"cui-alice"))  # fmt: skip
    answer = _answer(upstream, SERVER_SECRET, attributes)
    checked = check_access_response(answer, upstream, SERVER_SECRET)
    reply = forward_access_response(checked, upstream, SERVER_SECRET, request, NAS_SECRET)
    # The NAS sees its own Identifier, a valid answer to its request, keys under its secret.
    assert reply[1] == request[1]
    assert check_access_response(reply, request, NAS_SECRET) == reply
    # The keys and the Tunnel-Password read back under the NAS's secret and Request
    # Authenticator, each under a salt of its own with the high bit set (RFC 2548 §2.4.2).
    vsa = next(v for k, v in walk_attributes(reply) if k == 26)
    assert vsa[:4] == struct.pack("!I", 311)
    subs = {vsa[4 + 0]: vsa[6 : 4 + vsa[5]], vsa[4 + vsa[5]]: vsa[6 + vsa[5] :]}
    assert _unsalted(subs[16], NAS_SECRET, NAS_AUTH) == send_key
    assert _unsalted(subs[17], NAS_SECRET, NAS_AUTH) == recv_key
    tunnel_reply = next(v for k, v in walk_attributes(reply) if k == 69)
    assert tunnel_reply[0] == 1  # the tag kept
    assert _unsalted(tunnel_reply[1:], NAS_SECRET, NAS_AUTH) == b"tunnel-pw"
    salts = [subs[16][:2], subs[17][:2], tunnel_reply[1:3]]
    assert all(salt[0] & 0x80 for salt in salts) and len(set(salts)) == 3
    profile = mobility_profile(checked)
    assert profile.home_network_prefix == "2001:db8:1:77::/64"
    assert profile.ipv4_home_address == "203.0.113.77"
    assert profile.lma_address == "2001:db8:ff::1"
    assert profile.mn_id == b"cui-alice"


@pytest.mark.hardening
def test_the_relay_takes_eap_only() -> None:
    """Issue 22 (3): a PAP (or MAC-bypass) Access-Request, even signed with a valid
    Message-Authenticator, is not 802.1X: refused before it reaches the server."""
    pap = _signed_request(
        _attr(1, b"alice@example.org") + _attr(2, _password(b"pw-alice", NAS_SECRET, NAS_AUTH))
        + _attr(31, b"02-00-00-AA-BB-01"), NAS_SECRET, NAS_AUTH,
    )  # fmt: skip
    with pytest.raises(RadiusError, match="not_eap"):
        check_access_request(pap, NAS_SECRET)


def test_forged_and_malformed_packets_are_typed_errors() -> None:
    good = _request()
    with pytest.raises(RadiusError, match="bad_message_authenticator"):
        check_access_request(good, b"wrong")
    no_ma = good[:-18]
    no_ma = no_ma[:2] + struct.pack("!H", len(no_ma)) + no_ma[4:]
    with pytest.raises(RadiusError, match="no_message_authenticator"):
        check_access_request(no_ma, NAS_SECRET)
    for bad in (good[:10], good[:2] + b"\x10\x00" + good[4:], b"\x04" + good[1:]):
        with pytest.raises(RadiusError):
            check_access_request(bad, NAS_SECRET)
    broken = bytearray(good)
    broken[21] = 1  # an attribute length below 2
    with pytest.raises(RadiusError):
        check_access_request(bytes(broken), NAS_SECRET)
    upstream = forward_access_request(good, NAS_SECRET, 9, SERVER_AUTH, SERVER_SECRET)
    answer = _answer(upstream, SERVER_SECRET, _attr(18, b"welcome"))
    with pytest.raises(RadiusError, match="bad_response_authenticator"):
        check_access_response(answer, upstream, b"wrong")
    with pytest.raises(RadiusError, match="unmatched_identifier"):
        check_access_response(answer[:1] + b"\x63" + answer[2:], upstream, SERVER_SECRET)
    tampered = bytearray(answer)
    tampered[-20] ^= 1  # inside the attributes: the Response Authenticator breaks
    with pytest.raises(RadiusError):
        check_access_response(bytes(tampered), upstream, SERVER_SECRET)
    for value in (b"\x00\x81" + bytes(16), b"\x00\x40"):
        with pytest.raises(RadiusError, match="bad_pmip6_attribute"):
            mobility_profile(_answer(upstream, SERVER_SECRET, _attr(151, value)))
    # "AAA assigns" values leave the choice to the LMA.
    assigns = _attr(151, b"\x00\x80" + bytes(16)) + _attr(155, b"\x00\x20" + bytes(4))
    profile = mobility_profile(_answer(upstream, SERVER_SECRET, assigns))
    assert (profile.home_network_prefix, profile.ipv4_home_address) == (None, None)


def test_random_corruption_is_only_ever_a_typed_error() -> None:
    """Bit flips, truncation and junk in requests and answers: RadiusError or a packet that
    still verifies, never another exception."""
    import random

    rng = random.Random(11)
    request = _request()
    upstream = forward_access_request(request, NAS_SECRET, 5, SERVER_AUTH, SERVER_SECRET)
    ms = struct.pack("!I", 311) + _attr(16, _salted(bytes(32), SERVER_SECRET, SERVER_AUTH, b"\x80\x01"))
    answer = _answer(upstream, SERVER_SECRET, _attr(26, ms) + _attr(151, b"\x00\x40" + bytes(8)))
    for _ in range(3000):
        for original in (request, answer):
            data = bytearray(original)
            for _ in range(rng.randrange(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = data[: rng.randrange(0, len(data) + 1)]
            try:
                if original is request:
                    checked = check_access_request(bytes(data), NAS_SECRET)
                    forward_access_request(checked, NAS_SECRET, 1, SERVER_AUTH, SERVER_SECRET)
                else:
                    checked = check_access_response(bytes(data), upstream, SERVER_SECRET)
                    forward_access_response(checked, upstream, SERVER_SECRET, request, NAS_SECRET)
                    mobility_profile(checked)
            except RadiusError:
                continue
        # Unsigned parsing of the profile (the relay only reads verified answers, but the
        # parser itself must not fail on anything either).
        junk = bytearray(answer)
        junk[rng.randrange(20, len(junk))] = rng.randrange(256)
        try:
            mobility_profile(bytes(junk))
        except RadiusError:
            pass
