"""DHCPv4 codec and the MAG's answers: requests built by scapy (an independent encoder), replies
read back by scapy; every RFC 2131 §4.3 case of :func:`decide`; malformed input is a typed error."""

from __future__ import annotations

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from netlmm_aaa.core.dhcpv4_decisions import DhcpMessageType, DhcpRequest, Lease, decide
from netlmm_aaa.wire.dhcpv4 import DhcpDecodeError, decode_request, encode_reply

MAC = "02:00:00:aa:bb:01"
SERVER = "203.0.113.1"
HOA = "203.0.113.10"
LEASE = Lease(address=HOA, prefix_length=24)


def _request(kind: str, **fields: object) -> bytes:
    options: list[object] = [("message-type", kind)]
    if "requested" in fields:
        options.append(("requested_addr", fields["requested"]))
    if "server" in fields:
        options.append(("server_id", fields["server"]))
    options.append("end")
    bootp = BOOTP(op=1, chaddr=bytes.fromhex(MAC.replace(":", "")), xid=0x1234ABCD,
                  flags=int(fields.get("flags", 0)),  # type: ignore[call-overload]
                  ciaddr=str(fields.get("ciaddr", "0.0.0.0")))  # fmt: skip
    return bytes(bootp / DHCP(options=options))


def _options(reply: bytes) -> dict[str, object]:
    packet = BOOTP(reply)
    return {o[0]: o[1] for o in packet[DHCP].options if isinstance(o, tuple)}


def test_discover_gets_an_offer_with_the_home_address_mask_router_and_lease() -> None:
    request = decode_request(_request("discover", flags=0x8000))
    assert (request.message_type, request.mac, request.xid) == (
        DhcpMessageType.DISCOVER, MAC, 0x1234ABCD,
    )  # fmt: skip
    assert request.broadcast
    decision = decide(request, LEASE, SERVER)
    assert decision.reply is DhcpMessageType.OFFER
    reply = encode_reply(request, DhcpMessageType.OFFER, server_identifier=SERVER,
                         yiaddr=decision.yiaddr, lease_seconds=600, prefix_length=24,
                         router=SERVER, dns=("192.0.2.53",))  # fmt: skip
    packet = BOOTP(reply)
    assert (packet.op, packet.xid, packet.yiaddr, packet.flags) == (2, 0x1234ABCD, HOA, 0x8000)
    assert packet.chaddr[:6] == bytes.fromhex(MAC.replace(":", ""))
    options = _options(reply)
    assert options["message-type"] == 2
    assert options["server_id"] == SERVER
    assert options["subnet_mask"] == "255.255.255.0"
    assert options["router"] == SERVER
    assert options["lease_time"] == 600
    assert options["renewal_time"] == 300
    assert options["name_server"] == "192.0.2.53"
    assert len(reply) >= 300
    # And as a frame on the wire: scapy reads it as DHCP on UDP 67 -> 68.
    frame = Ether(bytes(Ether() / IP(src=SERVER, dst="255.255.255.255")
                        / UDP(sport=67, dport=68) / BOOTP(reply)))  # fmt: skip
    assert frame[BOOTP].yiaddr == HOA


@pytest.mark.parametrize(
    ("kind", "fields", "expected", "address"),
    [
        ("request", {"requested": HOA, "server": SERVER}, DhcpMessageType.ACK, HOA),  # SELECTING
        ("request", {"requested": HOA, "server": "203.0.113.99"}, None, None),  # other server
        ("request", {"requested": "203.0.113.77", "server": SERVER}, DhcpMessageType.NAK, None),
        ("request", {"requested": HOA}, DhcpMessageType.ACK, HOA),  # INIT-REBOOT after a move
        ("request", {"requested": "198.51.100.7"}, DhcpMessageType.NAK, None),  # other network
        ("request", {"ciaddr": HOA}, DhcpMessageType.ACK, HOA),  # RENEWING
        ("request", {"ciaddr": "203.0.113.11"}, DhcpMessageType.NAK, None),
        ("inform", {"ciaddr": HOA}, DhcpMessageType.ACK, "0.0.0.0"),
        ("release", {"ciaddr": HOA}, None, None),
        ("decline", {"requested": HOA}, None, None),
    ],
)
def test_rfc2131_answers(
    kind: str, fields: dict[str, object], expected: DhcpMessageType | None, address: str | None
) -> None:
    request = decode_request(_request(kind, **fields))
    decision = decide(request, LEASE, SERVER)
    assert decision.reply is expected, decision.reason
    if address is not None:
        assert decision.yiaddr == address
    if expected is DhcpMessageType.NAK:
        reply = encode_reply(request, DhcpMessageType.NAK, server_identifier=SERVER)
        options = _options(reply)
        assert options["message-type"] == 6
        assert "lease_time" not in options
        assert BOOTP(reply).yiaddr == "0.0.0.0"


@pytest.mark.parametrize("kind", ["discover", "request", "inform"])
def test_a_station_without_a_registered_binding_gets_no_answer(kind: str) -> None:
    request = decode_request(_request(kind, requested=HOA))
    decision = decide(request, None, SERVER)
    assert decision.reply is None
    assert "no registered binding" in decision.reason


def test_renewal_ack_keeps_ciaddr() -> None:
    request = decode_request(_request("request", ciaddr=HOA))
    reply = encode_reply(request, DhcpMessageType.ACK, server_identifier=SERVER, yiaddr=HOA,
                         lease_seconds=3600, prefix_length=24, router=SERVER)  # fmt: skip
    assert (BOOTP(reply).ciaddr, BOOTP(reply).yiaddr) == (HOA, HOA)


def _valid() -> bytearray:
    return bytearray(_request("discover"))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b[:100], "truncated"),
        (lambda b: b"\x02" + b[1:], "not_a_request"),
        (lambda b: b[:1] + b"\x06" + b[2:], "not_ethernet"),
        (lambda b: b[:236] + b"\0\0\0\0" + b[240:], "no_magic_cookie"),
        (lambda b: b[:240] + bytes([55, 200, 1, 2]), "truncated_option"),
        (lambda b: b[:240] + bytes([55, 2, 1, 3]), "no_end_option"),
        (lambda b: b[:240] + bytes([55, 1, 1, 255]), "no_message_type"),
        (lambda b: b[:240] + bytes([53, 1, 99, 255]), "bad_message_type"),
        (lambda b: b[:240] + bytes([53, 1, 5, 255]), "not_a_request"),
        (lambda b: b[:240] + bytes([53, 1, 1, 52, 1, 3, 255]), "option_overload"),
        (lambda b: b[:240] + bytes([53, 1, 3, 50, 3, 1, 2, 3, 255]), "bad_option"),
    ],
)
def test_malformed_requests_are_typed_errors(mutate: object, reason: str) -> None:
    with pytest.raises(DhcpDecodeError) as caught:
        decode_request(bytes(mutate(_valid())))  # type: ignore[operator]
    assert caught.value.reason == reason
    assert str(caught.value)


def test_decoder_never_raises_anything_else_on_random_bytes() -> None:
    import random

    rng = random.Random(5)
    base = _valid()
    for _ in range(5000):
        data = bytearray(base)
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = data[: rng.randrange(200, len(data) + 1)]
        try:
            request = decode_request(bytes(data))
        except DhcpDecodeError:
            continue
        assert isinstance(request, DhcpRequest)
