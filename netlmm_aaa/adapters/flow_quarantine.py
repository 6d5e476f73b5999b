"""Moves a flood of copies out of a UDP listener's receive queue, by flow.

A flood of one replayed datagram arrives from one (address, port). Read from the listener's own
socket, it fills the kernel's receive queue, and the kernel then drops whatever else arrives,
a NAS's new valid request included, however cheaply the copies are answered. So once one flow
has sent more than ``threshold`` copies of answered datagrams within a second, a second socket
is bound to the listener's address and port and *connected* to that flow: the kernel delivers
a datagram to the most specific matching socket, so from then on the flow lands in its own
small queue, and only its own datagrams are dropped when it overflows. That queue is still
read (a legitimate sender that happens to share the flow is still served, at the flood's
expense), and a flow quiet for ``idle`` seconds is released. At most ``limit`` flows are held.

The listener's socket needs SO_REUSEADDR for this (both sockets share the port); it still
refuses a second listener (see :func:`bind_exclusive`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable

_Addr = tuple[str, int]
_SockAddr = tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes]
"""An address as getaddrinfo and getsockname give it."""

_QUEUE = 64 << 10
"""Receive buffer of a quarantined flow's socket: its overflow is dropped by the kernel."""
_READ_BURST = 64


def bind_exclusive(sock: socket.socket, address: _SockAddr) -> None:
    """Bind ``sock`` with SO_REUSEADDR (for quarantine sockets), after checking that no other
    socket holds the address: a second listener on the port must fail, not share it."""
    probe = socket.socket(sock.family, socket.SOCK_DGRAM)
    try:
        probe.bind(address)  # EADDRINUSE: another listener (this one would share its port)
    finally:
        probe.close()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)


class FlowQuarantine:
    """See the module docstring. ``datagram(data, addr)`` handles what a quarantined flow
    sends, as the listener handles its own."""

    def __init__(
        self,
        datagram: Callable[[bytes, _Addr], None],
        *,
        threshold: int = 2000,
        idle: float = 10.0,
        limit: int = 16,
        read_size: int = 4097,
    ) -> None:
        self._datagram = datagram
        self.threshold = threshold
        self.idle = idle
        self.limit = limit
        self._read_size = read_size
        self._counts: dict[_Addr, int] = {}
        self._window = 0.0
        # flow -> (its socket, monotonic time of its last datagram)
        self._held: dict[_Addr, tuple[socket.socket, list[float]]] = {}
        self._local: tuple[int, _SockAddr] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.isolated = 0
        """Flows moved to a socket of their own (since start)."""

    def start(self, listener: socket.socket) -> None:
        self._local = (listener.family, listener.getsockname())
        self._loop = asyncio.get_running_loop()

    def note_copy(self, addr: _Addr) -> None:
        """A copy of an answered datagram came from ``addr`` (on the listener's socket)."""
        now = time.monotonic()
        if now - self._window >= 1.0:
            self._window = now
            self._counts.clear()
            self._release_idle(now)
        count = self._counts.get(addr, 0) + 1
        self._counts[addr] = count
        if count == self.threshold and addr not in self._held and len(self._held) < self.limit:
            self._isolate(addr, now)

    def _isolate(self, addr: _Addr, now: float) -> None:
        if self._local is None or self._loop is None:
            return
        family, local = self._local
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _QUEUE)
            sock.bind(local)
            sock.connect(addr)
        except OSError:
            sock.close()
            return
        last = [now]
        self._held[addr] = (sock, last)
        self._loop.add_reader(sock.fileno(), self._readable, sock, addr, last)
        self.isolated += 1

    def _readable(self, sock: socket.socket, addr: _Addr, last: list[float]) -> None:
        last[0] = time.monotonic()
        for _ in range(_READ_BURST):
            try:
                data = sock.recv(self._read_size)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error reported on the connected socket
                return
            self._datagram(data, addr)

    def _release_idle(self, now: float) -> None:
        for addr, (sock, last) in list(self._held.items()):
            if now - last[0] > self.idle:
                self._drop(addr, sock)

    def _drop(self, addr: _Addr, sock: socket.socket) -> None:
        del self._held[addr]
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(sock.fileno())
        sock.close()

    @property
    def held(self) -> int:
        return len(self._held)

    def close(self) -> None:
        for addr, (sock, _) in list(self._held.items()):
            with contextlib.suppress(OSError):
                self._drop(addr, sock)
