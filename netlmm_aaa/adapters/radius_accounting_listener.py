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
  i.e. after the record is durably stored (RFC 2866 §2). The socket is bound without
  SO_REUSEPORT, so a second listener on the same port fails loudly.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from netlmm_aaa.wire.radius_accounting import (
    AccountingRequest,
    RadiusError,
    decode_accounting_request,
    encode_accounting_response,
)

log = logging.getLogger(__name__)

_Key = tuple[str, str | None, int, int | None]
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


@dataclass(frozen=True, slots=True)
class AccountingReceived:
    """A new (not duplicate) verified accounting record, to be stored then acknowledged."""

    nas: Nas
    request: AccountingRequest
    key: _Key
    data: bytes = b""
    """The datagram as received (for forwarding upstream)."""


def _source(addr: _Addr) -> str:
    """The source address, an IPv4 NAS seen on a dual-stack socket (``::ffff:a.b.c.d``) as
    IPv4."""
    source = addr[0]
    return source[7:] if source.startswith("::ffff:") and "." in source else source


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: AccountingListener) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: _Addr) -> None:
        self.owner.datagram(data, addr)


class AccountingListener:
    """See the module docstring."""

    def __init__(
        self,
        nases: list[Nas],
        *,
        deliver: Callable[[AccountingReceived], None],
        rejected: Callable[[str, str, str], None],
        duplicate: Callable[[Nas, AccountingRequest], None] | None = None,
        remember: int = 65536,
    ) -> None:
        self._nases = {n.address: n for n in nases}
        self._others = {n.name: [o for o in nases if o.name != n.name] for n in nases}
        self._deliver = deliver
        self._rejected = rejected  # (source, reason, detail)
        self._duplicate = duplicate  # a retransmission of a record already taken
        self._transport: asyncio.DatagramTransport | None = None
        # key -> list of (datagram, addr) waiting for the acknowledgement; None once acked.
        self._seen: OrderedDict[_Key, list[tuple[bytes, _Addr]] | None] = OrderedDict()
        self._remember = remember
        self.duplicates = 0
        self.dropped = 0

    async def start(self, host: str, port: int = 1813) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(host, port), reuse_port=False
        )
        self._transport = transport
        address: tuple[str, int] = transport.get_extra_info("sockname")[:2]
        return address

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def datagram(self, data: bytes, addr: _Addr) -> None:
        source = _source(addr)
        nas = self._nases.get(source)
        if nas is None:
            self.dropped += 1
            self._rejected(source, "unknown_nas", f"{len(data)} octets from an unknown source")
            return
        try:
            request = decode_accounting_request(data, nas.secret)
            self._check_identity(nas, request)
        except RadiusError as exc:
            self.dropped += 1
            self._rejected(source, exc.reason, str(exc))
            return
        key = request.idempotency_key(nas.name)
        if key in self._seen:
            self.duplicates += 1
            if self._duplicate is not None:
                self._duplicate(nas, request)
            waiting = self._seen[key]
            if waiting is None:
                self._answer(data, addr, nas)  # already stored: answer this copy now
            else:
                waiting.append((data, addr))
            return
        self._seen[key] = [(data, addr)]
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        self._deliver(AccountingReceived(nas=nas, request=request, key=key, data=data))

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

    def acknowledge(self, key: _Key) -> int:
        """The record for ``key`` is stored: answer every copy received. Returns how many."""
        waiting = self._seen.get(key)
        if not waiting:
            return 0
        nas = self._nases[_source(waiting[0][1])]
        for data, addr in waiting:
            self._answer(data, addr, nas)
        self._seen[key] = None
        return len(waiting)

    def _answer(self, data: bytes, addr: _Addr, nas: Nas) -> None:
        if self._transport is not None:
            self._transport.sendto(encode_accounting_response(data, nas.secret), addr)
