"""RADIUS accounting listener (UDP 1813) for the MAG: NASes report Start/Interim/Stop here.

- The source address selects the NAS and its shared secret; an unknown source is dropped (and
  reported), never answered.
- Each datagram is checked and decoded by :mod:`netlmm_aaa.wire.radius_accounting`; a failure is
  reported with its reason code and dropped.
- Retransmissions arrive with new Identifiers (and a larger Acct-Delay-Time): the idempotency key
  (NAS, Acct-Session-Id, status, Event-Timestamp) makes every copy one event. The first copy is
  delivered; copies that arrive before it is acknowledged wait with it; copies of an acknowledged
  record are answered at once.
- The Accounting-Response is sent only when the owner calls :meth:`acknowledge` for the key,
  i.e. after the record is durably stored (RFC 2866 §2). A second listener on the same port
  fails loudly (:func:`~.flow_quarantine.bind_exclusive`).
- Speed: a readable socket is drained (up to a burst) in one event-loop callback, and the
  answers of a committed batch leave from the thread that saw the commit (no wake-up of the
  event loop between the commit and the answers).
- Replay floods: once a datagram is answered, its exact bytes from that source map to the
  answer sent (a bounded cache), so a copy costs a dictionary look-up, not a decode; a copy is
  answered from the cache at a bounded rate (a NAS retransmits after seconds; a flood's copies
  are mostly only counted). Copies are reported to ``duplicate`` for aggregate counting, never
  written one by one. A flow that floods copies is moved to a socket of its own
  (:mod:`~.flow_quarantine`), so that the kernel drops its overflow and not the datagrams of
  other flows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from netlmm_aaa.adapters.flow_quarantine import FlowQuarantine, bind_exclusive
from netlmm_aaa.wire.radius_accounting import (
    MAX_PACKET,
    AccountingRequest,
    RadiusError,
    decode_accounting_request,
    encode_accounting_response,
)

log = logging.getLogger(__name__)

Key = tuple[str, str | None, int, int | None]
"""The idempotency key of an accounting record: (NAS, Acct-Session-Id, status, Event-Timestamp)."""
_Addr = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Nas:
    """A NAS allowed to send accounting: its name, source address and shared secret."""

    name: str
    address: str
    secret: bytes
    identifier: str | None = None
    """The NAS-Identifier this NAS must send, if configured."""
    ip_address: str | None = None
    """The NAS-IP-Address this NAS must send, if configured."""
    rate: float = 5000.0
    """Datagrams per second decoded for this NAS (a token bucket, burst twice that): a flood
    from its address, forged or not, cannot take the other NASes' share."""


@dataclass(frozen=True, slots=True)
class AccountingReceived:
    """A new (not duplicate) verified accounting record, to be stored then acknowledged."""

    nas: Nas
    request: AccountingRequest
    key: Key
    data: bytes = b""
    """The datagram as received (for forwarding upstream)."""


_ANSWERED = 4096
"""Answered datagrams whose exact copies are answered from the cache."""
_COPY_ANSWERS_PER_S = 10.0
_COPY_ANSWER_BURST = 3.0
"""Copies of one answered datagram are answered at most this often (token bucket): a NAS's
retransmissions and a duplicated datagram always, a flood's copies mostly only counted."""


@dataclass(slots=True)
class _Answered:
    response: bytes
    last: float
    """Monotonic time the tokens were counted."""
    nas: Nas
    tokens: float = _COPY_ANSWER_BURST


def _source(addr: _Addr) -> str:
    """The source address, an IPv4 NAS seen on a dual-stack socket (``::ffff:a.b.c.d``) as
    IPv4."""
    source = addr[0]
    return source[7:] if source.startswith("::ffff:") and "." in source else source


_READ_BURST = 64
"""Datagrams read per wake-up of the event loop (then other callbacks get their turn)."""
_READ_SIZE = MAX_PACKET + 1
"""recvfrom size: a RADIUS packet whole, and one octet more to tell an oversized datagram (a
64 KiB buffer per read would cost more than answering a copy)."""
_RECEIVE_BUFFER = 4 << 20
"""Socket receive buffer: a NAS's burst (or a flood) waits in the kernel, not dropped."""


