"""The MAG's end of ``hostapd_hooks/netlmm-hostapd-action``: a Unix datagram socket that takes
hostapd events in the ``hostapd_cli -a`` form (``IFACE EVENT MAC ...``).

An event from here is only a trigger: the MAG still confirms the station with ``STA <mac>`` on
hostapd's control interface before anything is registered, so a forged datagram moves nothing.
The socket is created mode 0660 (owner and group: who may run the hook).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netlmm_aaa.core.events import StationEvent
from netlmm_aaa.wire.hostapd_events import HostapdLineError, parse_hostapd_event

MAX_DATAGRAM = 1024


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: HookSocket) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.owner.datagram(data)


class HookSocket:
    """Receives hook datagrams; ``deliver(interface, event)`` for events of configured
    interfaces, ``rejected(line, reason)`` for everything else."""

    def __init__(
        self,
        path: str,
        interfaces: set[str],
        *,
        deliver: Callable[[str, StationEvent], None],
        rejected: Callable[[str, str], None],
    ) -> None:
        self.path = path
        self.interfaces = interfaces
        self.deliver = deliver
        self.rejected = rejected
        self._transport: asyncio.DatagramTransport | None = None
        self.received = 0

    async def start(self) -> None:
        path = Path(self.path)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # a stale socket of a previous run
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        old = os.umask(0o117)
        try:
            sock.bind(self.path)
        finally:
            os.umask(old)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def datagram(self, data: bytes) -> None:
        self.received += 1
        shown = data[:200].decode("utf-8", "replace")
        if len(data) > MAX_DATAGRAM:
            self.rejected(shown, f"datagram of {len(data)} octets (limit {MAX_DATAGRAM})")
            return
        try:
            event = parse_hostapd_event(data)
        except HostapdLineError as exc:
            self.rejected(shown, str(exc))
            return
        if event is None:
            return  # an event the MAG does not use
        if event.interface is None or event.interface not in self.interfaces:
            self.rejected(shown, f"interface {event.interface!r} is not a hook interface")
            return
        self.deliver(event.interface, event)
