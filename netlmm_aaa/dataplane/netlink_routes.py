"""Route writes straight on a NETLINK_ROUTE socket: one pre-built message per route, sent in
batches, acknowledged one by one.

pyroute2 spends about a millisecond of Python per route; the kernel needs about ten microseconds.
For bulk work (thousands of bindings, restart reconciliation) this writer builds each RTM_NEWROUTE
or RTM_DELROUTE from fixed templates (only the destination, the endpoint and the sequence number
change), sends up to ~64 KiB of them per ``sendmsg`` and matches the ACKs by sequence number.
Transient ENOMEM (seg6 state is allocated with GFP_ATOMIC and fails under bulk load) is retried
after a short pause; any other error is reported per route. What a route carries toward its
endpoint (a gateway, an encapsulation) comes from the tunnel backend
(:mod:`netlmm_aaa.dataplane.tunnel_backend`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

#: ``rtm_protocol`` of the routes we own (a value no routing daemon in iproute2's rt_protos uses).
ROUTE_PROTOCOL = 213
NETLINK_ROUTE = 0
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_GETROUTE = 26
RTM_NEWRULE = 32
RTM_DELRULE = 33
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_DUMP = 0x300
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_REPLACE = 0x100
NLM_F_CREATE = 0x400
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PREFSRC = 7
RTA_TABLE = 15
RTA_VIA = 18
RTA_ENCAP_TYPE = 21
RTA_ENCAP = 22
RTN_UNICAST = 1
RT_TABLE_MAIN = 254
FRA_SRC = 2
FRA_IIFNAME = 3
FRA_PRIORITY = 6
FRA_FWMARK = 10
FRA_TABLE = 15
FRA_FWMASK = 16
FR_ACT_TO_TBL = 1

_NLMSGHDR = struct.Struct("=IHHII")
_RTMSG = struct.Struct("=BBBBBBBBI")
_FIB_RULE_HDR = struct.Struct("=BBBBBBBBI")
_NLA = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_FLAGS = struct.Struct("=H")
_ENCAP_TYPE = struct.Struct("=H")
_BATCH_BYTES = 60_000
_ACK_BUFFER = 1 << 16
_RETRY_PAUSE = 0.001  # doubled per round, up to _RETRY_PAUSE_MAX: seconds in all
_RETRY_PAUSE_MAX = 0.1
_DUMP_BUFFER = 1 << 20


def nla(kind: int, payload: bytes) -> bytes:
    """A netlink attribute: header, payload, padding to 4 octets."""
    pad = b"\x00" * (-len(payload) % 4)
    return _NLA.pack(4 + len(payload), kind) + payload + pad


def transact(sock: socket.socket, messages: Sequence[bytes], first: int) -> list[int]:
    """Send ``messages`` (sequence numbers ``first``, ``first + 1``, ...) in as few ``send``
    calls as fit, and return each one's errno (0: done).

    Only the last message asks for an ACK: the kernel handles a batch's requests in order and
    answers every failed one whatever its flags, so the failures arrive first and the last ACK
    closes the batch. (A read per route for ACKs of successes cost more than the kernel's work
    for the route.)"""
    count = len(messages)
    if not count:
        return []
    data = bytearray(b"".join(messages))
    pos = 0
    for message in messages[:-1]:
        flags = _FLAGS.unpack_from(data, pos + 6)[0]
        _FLAGS.pack_into(data, pos + 6, flags & ~NLM_F_ACK)
        pos += len(message)
    flags = _FLAGS.unpack_from(data, pos + 6)[0]
    _FLAGS.pack_into(data, pos + 6, flags | NLM_F_ACK)
    # Each datagram ends on a message boundary: the kernel ignores a message cut in two (and
    # with it the ACK that closes the batch).
    view = memoryview(data)
    start = end = 0
    for message in messages:
        if end - start + len(message) > _BATCH_BYTES and end > start:
            sock.send(view[start:end])
            start = end
        end += len(message)
    sock.send(view[start:end])
    errors = [0] * count
    # Each answer is its own datagram of a few dozen bytes (an error's echoes its request): one
    # small buffer serves them all.
    buffer = bytearray(_ACK_BUFFER)
    while True:
        size = sock.recv_into(buffer)
        pos = 0
        while pos + 16 <= size:
            length, kind, _flags, seq, _pid = _NLMSGHDR.unpack_from(buffer, pos)
            if length < 16:
                break
            if kind == NLMSG_ERROR:
                index = seq - first
                if 0 <= index < count:
                    errors[index] = -struct.unpack_from("=i", buffer, pos + 16)[0]
                    if index == count - 1:
                        return errors
            pos += (length + 3) & ~3


SOL_NETLINK = 270
NETLINK_GET_STRICT_CHK = 12


def strict_dumps(sock: socket.socket) -> None:
    """Ask the kernel (4.20+) to honour the table and protocol of our RTM_GETROUTE dump requests,
    so a dump returns only our routes instead of every route of the namespace (a million on a
    busy LMA host). Older kernels ignore the filter; callers filter the replies anyway."""
    with contextlib.suppress(OSError):
        sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)


def route_dump_request(family: int, table: int, protocol: int, seq: int) -> bytes:
    """RTM_GETROUTE dump of ``family`` limited (under :func:`strict_dumps`) to ``table`` and
    ``protocol`` (0: any)."""
    body = _RTMSG.pack(family, 0, 0, 0, table if table < 256 else 0, protocol, 0, 0, 0)
    if table >= 256:
        body += nla(RTA_TABLE, struct.pack("=I", table))
    return _NLMSGHDR.pack(16 + len(body), RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def route_dump(sock: socket.socket, request: bytes, seq: int) -> Iterator[tuple[bytes, int, int]]:
    """Send a dump ``request`` and yield (buffer, start, end) of each RTM_NEWROUTE reply."""
    sock.send(request)
    scratch = bytearray(_DUMP_BUFFER)
    while True:
        # A dump datagram is at most 32 KiB (the kernel caps its recvmsg size hint there).
        size = sock.recv_into(scratch)
        buffer = bytes(memoryview(scratch)[:size])
        pos = 0
        while pos + 16 <= len(buffer):
            length, kind, _flags, msg_seq, _pid = _NLMSGHDR.unpack_from(buffer, pos)
            if length < 16:
                break
            if msg_seq == seq:
                if kind == NLMSG_DONE:
                    return
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", buffer, pos + 16)[0]
                    raise OSError(code, f"route dump failed: {os.strerror(code)}")
                if kind == RTM_NEWROUTE:
                    yield buffer, pos + 16, pos + length
            pos += (length + 3) & ~3


def open_route_socket(netns: str | None) -> socket.socket:
    """A NETLINK_ROUTE socket, in network namespace ``netns`` when given. Its reads time out
    after 30 s (an answer the kernel never sends is an error, not a hung daemon)."""
    if netns is None:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
    else:
        from pyroute2 import netns as pr_netns

        sock = pr_netns.create_socket(netns, socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
    sock.settimeout(30.0)
    return sock


def station_route_message(
    install: bool, destination: str, oif: int, protocol: int, seq: int, prefsrc: str | None = None
) -> bytes:
    """RTM_NEWROUTE (create or replace) / RTM_DELROUTE of ``destination`` on link ``oif`` in the
    main table: a registered station's downlink on its access link."""
    family, address, length = parse_destination(destination)
    body = _RTMSG.pack(family, length, 0, 0, RT_TABLE_MAIN, protocol, 0, RTN_UNICAST, 0)
    attrs = nla(RTA_DST, address) + nla(RTA_OIF, struct.pack("=i", oif))
    if prefsrc is not None:
        attrs += nla(RTA_PREFSRC, socket.inet_pton(family, prefsrc))
    flags = NLM_F_REQUEST | NLM_F_ACK
    if install:
        flags |= NLM_F_REPLACE | NLM_F_CREATE
    payload = body + attrs
    kind = RTM_NEWROUTE if install else RTM_DELROUTE
    return _NLMSGHDR.pack(16 + len(payload), kind, flags, seq, 0) + payload