class AccountingListener:
    """See the module docstring."""

    def __init__(
        self,
        nases: list[Nas],
        *,
        deliver: Callable[[AccountingReceived], None],
        rejected: Callable[[str, str, str], None],
        duplicate: Callable[[Nas, AccountingRequest | None, int], None] | None = None,
        remember: int = 65536,
    ) -> None:
        self._nases: dict[str, Nas] = {}
        self._others: dict[str, list[Nas]] = {}
        self._deliver = deliver
        self._rejected = rejected  # (source, reason, detail)
        # A retransmission of a record already taken (None: an exact copy of an answered one)
        self._duplicate = duplicate
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Guards _seen: the event loop reads and extends it, a store thread acknowledges.
        self._lock = threading.Lock()
        # key -> (datagram, addr, the NAS as configured when it came) waiting for the
        # acknowledgement; None once acked. A reload in between changes no answer's secret.
        self._seen: OrderedDict[Key, list[tuple[bytes, _Addr, Nas]] | None] = OrderedDict()
        self._remember = remember
        # (source, datagram) -> its answer
        self._answered: OrderedDict[tuple[str, bytes], _Answered] = OrderedDict()
        self._copies: dict[Nas, int] = {}  # copies answered from the cache, not yet reported
        self._buckets: dict[str, list[float]] = {}  # NAS address -> [tokens, when counted]
        self.set_nases(nases)
        self.quarantine = FlowQuarantine(self.datagram, read_size=_READ_SIZE)
        self.duplicates = 0
        self.dropped = 0
        self.unsent = 0
        """Responses the socket refused (buffer full): the NAS retransmits, we answer again."""

    async def start(self, host: str, port: int = 1813) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        family, kind, proto, _, address = (
            await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            try:  # SO_RCVBUFFORCE (33) lifts the sysctl cap when we are root
                sock.setsockopt(socket.SOL_SOCKET, 33, _RECEIVE_BUFFER)
            except OSError:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
            bind_exclusive(sock, address)
        except OSError:
            sock.close()
            raise
        self._sock, self._loop = sock, loop
        loop.add_reader(sock.fileno(), self._readable)
        self.quarantine.start(sock)
        bound: tuple[str, int] = sock.getsockname()[:2]
        return bound

    def close(self) -> None:
        self.quarantine.close()
        if self._sock is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            for _ in range(_READ_BURST):
                try:
                    data, addr = sock.recvfrom(_READ_SIZE)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError as exc:  # e.g. an ICMP error reported on the socket
                    log.debug("accounting socket: %s", exc)
                    return
                self.datagram(data, addr)
        finally:
            self._report_copies()

    def _report_copies(self) -> None:
        """Copies of answered datagrams are reported per NAS and burst, not one by one."""
        if self._copies:
            copies, self._copies = self._copies, {}
            if self._duplicate is not None:
                for nas, count in copies.items():
                    self._duplicate(nas, None, count)

    def set_nases(self, nases: list[Nas]) -> None:
        """Serve these NASes from now on (at start, and on a reload). Cached answers of a NAS
        that changed or left are forgotten (its next copies are decoded with what is
        configured now); records taken before and not yet acknowledged are still answered."""
        new = {n.address: n for n in nases}
        for address, old in self._nases.items():
            if new.get(address) != old:
                self._buckets.pop(address, None)
        with self._lock:  # the store's thread answers too
            for cached in [k for k, v in self._answered.items() if new.get(k[0]) != v.nas]:
                del self._answered[cached]
        self._nases = new
        self._others = {n.name: [o for o in nases if o.name != n.name] for n in nases}

    def datagram(self, data: bytes, addr: _Addr) -> None:
        source = _source(addr)
        if len(data) > MAX_PACKET:
            self.dropped += 1
            self._rejected(source, "too_long", f"datagram over {MAX_PACKET} octets")
            return
        answered = self._answered.get((source, data)) if self._answered else None
        if answered is not None:  # an exact copy of an answered datagram: no decode, no store
            self._copy(answered, addr, source)
            return
        nas = self._nases.get(source)
        if nas is None:
            self.dropped += 1
            self._rejected(source, "unknown_nas", f"{len(data)} octets from an unknown source")
            return
        if not self._spend(nas):
            self.dropped += 1
            self._rejected(
                source, "rate_limited", f"over {nas.rate:g} datagrams/s from NAS {nas.name}"
            )
            return
        try:
            request = decode_accounting_request(data, nas.secret)
            self._check_identity(nas, request)
        except RadiusError as exc:
            self.dropped += 1
            self._rejected(source, exc.reason, str(exc))
            return
        key = request.idempotency_key(nas.name)
        seen = self._seen
        with self._lock:
            known = key in seen
            if known:
                waiting = seen[key]
                if waiting is not None:  # its record is not committed yet: answered with it
                    waiting.append((data, addr, nas))
            else:
                seen[key] = [(data, addr, nas)]
                while len(seen) > self._remember:
                    seen.popitem(last=False)
        if known:
            self.duplicates += 1
            if self._duplicate is not None:
                self._duplicate(nas, request, 1)
            if waiting is None:
                self._answer(data, addr, nas)  # already stored: answer this copy now
            return
        self._deliver(AccountingReceived(nas=nas, request=request, key=key, data=data))

    def _spend(self, nas: Nas) -> bool:
        """Take a token of ``nas``'s bucket (refilled at ``nas.rate``, holding twice that)."""
        now = time.monotonic()
        bucket = self._buckets.get(nas.address)
        if bucket is None:
            bucket = self._buckets[nas.address] = [2.0 * nas.rate, now]
        tokens = min(2.0 * nas.rate, bucket[0] + (now - bucket[1]) * nas.rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True

    def _check_identity(self, nas: Nas, request: AccountingRequest) -> None:
        """A NAS speaks only for itself: the NAS-Identifier and NAS-IP-Address it sends must be
        its configured ones, and never another configured NAS's (a NAS with a valid secret
        claiming another NAS)."""
        claims = (
            ("NAS-Identifier", request.nas_identifier, nas.identifier, 0),
            ("NAS-IP-Address", request.nas_ip_address, nas.ip_address, 1),
        )
        for attribute, claimed, expected, which in claims:
            if claimed is None:
                continue
            for other in self._others[nas.name]:
                taken = (
                    (other.identifier, other.name)
                    if which == 0
                    else (other.ip_address, other.address)
                )
                if claimed in taken:
                    raise RadiusError(
                        "nas_identity_mismatch",
                        f"NAS {nas.name} claims to be NAS {other.name} ({attribute} {claimed!r})",
                    )
            if expected is not None and claimed != expected:
                raise RadiusError(
                    "nas_identity_mismatch",
                    f"NAS {nas.name} sent {attribute} {claimed!r}, configured {expected!r}",
                )

    def acknowledge_threadsafe(self, keys: list[Key]) -> None:
        """:meth:`acknowledge` for many keys, from any thread: the store's thread calls it once
        their records are committed, and the answers leave from that thread at once (a hop
        to the event loop would cost every answer a wake-up)."""
        for key in keys:
            self.acknowledge(key)

    def acknowledge(self, key: Key) -> int:
        """The record for ``key`` is stored: answer every copy received. Returns how many."""
        with self._lock:
            waiting = self._seen.get(key)
            if not waiting:
                return 0
            self._seen[key] = None  # later copies are answered on arrival
        for data, addr, nas in waiting:
            self._answer(data, addr, nas)
        return len(waiting)

    def _answer(self, data: bytes, addr: _Addr, nas: Nas) -> None:
        response = encode_accounting_response(data, nas.secret)
        with self._lock:  # the store's thread answers too
            self._answered[(nas.address, data)] = _Answered(response, time.monotonic(), nas)
            while len(self._answered) > _ANSWERED:
                self._answered.popitem(last=False)
        self._send(response, addr)

    def _copy(self, answered: _Answered, addr: _Addr, source: str) -> None:
        self.duplicates += 1
        self.quarantine.note_copy(addr)
        nas = answered.nas
        self._copies[nas] = self._copies.get(nas, 0) + 1
        now = time.monotonic()
        elapsed, answered.last = now - answered.last, now
        tokens = min(_COPY_ANSWER_BURST, answered.tokens + elapsed * _COPY_ANSWERS_PER_S)
        if tokens >= 1.0:
            answered.tokens = tokens - 1.0
            self._send(answered.response, addr)
        else:
            answered.tokens = tokens

    def _send(self, response: bytes, addr: _Addr) -> None:
        sock = self._sock  # close() may run on the event loop meanwhile
        if sock is not None:
            try:
                sock.sendto(response, addr)
            except OSError as exc:  # full buffer, unreachable: the NAS will retransmit
                self.unsent += 1
                log.debug("accounting response to %s not sent: %s", addr[0], exc)
