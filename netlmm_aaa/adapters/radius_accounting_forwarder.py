"""Forwarding accepted accounting to an upstream accounting server (billing keeps working with a
MAG in the path): each new record is re-signed with the upstream secret and sent, with
retransmissions (same Identifier and authenticator) until the upstream answers with a verified
Accounting-Response. The NAS's answer never waits for the upstream: ours goes out when our own
record is committed.

Nothing is dropped: each record carries a sequence number under which the owner spools it
durably (:meth:`SqlStore.submit` ``spool=``) and un-spools it when ``done(seq)`` reports the
upstream's answer; a record the upstream leaves unanswered after ``tries`` goes back in the
queue after a back-off (``retry_delay`` doubling up to ``max_retry_delay``), and a restart
resumes the spool (:meth:`AccountingForwarder.resume`).
"""

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
        done: Callable[[int], None] | None = None,
        timeout: float = 2.0,
        tries: int = 4,
        retry_delay: float = 5.0,
        max_retry_delay: float = 300.0,
    ) -> None:
        self.host, self.port, self.secret = host, port, secret
        self.failed = failed
        self.done = done
        self.timeout, self.tries = timeout, tries
        self.retry_delay, self.max_retry_delay = retry_delay, max_retry_delay
        self._transport: asyncio.DatagramTransport | None = None
        # Identifier -> (seq, packet as sent, attempt, its timer)
        self._outstanding: dict[int, tuple[int, bytes, int, asyncio.TimerHandle]] = {}
        self._waiting: collections.deque[tuple[int, bytes]] = collections.deque()
        self._next_id = 0
        self._next_seq = 1
        self._rounds: dict[int, int] = {}  # seq -> times the upstream left it unanswered
        self._later: dict[int, asyncio.TimerHandle] = {}  # seq -> its retry after a back-off
        self.forwarded = self.answered = self.given_up = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), remote_addr=(self.host, self.port)
        )

    def close(self) -> None:
        for _, _, _, timer in self._outstanding.values():
            timer.cancel()
        for timer in self._later.values():
            timer.cancel()
        if self._transport is not None:
            self._transport.close()

    @property
    def backlog(self) -> int:
        """Records the upstream has not answered yet (sent or waiting)."""
        return len(self._waiting) + len(self._outstanding) + len(self._later)

    def resume(self, spooled: list[tuple[int, bytes]]) -> None:
        """At start: the records spooled before the restart, oldest first."""
        for seq, request in spooled:
            self._next_seq = max(self._next_seq, seq + 1)
            self._waiting.append((seq, request))
        self._pump()

    def forward(self, request: bytes) -> int:
        """Queue one accepted Accounting-Request datagram for the upstream; its seq (under which
        the owner spools it, in the same commit as its own record)."""
        seq = self._next_seq
        self._next_seq += 1
        self._waiting.append((seq, request))
        self._pump()
        return seq

    def _pump(self) -> None:
        while self._waiting and len(self._outstanding) < 256 and self._transport is not None:
            while self._next_id in self._outstanding:
                self._next_id = (self._next_id + 1) % 256
            identifier = self._next_id
            self._next_id = (self._next_id + 1) % 256
            seq, request = self._waiting.popleft()
            packet = sign_accounting_request(request, identifier, self.secret)
            self._send(identifier, seq, packet, 1)
            self.forwarded += 1

    def _send(self, identifier: int, seq: int, packet: bytes, attempt: int) -> None:
        assert self._transport is not None
        self._transport.sendto(packet)
        timer = asyncio.get_running_loop().call_later(self.timeout, self._expired, identifier)
        self._outstanding[identifier] = (seq, packet, attempt, timer)

    def _expired(self, identifier: int) -> None:
        entry = self._outstanding.pop(identifier, None)
        if entry is None:
            return
        seq, packet, attempt, _ = entry
        if attempt < self.tries:
            self._send(identifier, seq, packet, attempt + 1)
            return
        self.given_up += 1
        rounds = self._rounds[seq] = self._rounds.get(seq, 0) + 1
        delay = min(self.retry_delay * 2 ** (rounds - 1), self.max_retry_delay)
        log.warning("accounting upstream %s:%d: no answer after %d tries; again in %.0f s",
                    self.host, self.port, self.tries, delay)  # fmt: skip
        if self.failed is not None:
            self.failed("no_answer", f"upstream {self.host}:{self.port}, {self.tries} tries")
        # Back in the queue after a back-off (signed afresh, with a new Identifier, when sent).
        self._later[seq] = asyncio.get_running_loop().call_later(delay, self._retry, seq, packet)
        self._pump()

    def _retry(self, seq: int, request: bytes) -> None:
        self._later.pop(seq, None)
        self._waiting.appendleft((seq, request))
        self._pump()

    def answer(self, data: bytes) -> None:
        if len(data) < 20:
            return
        entry = self._outstanding.get(data[1])
        if entry is None or not verify_accounting_response(data, entry[1], self.secret):
            return  # late, duplicate or forged: ignore
        del self._outstanding[data[1]]
        entry[3].cancel()
        self.answered += 1
        self._rounds.pop(entry[0], None)
        if self.done is not None:
            self.done(entry[0])
        self._pump()