def source_rule_message(
    install: bool, source: str, iifname: str, table: int, priority: int, seq: int
) -> bytes:
    """RTM_NEWRULE / RTM_DELRULE ``from <source> iif <iifname> lookup <table>`` at
    ``priority`` (adding an existing rule fails with EEXIST, as ``ip rule add`` does)."""
    family, address, length = parse_destination(source)
    matches = nla(FRA_SRC, address) + nla(FRA_IIFNAME, iifname.encode() + b"\x00")
    return _rule_message(install, family, length, matches, table, priority, seq)


def mark_rule_message(
    install: bool, family: int, iifname: str, mark: int, table: int, priority: int, seq: int
) -> bytes:
    """RTM_NEWRULE / RTM_DELRULE ``iif <iifname> fwmark <mark> lookup <table>`` (address
    ``family``) at ``priority`` (adding an existing rule fails with EEXIST)."""
    matches = (
        nla(FRA_IIFNAME, iifname.encode() + b"\x00")
        + nla(FRA_FWMARK, struct.pack("=I", mark))
        + nla(FRA_FWMASK, struct.pack("=I", 0xFFFF_FFFF))
    )
    return _rule_message(install, family, 0, matches, table, priority, seq)


def _rule_message(install: bool, family: int, source_length: int, matches: bytes, table: int,
                  priority: int, seq: int) -> bytes:  # fmt: skip
    """A rule whose selectors are the attributes ``matches``: ``lookup <table>``."""
    body = _FIB_RULE_HDR.pack(family, 0, source_length, 0, table if table < 256 else 252, 0, 0,
                              FR_ACT_TO_TBL, 0)  # fmt: skip
    payload = (body + matches + nla(FRA_PRIORITY, struct.pack("=I", priority))
               + nla(FRA_TABLE, struct.pack("=I", table)))  # fmt: skip
    flags = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_CREATE | 0x200 if install else 0)  # 0x200 EXCL
    kind = RTM_NEWRULE if install else RTM_DELRULE
    return _NLMSGHDR.pack(16 + len(payload), kind, flags, seq, 0) + payload


