"""RADIUS accounting decoding: real radclient packets, forged and malformed ones (R1, R7, R9)."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import socket
import struct
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netlmm_aaa.wire.radius_accounting import (
    AcctStatusType,
    RadiusError,
    decode_accounting_request,
    encode_accounting_response,
    hmac_md5,
)

SECRET = b"s3cret"


def build(attrs: list[tuple[int, bytes]], secret: bytes = SECRET, ident: int = 7,
          code: int = 4, message_authenticator: bool | bytes = False) -> bytes:  # fmt: skip
    """An Accounting-Request by RFC 2866 §3 (and RFC 3579 §3.2 for the Message-Authenticator)."""
    body = b"".join(bytes((t, len(v) + 2)) + v for t, v in attrs)
    if message_authenticator:
        body += bytes((80, 18)) + bytes(16)
    length = 20 + len(body)
    if message_authenticator:
        mac = hmac.new(secret, struct.pack("!BBH", code, ident, length) + bytes(16) + body,
                       hashlib.md5).digest()  # fmt: skip
        if isinstance(message_authenticator, bytes):
            mac = message_authenticator
        body = body[:-16] + mac
    auth = hashlib.md5(
        struct.pack("!BBH", code, ident, length) + bytes(16) + body + secret
    ).digest()
    return struct.pack("!BBH", code, ident, length) + auth + body


def _u32(v: int) -> bytes:
    return struct.pack("!I", v)


START = [
    (40, _u32(1)), (1, b"mn1@example.org"), (44, b"2D5A1F9C8E7B6A54"),
    (31, b"02-88-00-00-AA-01"), (30, b"02-88-00-00-01-01:"), (32, b"mag1.example"),
    (45, _u32(1)), (55, _u32(1_700_000_000)), (89, b"cui-mn1"), (4, bytes([10, 88, 0, 11])),
]  # fmt: skip


def test_valid_start_decodes() -> None:
    req = decode_accounting_request(build(START), SECRET)
    assert req.status is AcctStatusType.START
    assert (req.user_name, req.session_id, req.calling_station_id) == (
        "mn1@example.org", "2D5A1F9C8E7B6A54", "02:88:00:00:aa:01")  # fmt: skip
    assert (req.chargeable_user_identity, req.nas_ip_address, req.authentic) == (
        b"cui-mn1", "10.88.0.11", 1)  # fmt: skip
    assert req.idempotency_key("mag1") == ("mag1", "2D5A1F9C8E7B6A54", 1, 1_700_000_000)


def test_wlan_akm_suite_is_read() -> None:
    """RFC 7268 WLAN-AKM-Suite (188), as hostapd sends it for RSN stations: OUI then type."""
    assert decode_accounting_request(build(START), SECRET).akm_suite is None
    psk = decode_accounting_request(build([*START, (188, bytes.fromhex("000fac02"))]), SECRET)
    assert psk.akm_suite == 0x000FAC02


def test_message_authenticator_verified_when_present() -> None:
    assert decode_accounting_request(build(START, message_authenticator=True), SECRET)
    with pytest.raises(RadiusError, match="bad_message_authenticator"):
        decode_accounting_request(build(START, message_authenticator=b"x" * 16), SECRET)


def test_message_authenticator_anywhere_in_the_packet() -> None:
    """RFC 3579 puts no order on attributes: a Message-Authenticator before others verifies,
    and a change to any octet after it does not."""
    body = bytes((80, 18)) + bytes(16) + b"".join(bytes((t, len(v) + 2)) + v for t, v in START)
    header = struct.pack("!BBH", 4, 9, 20 + len(body))
    mac = hmac.new(SECRET, header + bytes(16) + body, hashlib.md5).digest()
    body = body[:2] + mac + body[18:]
    packet = header + hashlib.md5(header + bytes(16) + body + SECRET).digest() + body
    assert decode_accounting_request(packet, SECRET).has_message_authenticator
    tampered = bytearray(body)
    tampered[-1] ^= 1  # the NAS-IP-Address, after the Message-Authenticator
    forged = header + hashlib.md5(header + bytes(16) + bytes(tampered) + SECRET).digest()
    with pytest.raises(RadiusError, match="bad_message_authenticator"):
        decode_accounting_request(forged + bytes(tampered), SECRET)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x04\x01\x00", "too_short"),
        (build(START, code=1), "not_accounting_request"),
        (build(START)[:30], "bad_length"),
        (build([*START, (26, b"\x00\x00\x00\x09" + b"\x01\x00")]), "vsa_length"),
        (build([*START, (26, b"\x00\x00")]), "vsa_length"),
        (build([*START, (31, b"02-88-00-00-AA-02")]), "duplicate_attribute"),
        (build([(40, b"\x00\x01\x00"), *START[1:]]), "integer_length"),
        (build([(40, _u32(99)), *START[1:]]), "unknown_status_type"),
        (build(START[1:]), "no_status_type"),
        (build([*START[:3], (31, b"\xff\xfe"), *START[4:]]), "invalid_utf8"),
        (build([*START[:3], (31, b"not-a-mac"), *START[4:]]), "bad_calling_station_id"),
        (build(START, secret=b"wrong"), "bad_authenticator"),
    ],
)
def test_bad_packets_raise_typed_errors(data: bytes, reason: str) -> None:
    with pytest.raises(RadiusError, match=reason) as info:
        decode_accounting_request(data, SECRET)
    assert info.value.reason == reason


def _raw(tail: bytes) -> bytes:
    header = struct.pack("!BBH", 4, 1, 20 + len(tail)) + bytes(16)
    return header + tail


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_raw(b"\x01\x04\x00"), "attribute_overrun"),  # FreeRADIUS: "Insufficient data"
        (_raw(b"\x01\x14" + b"abcdef"), "attribute_overrun"),  # declares 20, 6 present
        (_raw(b"\x01\x00"), "attribute_length"),
        (_raw(b"\x01\x01"), "attribute_length"),
        (_raw(b"\x01"), "attribute_truncated"),
        (struct.pack("!BBH", 4, 1, 5000) + bytes(4996), "too_long"),
    ],
)
def test_malformed_tlvs_are_rejected_before_pyrad(data: bytes, reason: str) -> None:
    with pytest.raises(RadiusError, match=reason):
        decode_accounting_request(data, SECRET)


def test_repeatable_attributes_keep_every_value_in_order() -> None:
    """Class (RFC 2865 §5.25) and the RFC 6572 attributes may repeat: all values, in order; a
    Vendor-Specific anywhere is still walked; the first of each single-valued one is used."""
    hnp = bytes((0, 64)) + bytes.fromhex("20010db8000000aa")
    attrs = [*START[:2], (25, b"class-1"), (151, hnp), (26, b"\x00\x00\x00\x09\x01\x04ab"),
             (25, b"class-2"), (151, hnp[:2] + bytes(8)), (148, b"\x00\x01"), *START[2:]]  # fmt: skip
    req = decode_accounting_request(build(attrs), SECRET)
    assert req.classes == (b"class-1", b"class-2")
    assert req.pmip6 == {151: (hnp, hnp[:2] + bytes(8)), 148: (b"\x00\x01",)}
    assert req.user_name == "mn1@example.org"


def test_duplicate_single_valued_attribute_is_counted() -> None:
    data = build([*START, (44, b"other"), (44, b"third")])
    with pytest.raises(RadiusError, match="attribute 44 appears 3 times"):
        decode_accounting_request(data, SECRET)


def test_padding_after_length_is_ignored() -> None:
    assert (
        decode_accounting_request(build(START) + b"\x00" * 7, SECRET).status is AcctStatusType.START
    )


def test_real_radclient_packet_and_our_response() -> None:
    """FreeRADIUS's radclient builds the request; it checks our Response Authenticator."""
    radclient = shutil.which("radclient")
    if radclient is None:
        pytest.skip("radclient not installed (Debian freeradius-utils; .ci/run installs it)")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(10)
        port = sock.getsockname()[1]
        request = (
            'Acct-Status-Type = Stop\nUser-Name = "mn1@example.org"\n'
            'Acct-Session-Id = "2D5A1F9C8E7B6A54"\nCalling-Station-Id = "02-88-00-00-AA-01"\n'
            "Acct-Session-Time = 42\nAcct-Terminate-Cause = User-Request\n"
            "Event-Timestamp = 1700000100\nProxy-State = 0x4142\n"
        )
        proc = subprocess.Popen(
            [radclient, "-x", "-c", "1", "-r", "1", "-t", "5", f"127.0.0.1:{port}", "acct", "s3cret"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert proc.stdin is not None
            proc.stdin.write(request)
            proc.stdin.close()
            data, peer = sock.recvfrom(4096)
            req = decode_accounting_request(data, SECRET)
            assert (req.status, req.session_time, req.terminate_cause) == (
                AcctStatusType.STOP,
                42,
                1,
            )
            with pytest.raises(RadiusError, match="bad_authenticator"):
                decode_accounting_request(data, b"other")
            sock.sendto(encode_accounting_response(data, SECRET), peer)
            proc.wait(timeout=15)
            assert proc.stdout is not None
            assert proc.stderr is not None
            out, err = proc.stdout.read(), proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        assert proc.returncode == 0, err
        assert "Received Accounting-Response" in out
        assert "Proxy-State = 0x4142" in out.split("Received Accounting-Response", 1)[1]


def test_resigned_request_verifies_with_the_new_secret_only() -> None:
    from netlmm_aaa.wire.radius_accounting import (
        RadiusError,
        sign_accounting_request,
        verify_accounting_response,
    )

    for with_ma in (False, True):
        original = build(START, message_authenticator=with_ma)
        upstream = sign_accounting_request(original, 42, b"billing-secret")
        assert upstream[1] == 42 and upstream[20:] != b"" and len(upstream) == len(original)
        decoded = decode_accounting_request(upstream, b"billing-secret")
        assert decoded.session_id == "2D5A1F9C8E7B6A54"
        assert decoded.has_message_authenticator is with_ma
        with pytest.raises(RadiusError, match="authenticator"):
            decode_accounting_request(upstream, SECRET)
        response = encode_accounting_response(upstream, b"billing-secret")
        assert verify_accounting_response(response, upstream, b"billing-secret")
        assert not verify_accounting_response(response, upstream, b"other")
        assert not verify_accounting_response(response, original, b"billing-secret")


def test_authenticators_and_response_agree_with_pyrad() -> None:
    """Our Request/Message-Authenticator checks and Accounting-Response against pyrad's."""
    from pyrad.packet import AcctPacket

    from netlmm_aaa.wire.radius_accounting import RadiusError

    proxy = [(33, b"state-one"), (33, b"state-two")]
    cases = [
        build(START),
        build(START, message_authenticator=True),
        build(START + proxy, ident=99),
        build(START, secret=b"guessed"),
        build(START, message_authenticator=bytes(16)),
    ]
    tampered = bytearray(build(START))
    tampered[-1] ^= 1  # an attribute changed after signing
    cases.append(bytes(tampered))
    for data in cases:
        theirs = AcctPacket(packet=data, secret=SECRET)
        pyrad_ok = theirs.VerifyAcctRequest() and (
            80 not in theirs or theirs.verify_message_authenticator()
        )
        try:
            decode_accounting_request(data, SECRET)
            ours_ok = True
        except RadiusError:
            ours_ok = False
        assert ours_ok == pyrad_ok, data.hex()
        if ours_ok:
            assert encode_accounting_response(data, SECRET) == bytes(
                theirs.CreateReply().ReplyPacket()
            )


# In the hardening suite (security-tests.md R1, R7, R8, R9: the accounting decoder).
pytestmark = pytest.mark.hardening


@given(key=st.binary(min_size=0, max_size=200), message=st.binary(max_size=4096))
def test_hmac_md5_is_rfc2104_hmac_md5(key: bytes, message: bytes) -> None:
    # Keys longer than MD5's 64-octet block are hashed first (RFC 2104 §2); messages past
    # 2,048 octets take hashlib's other (GIL-releasing) path.
    assert hmac_md5(key, message) == hmac.new(key, message, hashlib.md5).digest()


def _radclient_datagram(request: str) -> bytes:
    """The Accounting-Request FreeRADIUS's radclient builds from ``request`` (not answered)."""
    radclient = shutil.which("radclient")
    if radclient is None:
        pytest.skip("radclient not installed (Debian freeradius-utils; .ci/run installs it)")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(10)
        port = sock.getsockname()[1]
        done = subprocess.Popen([radclient, "-c", "1", "-r", "1", "-t", "1",
                                 f"127.0.0.1:{port}", "acct", "s3cret"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, text=True)  # fmt: skip
        try:
            assert done.stdin is not None
            done.stdin.write(request)
            done.stdin.close()
            return sock.recvfrom(4096)[0]
        finally:
            done.kill()
            done.wait()


def test_usage_and_addresses_as_radclient_sends_them() -> None:
    """What radacct keeps: octets with gigawords, packets, NAS-IPv6-Address, NAS-Port(-Id),
    Framed-IP-Address and Framed-IPv6-Prefix, from a packet FreeRADIUS's radclient encodes."""
    data = _radclient_datagram(
        'Acct-Status-Type = Interim-Update\nUser-Name = "mn1@example.org"\n'
        'Acct-Session-Id = "S9"\nAcct-Input-Octets = 1234\nAcct-Input-Gigawords = 2\n'
        "Acct-Output-Octets = 4294967295\nAcct-Input-Packets = 11\nAcct-Output-Packets = 12\n"
        "NAS-IPv6-Address = 2001:db8:ff::7\nNAS-Port = 3\nNAS-Port-Id = \"ge-0/0/3\"\n"
        "Framed-IP-Address = 203.0.113.10\nFramed-IPv6-Prefix = 2001:db8:1:1::/64\n"
    )
    req = decode_accounting_request(data, SECRET)
    assert req.usage is not None
    assert (req.usage.input_octets, req.usage.output_octets) == ((2 << 32) + 1234, 4294967295)
    assert (req.usage.input_packets, req.usage.output_packets) == (11, 12)
    assert (req.nas_ipv6_address, req.nas_port, req.nas_port_id) == ("2001:db8:ff::7", 3, "ge-0/0/3")
    assert (req.framed_ip_address, req.framed_ipv6_prefix) == ("203.0.113.10", "2001:db8:1:1::/64")


@pytest.mark.parametrize(
    ("attribute", "reason"),
    [
        ((8, b"\x01\x02\x03"), "bad_address"),  # Framed-IP-Address of 3 octets
        ((95, bytes(15)), "bad_address"),  # NAS-IPv6-Address of 15 octets
        ((97, b"\x00\x81" + bytes(16)), "bad_prefix"),  # /129
        ((97, b"\x00\x40" + bytes(4)), "bad_prefix"),  # /64 in 4 octets
        ((97, b"\x00\x08\xff\x01"), "bad_prefix"),  # bits past the prefix length
        ((42, b"\x00\x01"), "integer_length"),  # Acct-Input-Octets of 2 octets
    ],
)
def test_bad_usage_and_address_attributes_are_typed_errors(
    attribute: tuple[int, bytes], reason: str
) -> None:
    with pytest.raises(RadiusError, match=reason):
        decode_accounting_request(build([*START, attribute]), SECRET)
