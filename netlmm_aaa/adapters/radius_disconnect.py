"""RFC 5176 Disconnect-Request to a NAS (a WLAN controller whose stations the MAG sees only
through accounting): built and verified with pyrad, sent from a socket of its own per request,
retransmitted (same Identifier and authenticator) until a verified Disconnect-ACK or -NAK
arrives or the tries are spent. Answers that do not verify with the NAS's secret, come from
another address or name another Identifier are ignored (the wait goes on)."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import logging
from dataclasses import dataclass

from pyrad.dictionary import Dictionary
from pyrad.packet import CoAPacket, DisconnectACK, DisconnectNAK, DisconnectRequest, PacketError

log = logging.getLogger(__name__)

# The attributes a Disconnect-Request names its session with (RFC 5176 §3), and Error-Cause.
_DICTIONARY = """
ATTRIBUTE User-Name 1 string
ATTRIBUTE NAS-IP-Address 4 ipaddr
ATTRIBUTE Called-Station-Id 30 string
ATTRIBUTE Calling-Station-Id 31 string
ATTRIBUTE NAS-Identifier 32 string
ATTRIBUTE Proxy-State 33 octets
ATTRIBUTE Acct-Session-Id 44 string
ATTRIBUTE Event-Timestamp 55 date
ATTRIBUTE Message-Authenticator 80 octets
ATTRIBUTE Chargeable-User-Identity 89 octets
ATTRIBUTE NAS-IPv6-Address 95 ipv6addr
ATTRIBUTE Error-Cause 101 integer
"""
DICTIONARY = Dictionary(io.StringIO(_DICTIONARY))

DISCONNECT_PORT = 3799
"""RFC 5176 §3: the Dynamic Authorization Server's UDP port."""


@dataclass(frozen=True, slots=True)
class DisconnectOutcome:
    """What the NAS said: ``ack``, ``nak`` (with its Error-Cause, RFC 5176 §3.5) or
    ``unanswered`` after every try."""

    result: str
    error_cause: int | None = None
    tries: int = 0


class _Waiter(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answers: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.answers.put_nowait((data, addr))


async def disconnect(
    address: str,
    secret: bytes,
    *,
    port: int = DISCONNECT_PORT,
    calling_station_id: str,
    session_id: str | None = None,
    user_name: str | None = None,
    nas_identifier: str | None = None,
    event_timestamp: int | None = None,
    wait: float = 1.0,
    tries: int = 3,
) -> DisconnectOutcome:
    """Ask the NAS at ``address``:``port`` to end the session of ``calling_station_id`` (and
    ``session_id``); waits ``wait`` seconds for each of ``tries`` sends."""
    request = CoAPacket(code=DisconnectRequest, secret=secret, dict=DICTIONARY)
    request["Calling-Station-Id"] = calling_station_id.replace(":", "-").upper()
    if session_id is not None:
        request["Acct-Session-Id"] = session_id
    if user_name is not None:
        request["User-Name"] = user_name
    if nas_identifier is not None:
        request["NAS-Identifier"] = nas_identifier
    if event_timestamp is not None:  # RFC 5176 §3.5: the NAS may check it against replays
        request["Event-Timestamp"] = event_timestamp
    datagram = request.RequestPacket()
    family = 6 if ipaddress.ip_address(address).version == 6 else 4
    loop = asyncio.get_running_loop()
    transport, waiter = await loop.create_datagram_endpoint(
        _Waiter, local_addr=("::" if family == 6 else "0.0.0.0", 0)
    )
    try:
        for attempt in range(1, tries + 1):
            transport.sendto(datagram, (address, port))
            deadline = loop.time() + wait
            while (left := deadline - loop.time()) > 0:
                try:
                    data, source = await asyncio.wait_for(waiter.answers.get(), left)
                except TimeoutError:
                    break
                outcome = _read(request, data, source, address, attempt)
                if outcome is not None:
                    return outcome
        return DisconnectOutcome("unanswered", tries=tries)
    finally:
        transport.close()


def _read(
    request: CoAPacket, data: bytes, source: tuple[str, int], address: str, attempt: int
) -> DisconnectOutcome | None:
    """A verified answer to ``request``, or None for anything else (logged)."""
    if ipaddress.ip_address(source[0]) != ipaddress.ip_address(address):
        log.warning("disconnect: an answer from %s, not the NAS %s: ignored", source[0], address)
        return None
    try:
        reply = request.CreateReply(packet=data)
    except PacketError as exc:
        log.warning("disconnect: an undecodable answer from %s (%s): ignored", address, exc)
        return None
    if reply.code not in (DisconnectACK, DisconnectNAK) or not request.VerifyReply(reply, data):
        log.warning("disconnect: an answer from %s that does not verify: ignored", address)
        return None
    if reply.code == DisconnectACK:
        return DisconnectOutcome("ack", tries=attempt)
    causes = reply.get("Error-Cause") or [None]
    return DisconnectOutcome("nak", error_cause=causes[0], tries=attempt)