#: A route request: (RTM_NEWROUTE | RTM_DELROUTE, destination, endpoint octets, table).
_Item = tuple[int, str, bytes | None, int]
_KEY = struct.Struct(">I")


def endpoint_octets(endpoint: str) -> bytes:
    """``ADDRESS`` -> its 16 octets (4 for an IPv4 address, RFC 5844 §4); ``ADDRESS key K`` ->
    those and the key (4, network order), as backends receive a route's endpoint."""
    address, _, key = endpoint.partition(" key ")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    octets = socket.inet_pton(family, address)
    return octets + _KEY.pack(int(key)) if key else octets


def endpoint_text(octets: bytes) -> str:
    """The inverse of :func:`endpoint_octets` ('' for no endpoint). The lengths say which:
    16 or 20 octets an IPv6 address (and a key), 4 or 8 an IPv4 one."""
    if not octets:
        return ""
    size = 16 if len(octets) >= 16 else 4
    address = socket.inet_ntop(socket.AF_INET6 if size == 16 else socket.AF_INET, octets[:size])
    return f"{address} key {_KEY.unpack_from(octets, size)[0]}" if len(octets) > size else address


class RouteEncoding(Protocol):
    """How routes toward an endpoint are written and read back: what the writer needs of a
    tunnel backend (:class:`~netlmm_aaa.dataplane.tunnel_backend.TunnelBackend` is one)."""

    def route_attributes(self, family: int, oif: int, endpoint: bytes) -> bytes: ...

    def route_endpoint(self, encap_type: int, encap: bytes) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class RouteFailure:
    """A route the kernel refused (after ENOMEM retries)."""

    destination: str
    error: int

    def __str__(self) -> str:
        return f"{self.destination}: {os.strerror(self.error)} (errno {self.error})"


