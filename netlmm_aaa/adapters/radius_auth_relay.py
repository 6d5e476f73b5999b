"""The MAG's transparent RADIUS authentication relay (asyncio): hostapd's ``auth_server_addr``
points at the MAG, which passes every Access-Request on to the AAA server and every answer back,
re-signed per hop (:mod:`netlmm_aaa.wire.radius_auth`), and keeps the RFC 6572 mobility profile
of each Access-Accept by the station's MAC (Calling-Station-Id). TLS-resumed sessions are relayed
the same way; their Accept carries whatever the server restores (see deploy/freeradius).

A request from an unknown address or with a bad Message-Authenticator is dropped and reported;
an answer that does not verify with the server's secret is dropped (the NAS retransmits).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netlmm_aaa.wire.radius_accounting import RadiusError
from netlmm_aaa.wire.radius_auth import (
    ACCESS_ACCEPT,
    MobilityProfile,
    calling_station_id,
    check_access_request,
    check_access_response,
    forward_access_request,
    forward_access_response,
    mobility_profile,
)

log = logging.getLogger("netlmm_aaa.radius_relay")

ProfileSeen = Callable[[str, MobilityProfile, str], None]
"""(station MAC, profile, NAS address) for every relayed Access-Accept."""
Rejected = Callable[[str, str, str], None]
"""(source, reason, detail) for every dropped datagram."""


@dataclass(slots=True)
class _Pending:
    nas: tuple[str, int]
    nas_secret: bytes
    nas_request: bytes
    server_request: bytes
    mac: str | None
    sent: float


class _NasSide(asyncio.DatagramProtocol):
    def __init__(self, relay: RadiusAuthRelay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.relay._from_nas(data, (str(addr[0]), int(addr[1])))


class _ServerSide(asyncio.DatagramProtocol):
    def __init__(self, relay: RadiusAuthRelay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.relay._from_server(data, (str(addr[0]), int(addr[1])))


def _plain(address: str) -> str:
    return address[7:] if address.startswith("::ffff:") else address


class RadiusAuthRelay:
    """NAS secrets by source address (the MAG's ``[[mag.nas]]``), one AAA server upstream."""

    def __init__(
        self,
        *,
        nas_secrets: dict[str, bytes],
        server: tuple[str, int],
        server_secret: bytes,
        profile_seen: ProfileSeen,
        rejected: Rejected | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.nas_secrets = {_plain(a): s for a, s in nas_secrets.items()}
        self.server = server
        self.server_secret = server_secret
        self.profile_seen = profile_seen
        self.rejected = rejected
        self.timeout = timeout
        self.relayed = 0
        self._pending: dict[int, _Pending] = {}
        self._by_nas_request: dict[tuple[tuple[str, int], int, bytes], int] = {}
        self._next_id = 0
        self._nas_transport: asyncio.DatagramTransport | None = None
        self._server_transport: asyncio.DatagramTransport | None = None

    def set_secrets(self, nas_secrets: dict[str, bytes], server_secret: bytes) -> None:
        """A reload: these NAS secrets and this server secret from now on. A request in flight
        is answered to its NAS with the secret it came with; an answer to it signed with the old
        server secret is dropped and the NAS retransmits."""
        self.nas_secrets = {_plain(a): s for a, s in nas_secrets.items()}
        self.server_secret = server_secret

    async def start(self, listen: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._nas_transport, _ = await loop.create_datagram_endpoint(
            lambda: _NasSide(self), local_addr=(listen, port)
        )
        self._server_transport, _ = await loop.create_datagram_endpoint(
            lambda: _ServerSide(self), remote_addr=self.server
        )

    @property
    def port(self) -> int:
        assert self._nas_transport is not None
        return int(self._nas_transport.get_extra_info("sockname")[1])

    def close(self) -> None:
        for transport in (self._nas_transport, self._server_transport):
            if transport is not None:
                transport.close()

    def _reject(self, source: str, reason: str, detail: str) -> None:
        log.debug("radius relay dropped a datagram from %s: %s (%s)", source, reason, detail)
        if self.rejected is not None:
            self.rejected(source, reason, detail)

    def _expire(self, now: float) -> None:
        for ident in [i for i, p in self._pending.items() if now - p.sent > self.timeout]:
            pending = self._pending.pop(ident)
            key = (pending.nas, pending.nas_request[1], pending.nas_request[4:20])
            self._by_nas_request.pop(key, None)

    def _from_nas(self, data: bytes, addr: tuple[str, int]) -> None:
        source = _plain(addr[0])
        secret = self.nas_secrets.get(source)
        if secret is None:
            self._reject(source, "unknown_nas", "source address is not a configured NAS")
            return
        try:
            request = check_access_request(data, secret)
            mac = calling_station_id(request)
        except RadiusError as exc:
            self._reject(source, exc.reason, str(exc))
            return
        now = time.monotonic()
        self._expire(now)
        key = (addr, request[1], request[4:20])
        ident = self._by_nas_request.get(key)
        if ident is not None:  # the NAS retransmitted: send the same request again
            pending = self._pending[ident]
        else:
            if len(self._pending) >= 256:
                self._reject(source, "relay_busy", "256 requests outstanding at the server")
                return
            while self._next_id in self._pending:
                self._next_id = (self._next_id + 1) & 0xFF
            ident = self._next_id
            self._next_id = (self._next_id + 1) & 0xFF
            upstream = forward_access_request(
                request, secret, ident, os.urandom(16), self.server_secret
            )
            pending = _Pending(addr, secret, request, upstream, mac, now)
            self._pending[ident] = pending
            self._by_nas_request[key] = ident
        assert self._server_transport is not None
        self._server_transport.sendto(pending.server_request)

    def _from_server(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 20:
            self._reject(_plain(addr[0]), "too_short", f"{len(data)} octets from the server")
            return
        pending = self._pending.get(data[1])
        if pending is None:
            self._reject(_plain(addr[0]), "unmatched_identifier", f"Identifier {data[1]}")
            return
        try:
            answer = check_access_response(data, pending.server_request, self.server_secret)
            reply = forward_access_response(
                answer, pending.server_request, self.server_secret, pending.nas_request,
                pending.nas_secret,
            )  # fmt: skip
            profile = mobility_profile(answer) if answer[0] == ACCESS_ACCEPT else None
        except RadiusError as exc:
            self._reject(_plain(addr[0]), exc.reason, str(exc))
            return
        del self._pending[data[1]]
        key = (pending.nas, pending.nas_request[1], pending.nas_request[4:20])
        self._by_nas_request.pop(key, None)
        assert self._nas_transport is not None
        self._nas_transport.sendto(reply, pending.nas)
        self.relayed += 1
        if profile is not None and pending.mac is not None:
            self.profile_seen(pending.mac, profile, _plain(pending.nas[0]))
