"""Forwarding accepted accounting to an upstream accounting server (billing keeps working with a
MAG in the path): each new record is re-signed with the upstream secret and sent once, with
retransmissions (same Identifier and authenticator) until the upstream answers with a verified
Accounting-Response. The NAS's answer never waits for the upstream: ours goes out when our own
record is committed."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable

from netlmm_aaa.wire.radius_accounting import (
    sign_accounting_request,
    verify_accounting_response,
)

log = logging.getLogger(__name__)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: AccountingForwarder) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.owner.answer(data)


class AccountingForwarder:
    """Sends to ``(host, port)`` with ``secret``; ``failed(reason, detail)`` when it gives up."""

    def __init__(
        self,
        host: str,
        port: int,
        secret: bytes,
        *,
        failed: Callable[[str, str], None] | None = None,
        timeout: float = 2.0,
        tries: int = 4,
    ) -> None:
        self.host, self.port, self.secret = host, port, secret
        self.failed = failed
        self.timeout, self.tries = timeout, tries
        self._transport: asyncio.DatagramTransport | None = None
        self._outstanding: dict[int, tuple[bytes, int, asyncio.TimerHandle]] = {}
        self._waiting: collections.deque[bytes] = collections.deque(maxlen=100_000)
        self._next_id = 0
        self.forwarded = self.answered = self.given_up = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), remote_addr=(self.host, self.port)
        )

    def close(self) -> None:
        for _, _, timer in self._outstanding.values():
            timer.cancel()
        if self._transport is not None:
            self._transport.close()

    def forward(self, request: bytes) -> None:
        """Queue one accepted Accounting-Request datagram for the upstream."""
        self._waiting.append(request)
        self._pump()

    def _pump(self) -> None:
        while self._waiting and len(self._outstanding) < 256 and self._transport is not None:
            while self._next_id in self._outstanding:
                self._next_id = (self._next_id + 1) % 256
            identifier = self._next_id
            self._next_id = (self._next_id + 1) % 256
            packet = sign_accounting_request(self._waiting.popleft(), identifier, self.secret)
            self._send(identifier, packet, 1)
            self.forwarded += 1

    def _send(self, identifier: int, packet: bytes, attempt: int) -> None:
        assert self._transport is not None
        self._transport.sendto(packet)
        timer = asyncio.get_running_loop().call_later(self.timeout, self._expired, identifier)
        self._outstanding[identifier] = (packet, attempt, timer)

    def _expired(self, identifier: int) -> None:
        entry = self._outstanding.pop(identifier, None)
        if entry is None:
            return
        packet, attempt, _ = entry
        if attempt < self.tries:
            self._send(identifier, packet, attempt + 1)
            return
        self.given_up += 1
        log.warning("accounting upstream %s:%d: no answer after %d tries", self.host, self.port,
                    self.tries)  # fmt: skip
        if self.failed is not None:
            self.failed("no_answer", f"upstream {self.host}:{self.port}, {self.tries} tries")
        self._pump()

    def answer(self, data: bytes) -> None:
        if len(data) < 20:
            return
        entry = self._outstanding.get(data[1])
        if entry is None or not verify_accounting_response(data, entry[0], self.secret):
            return  # late, duplicate or forged: ignore
        del self._outstanding[data[1]]
        entry[2].cancel()
        self.answered += 1
        self._pump()