def parse_destination(destination: str) -> tuple[int, bytes, int]:
    address, _, length = destination.partition("/")
    if ":" in address:
        return socket.AF_INET6, socket.inet_pton(socket.AF_INET6, address), int(length or 128)
    return socket.AF_INET, socket.inet_pton(socket.AF_INET, address), int(length or 32)


class NetlinkRouteWriter:
    """Installs and deletes unicast routes in one table, tagged with one ``rtm_protocol``, each
    toward an endpoint the way ``tunnel`` carries traffic there."""

    def __init__(self, sock: socket.socket, *, oif: int, table: int, protocol: int,
                 tunnel: RouteEncoding) -> None:  # fmt: skip
        self.sock = sock
        self.oif = oif
        self.table = table
        self.protocol = protocol
        self.tunnel = tunnel
        self._seq = 1
        self.enomem_retries = 0
        self._endpoints: dict[bytes, str] = {}
        # SO_SNDBUFFORCE (32) / SO_RCVBUFFORCE (33) lift the sysctl caps when we are root.
        for force, plain, size in (
            (32, socket.SO_SNDBUF, 4 << 20),
            (33, socket.SO_RCVBUF, 16 << 20),
        ):
            try:
                sock.setsockopt(socket.SOL_SOCKET, force, size)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, plain, size)
        strict_dumps(sock)  # dump() then reads only this table's routes of our protocol
        sock.bind((0, 0))

    @classmethod
    def open(cls, *, netns: str | None, oif: int, table: int, protocol: int,
             tunnel: RouteEncoding) -> NetlinkRouteWriter:  # fmt: skip
        return cls(open_route_socket(netns), oif=oif, table=table, protocol=protocol,
                   tunnel=tunnel)  # fmt: skip

    def close(self) -> None:
        self.sock.close()

    # ---------------------------------------------------------------- message building

    def _message(self, item: _Item, seq: int) -> bytes:
        kind, destination, endpoint, table = item
        family, address, length = parse_destination(destination)
        body = _RTMSG.pack(family, length, 0, 0, table if table < 256 else 252, self.protocol,
                           0, RTN_UNICAST, 0)  # fmt: skip
        attrs = nla(RTA_DST, address)
        if table >= 256:
            attrs += nla(RTA_TABLE, struct.pack("=I", table))
        if kind == RTM_NEWROUTE:
            assert endpoint is not None
            attrs += self.tunnel.route_attributes(family, self.oif, endpoint)
            flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE | NLM_F_CREATE
        else:
            flags = NLM_F_REQUEST | NLM_F_ACK
        payload = body + attrs
        return _NLMSGHDR.pack(16 + len(payload), kind, flags, seq, 0) + payload

    # ---------------------------------------------------------------- public API

    def replace(self, routes: Sequence[tuple[str, str]],
                table: int | None = None) -> list[RouteFailure]:  # fmt: skip
        """Install or replace ``(destination, endpoint)`` routes (endpoint: as
        :func:`~netlmm_aaa.core.actions.tunnel_endpoint` names it), in our table or ``table``.
        Returns the failures."""
        where = self.table if table is None else table
        items: list[_Item] = [(RTM_NEWROUTE, d, endpoint_octets(e), where) for d, e in routes]
        return self._run(items)

    def delete(self, destinations: Sequence[str], table: int | None = None) -> list[RouteFailure]:
        """Delete routes; ones already absent (ESRCH/ENOENT) are not failures."""
        where = self.table if table is None else table
        return self._run([(RTM_DELROUTE, d, None, where) for d in destinations])

    def _run(self, items: list[_Item]) -> list[RouteFailure]:
        failures: list[RouteFailure] = []
        pending = items
        for attempt in range(50):
            retry: list[_Item] = []
            for start in range(0, len(pending), 512):
                chunk = pending[start : start + 512]
                for item, error in zip(chunk, self._send_batch(chunk), strict=True):
                    if error == 0:
                        continue
                    if error == errno.ENOMEM:
                        retry.append(item)
                    elif item[0] == RTM_DELROUTE and error in (errno.ESRCH, errno.ENOENT):
                        continue
                    else:
                        failures.append(RouteFailure(item[1], error))
            if not retry:
                return failures
            self.enomem_retries += len(retry)
            pending = retry
            time.sleep(min(_RETRY_PAUSE * (1 << attempt), _RETRY_PAUSE_MAX))
        failures.extend(RouteFailure(item[1], errno.ENOMEM) for item in pending)
        return failures

    def _send_batch(self, chunk: list[_Item]) -> list[int]:
        first = self._seq
        messages = [self._message(item, first + offset) for offset, item in enumerate(chunk)]
        self._seq = (first + len(chunk)) & 0x7FFF_FFFF or 1
        return transact(self.sock, messages, first)

    def dump(self) -> dict[str, str]:
        """Our routes (this table and protocol) in both families: destination -> endpoint.

        Parses the kernel's RTM_GETROUTE dump directly; pyroute2 needs a second or more per
        ten thousand routes to do the same.
        """
        routes: dict[str, str] = {}
        for family in (socket.AF_INET6, socket.AF_INET):
            seq = self._seq
            self._seq = (seq + 1) & 0x7FFF_FFFF or 1
            request = route_dump_request(family, self.table, self.protocol, seq)
            for buffer, start, end in route_dump(self.sock, request, seq):
                entry = self._parse_route(buffer, start, end)
                if entry is not None:
                    routes[entry[0]] = entry[1]
        return routes

    def _parse_route(self, buf: bytes, start: int, end: int) -> tuple[str, str] | None:
        # A restart parses a million of these: attributes are sliced only when needed, and the
        # few distinct endpoints (one per MAG) are formatted once.
        family, dst_len, _s, _t, table, protocol, _sc, _ty, _f = _RTMSG.unpack_from(buf, start)
        if protocol != self.protocol:
            return None
        pos = start + _RTMSG.size
        dst = b""
        endpoint = b""
        encap_type = -1
        encap = b""
        unpack = _NLA.unpack_from
        while pos + 4 <= end:
            nla_len, nla_type = unpack(buf, pos)
            if nla_len < 4:
                break
            kind = nla_type & 0x3FFF
            if kind == RTA_DST:
                dst = buf[pos + 4 : pos + nla_len]
            elif kind == RTA_ENCAP_TYPE:
                encap_type = _ENCAP_TYPE.unpack_from(buf, pos + 4)[0]
            elif kind == RTA_ENCAP:  # the kernel puts it before its RTA_ENCAP_TYPE
                encap = buf[pos + 4 : pos + nla_len]
            elif kind == RTA_TABLE:
                table = _U32.unpack_from(buf, pos + 4)[0]
            elif kind == RTA_GATEWAY and nla_len in (8, 20):
                endpoint = buf[pos + 4 : pos + nla_len]
            elif kind == RTA_VIA and nla_len >= 22:
                endpoint = buf[pos + 6 : pos + 22]
            pos += (nla_len + 3) & ~3
        if table != self.table:
            return None
        if encap:
            endpoint = self.tunnel.route_endpoint(encap_type, encap) or b""
        target = self._endpoints.get(endpoint)
        if target is None:
            target = endpoint_text(endpoint)
            if len(self._endpoints) < 4096:
                self._endpoints[endpoint] = target
        address = socket.inet_ntop(
            family, dst.ljust(16 if family == socket.AF_INET6 else 4, b"\x00")
        )
        return f"{address}/{dst_len}", target
