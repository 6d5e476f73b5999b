"""hostapd control-interface client (asyncio, AF_UNIX datagrams).

Two sockets, as wpa_ctrl does: one ATTACHed for unsolicited events, one for request/response.
A keepalive PING on the command socket, and ``LEVEL 3`` on the event socket (hostapd answers it
only for an attached monitor, and detaches a monitor it cannot write to), notice a restarted
hostapd or a detached monitor within a second or two; the client then reconnects,
ATTACHes again and resynchronises its view of the stations with ``STA-FIRST``/``STA-NEXT``. Event
lines are parsed with :mod:`netlmm_aaa.wire.hostapd_events` and handed to callbacks; the reader
never waits on anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netlmm_aaa.core.events import StationEvent
from netlmm_aaa.wire.hostapd_events import (
    HostapdLineError,
    StationInfo,
    parse_hostapd_event,
    parse_sta_info,
)

log = logging.getLogger(__name__)
_COUNTER = itertools.count()


class HostapdUnavailable(Exception):
    """hostapd does not answer on its control socket."""


class _Datagram(asyncio.DatagramProtocol):
    def __init__(self, on_data: Callable[[bytes], None], on_lost: Callable[[], None]) -> None:
        self.on_data = on_data
        self.on_lost = on_lost

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.on_data(data)

    def error_received(self, exc: Exception) -> None:
        self.on_lost()

    def connection_lost(self, exc: Exception | None) -> None:
        self.on_lost()


class HostapdControl:
    """Talks to one hostapd interface (``<ctrl_interface dir>/<ifname>``)."""

    def __init__(
        self,
        path: str,
        *,
        on_event: Callable[[StationEvent], None],
        on_resync: Callable[[list[StationInfo]], None] | None = None,
        on_bad_line: Callable[[str, str], None] | None = None,
        keepalive: float = 0.5,
        timeout: float = 1.0,
        attach: bool = True,
    ) -> None:
        """``attach=False``: commands only (STA, DEAUTHENTICATE, resync); events then come from
        elsewhere (the hostapd_cli action hook)."""
        self.path = path
        self.attach = attach
        self.on_event = on_event
        self.on_resync = on_resync
        self.on_bad_line = on_bad_line
        self.keepalive = keepalive
        self.timeout = timeout
        self._dir = tempfile.mkdtemp(prefix="netlmm-hostapd-")
        self._events: asyncio.DatagramTransport | None = None
        self._command: asyncio.DatagramTransport | None = None
        self._replies: asyncio.Queue[bytes] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self._event_lock = asyncio.Lock()
        """One request at a time on the monitor socket: a reply names no request, so a second
        one sent before the first's reply would take that reply and leave the first none."""
        self._task: asyncio.Task[None] | None = None
        self.attached = asyncio.Event()
        self._started = asyncio.Event()
        self.reattachments = 0
        self.events = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Connect, ATTACH and resynchronise, then keep watching in the background.

        When hostapd is not there yet, keeps trying (every half second) and raises
        :class:`HostapdUnavailable` so the caller can say so; the watcher runs either way.
        """
        self._task = asyncio.create_task(self._watch())
        try:
            await self._connect()
        except HostapdUnavailable:
            self._disconnect()
            raise
        finally:
            self._started.set()  # the watcher takes over only after this first attempt

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._disconnect()
        with contextlib.suppress(OSError):
            for name in os.listdir(self._dir):
                os.unlink(os.path.join(self._dir, name))
            os.rmdir(self._dir)

    def _local(self, role: str) -> str:
        return str(Path(self._dir) / f"{role}-{os.getpid()}-{next(_COUNTER)}")

    async def _open(self, role: str, on_data: Callable[[bytes], None]) -> asyncio.DatagramTransport:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagram(on_data, self._lost),
            local_addr=self._local(role),
            remote_addr=self.path,
            family=socket.AF_UNIX,
        )
        return transport

    async def _connect(self) -> None:
        self._disconnect()
        try:
            self._command = await self._open("cmd", self._replies.put_nowait)
            if self.attach:
                self._events = await self._open("ev", self._event_datagram)
        except OSError as exc:
            self._disconnect()
            raise HostapdUnavailable(f"{self.path}: {exc}") from exc
        if self.attach:
            reply = await self._event_request(b"ATTACH")
            if reply != "OK":
                raise HostapdUnavailable(f"{self.path}: ATTACH answered {reply!r}")
        elif (await self.request("PING")).strip() != "PONG":
            raise HostapdUnavailable(f"{self.path}: no PONG")
        self.attached.set()
        stations = await self.stations()
        if self.on_resync is not None:
            self.on_resync(stations)

    def _disconnect(self) -> None:
        self.attached.clear()
        for transport in (self._events, self._command):
            if transport is not None:
                transport.close()
        self._events = self._command = None
        for name in os.listdir(self._dir) if os.path.isdir(self._dir) else ():
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self._dir, name))

    def _lost(self) -> None:
        self.attached.clear()

    # ------------------------------------------------------------------ events

    def _event_datagram(self, data: bytes) -> None:
        if data.startswith((b"OK", b"FAIL", b"PONG")) and self._pending_event_reply is not None:
            if not self._pending_event_reply.done():
                self._pending_event_reply.set_result(data)
            return
        try:
            event = parse_hostapd_event(data)
        except HostapdLineError as exc:
            if self.on_bad_line is not None:
                self.on_bad_line(data[:200].decode("utf-8", "replace"), str(exc))
            return
        if event is not None:
            self.events += 1
            self.on_event(event)

    _pending_event_reply: asyncio.Future[bytes] | None = None

    async def _event_request(self, command: bytes) -> str:
        async with self._event_lock:
            assert self._events is not None
            future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            self._pending_event_reply = future
            self._events.sendto(command)
            try:
                return (await asyncio.wait_for(future, self.timeout)).decode().strip()
            except TimeoutError as exc:
                raise HostapdUnavailable(f"{self.path}: no answer to {command.decode()}") from exc
            finally:
                self._pending_event_reply = None

    # ------------------------------------------------------------------ requests

    async def request(self, command: str) -> str:
        """Send one command and return hostapd's reply text."""
        async with self._lock:
            if self._command is None:
                raise HostapdUnavailable(f"{self.path}: not connected")
            while not self._replies.empty():
                self._replies.get_nowait()
            self._command.sendto(command.encode())
            try:
                data = await asyncio.wait_for(self._replies.get(), self.timeout)
            except TimeoutError as exc:
                raise HostapdUnavailable(f"{self.path}: no answer to {command!r}") from exc
            return data.decode("utf-8", "replace")

    async def sta(self, mac: str) -> StationInfo | None:
        """What hostapd knows about ``mac`` (None: not a station of this interface)."""
        return parse_sta_info(await self.request(f"STA {mac}"))

    async def stations(self) -> list[StationInfo]:
        """Every station, by STA-FIRST / STA-NEXT (``ALL_STA`` is not a daemon command)."""
        out: list[StationInfo] = []
        info = parse_sta_info(await self.request("STA-FIRST"))
        while info is not None and len(out) < 65536:
            out.append(info)
            info = parse_sta_info(await self.request(f"STA-NEXT {info.mac}"))
        return out

    async def deauthenticate(self, mac: str) -> bool:
        """``DEAUTHENTICATE <mac>``: hostapd drops the station (and sends Accounting-Stop)."""
        return (await self.request(f"DEAUTHENTICATE {mac}")).strip() == "OK"

    # ------------------------------------------------------------------ keepalive

    async def _watch(self) -> None:
        await self._started.wait()
        while True:
            if self.attached.is_set():
                await asyncio.sleep(self.keepalive)
            healthy = self.attached.is_set()
            if healthy:
                try:
                    # hostapd answers PING on any socket; LEVEL only for an attached monitor
                    # (FAIL once it has detached us, e.g. after 10 failed event sends).
                    healthy = (await self.request("PING")).strip() == "PONG" and (
                        not self.attach or (await self._event_request(b"LEVEL 3")) == "OK"
                    )
                except (HostapdUnavailable, OSError):
                    healthy = False
            if healthy:
                continue
            try:
                await self._connect()
                self.reattachments += 1
                log.info("attached to hostapd at %s", self.path)
            except (HostapdUnavailable, OSError) as exc:
                log.debug("hostapd at %s: %s", self.path, exc)
                await asyncio.sleep(min(0.5, self.keepalive))
