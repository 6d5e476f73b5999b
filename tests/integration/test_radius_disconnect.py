"""RFC 5176 Disconnect-Request (adapters.radius_disconnect) against a NAS simulator on loopback
that checks the Request Authenticator with pyrad and answers Disconnect-ACK or -NAK."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from pyrad.packet import CoAPacket, DisconnectNAK

from netlmm_aaa.adapters.radius_disconnect import DICTIONARY, disconnect

pytestmark = pytest.mark.integration

SECRET = b"controller-secret"


class Nas(asyncio.DatagramProtocol):
    """Decodes each request with pyrad, keeps it and whether its authenticator verified, and
    answers as ``answer(request) -> list of datagrams`` says."""

    def __init__(self, answer: Callable[[CoAPacket], list[bytes]]) -> None:
        self.answer = answer
        self.requests: list[tuple[CoAPacket, bool]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = CoAPacket(packet=data, secret=SECRET, dict=DICTIONARY)
        self.requests.append((request, request.VerifyCoARequest()))
        assert self.transport is not None
        for reply in self.answer(request):
            self.transport.sendto(reply, addr)


def ack(request: CoAPacket) -> list[bytes]:
    return [request.CreateReply().ReplyPacket()]


def nak_503(request: CoAPacket) -> list[bytes]:
    reply = request.CreateReply()
    reply.code = DisconnectNAK
    reply["Error-Cause"] = 503  # Session-Context-Not-Found
    return [reply.ReplyPacket()]


def forged_then_ack(request: CoAPacket) -> list[bytes]:
    forged = CoAPacket(code=request.code + 1, id=request.id, secret=b"guessed",
                       authenticator=request.authenticator, dict=DICTIONARY)  # fmt: skip
    return [b"\x29junk", forged.ReplyPacket(), *ack(request)]


def run(answer: Callable[[CoAPacket], list[bytes]], secret: bytes = SECRET, **kw: Any) -> Any:
    async def go() -> Any:
        loop = asyncio.get_running_loop()
        transport, nas = await loop.create_datagram_endpoint(
            lambda: Nas(answer), local_addr=("127.0.0.1", 0)
        )
        port = transport.get_extra_info("sockname")[1]
        try:
            outcome = await disconnect("127.0.0.1", secret, port=port,
                                       calling_station_id="02:00:00:00:00:01",
                                       session_id="S1", user_name="alice@example.org",
                                       event_timestamp=1_780_000_000, wait=0.3, **kw)  # fmt: skip
        finally:
            transport.close()
        return outcome, nas.requests

    return asyncio.run(go())


def test_the_nas_gets_a_valid_request_naming_the_session_and_acks() -> None:
    outcome, requests = run(ack)
    assert (outcome.result, outcome.tries) == ("ack", 1)
    (request, verified), = requests
    assert verified  # the Request Authenticator checks out with the shared secret
    assert request["Calling-Station-Id"] == ["02-00-00-00-00-01"]
    assert request["Acct-Session-Id"] == ["S1"]
    assert request["User-Name"] == ["alice@example.org"]


def test_a_nak_carries_its_error_cause() -> None:
    outcome, _ = run(nak_503)
    assert (outcome.result, outcome.error_cause) == ("nak", 503)


def test_forged_answers_are_ignored_and_the_real_one_counts() -> None:
    outcome, requests = run(forged_then_ack)
    assert outcome.result == "ack" and len(requests) == 1


def test_no_answer_means_retransmissions_then_unanswered() -> None:
    outcome, requests = run(lambda request: [], tries=3)
    assert (outcome.result, outcome.tries) == ("unanswered", 3)
    assert len(requests) == 3 and len({r.id for r, _ in requests}) == 1  # the same request
    assert all(verified for _, verified in requests)


def test_a_wrong_secret_does_not_verify_at_the_nas() -> None:
    outcome, requests = run(lambda request: [], secret=b"not-the-secret", tries=1)
    assert outcome.result == "unanswered" and requests[0][1] is False
