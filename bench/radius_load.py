"""A windowed RADIUS accounting load generator: what a busy NAS population sends, without being
the bottleneck itself.

Requests are encoded and signed before the clock starts (:func:`accounting_starts`: the
attributes radclient sends for the bench's file, in its order, Message-Authenticator and Request
Authenticator computed). :func:`run_window` then keeps exactly ``window`` requests outstanding
over ``sockets`` connected UDP sockets: every verified answer sends the next request; nothing
is retransmitted. A request unanswered after ``timeout`` seconds, or whose socket and
Identifier are needed again while it is still out, is counted lost and frees its place in the
window. Answers are verified (code, Identifier, Response Authenticator over the request's
authenticator and the secret); a datagram that matches no outstanding request or fails the
check is counted, never taken as an answer.

The generator's CPU share includes the system time of its sends: on loopback the sending
process carries each datagram through the stack into the server's socket queue, so part of
what it reports is delivery work done for the server (the same for every server measured).
"""

from __future__ import annotations

import hashlib
import select
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass

from netlmm_aaa.wire.radius_accounting import (
    ACCOUNTING_RESPONSE,
    MESSAGE_AUTHENTICATOR,
    encode_accounting_request,
    sign_accounting_request,
)

_IDS = 256


def accounting_starts(count: int, tag: str, secret: bytes, sockets: int) -> list[bytes]:
    """``count`` Accounting-Request Starts of distinct 802.1X sessions (Acct-Session-Id
    ``<tag>-<i:08X>``), request ``i`` signed for socket ``i % sockets`` with Identifier
    ``(i // sockets) % 256``."""
    packets = []
    for i in range(count):
        mac = f"02-00-{i >> 16 & 0xFF:02X}-{i >> 8 & 0xFF:02X}-{i & 0xFF:02X}-01"
        attributes = [
            (40, struct.pack("!I", 1)),  # Acct-Status-Type = Start
            (45, struct.pack("!I", 1)),  # Acct-Authentic = RADIUS
            (1, f"user{i % 5000:05d}@corp.example".encode()),
            (31, mac.encode()),  # Calling-Station-Id
            (30, b"02-AA-00-00-00-01:Corp"),  # Called-Station-Id
            (44, f"{tag}-{i:08X}".encode()),  # Acct-Session-Id
            (55, struct.pack("!I", 1_700_000_000 + i)),  # Event-Timestamp
            (61, struct.pack("!I", 15)),  # NAS-Port-Type = Ethernet
            (4, socket.inet_aton("127.0.0.1")),  # NAS-IP-Address
            (MESSAGE_AUTHENTICATOR, bytes(16)),
        ]
        unsigned = encode_accounting_request(attributes, secret)
        packets.append(sign_accounting_request(unsigned, (i // sockets) % _IDS, secret))
    return packets


@dataclass
class WindowRun:
    """What one run measured."""

    sent: int
    answered: int
    lost: int
    """Unanswered within the timeout (or still out when their Identifier was needed again)."""
    unmatched: int
    """Datagrams that answered nothing outstanding or failed verification."""
    seconds: float
    """First send to last answer (or to the last loss)."""
    cpu_seconds: float
    """The generator's own CPU time over the run."""
    latencies: list[float]
    """Seconds from send to verified answer, one per answered request."""

    @property
    def per_second(self) -> float:
        return self.answered / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_share(self) -> float:
        """Cores the generator kept busy (CPU seconds per second of the run)."""
        return self.cpu_seconds / self.seconds if self.seconds > 0 else 0.0


def run_window(
    address: tuple[str, int],
    packets: list[bytes],
    secret: bytes,
    *,
    window: int,
    sockets: int,
    timeout: float = 2.0,
) -> WindowRun:
    """Send ``packets`` (from :func:`accounting_starts` with the same ``sockets``) to
    ``address`` keeping ``window`` outstanding; see the module docstring."""
    if window > sockets * _IDS:
        raise ValueError(f"a window of {window} needs more than {sockets} sockets' Identifiers")
    socks = []
    for _ in range(sockets):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.connect(address)
        s.setblocking(False)
        socks.append(s)
    poller = select.epoll()
    index_of = {}
    for k, s in enumerate(socks):
        poller.register(s.fileno(), select.EPOLLIN)
        index_of[s.fileno()] = k
    total = len(packets)
    slot_of = [-1] * (sockets * _IDS)  # (socket, Identifier) -> the request out on it
    sent_at = [0.0] * total
    done = bytearray(total)  # 1 answered, 2 lost
    order: deque[int] = deque()  # outstanding requests, oldest first (for the timeout)
    latencies: list[float] = []
    answered = lost = unmatched = 0
    next_request = 0
    md5 = hashlib.md5
    # What each answer's Response Authenticator covers after its header (RFC 2866 §3): the
    # request's authenticator, the answer's attributes (almost always none), the secret. The
    # check below is verify_accounting_response inlined over these precomputed tails: at
    # FreeRADIUS's rates a call and a concatenation more per answer would show in the
    # generator's CPU share.
    covered = [packet[4:20] + secret for packet in packets]
    slots = [(i % sockets) * _IDS + (i // sockets) % _IDS for i in range(total)]

    def send(i: int, now: float) -> int:
        """Send request ``i``; returns how many it made lost (0 or 1)."""
        slot = slots[i]
        previous = slot_of[slot]
        slot_of[slot] = i
        sent_at[i] = now
        order.append(i)
        socks[i % sockets].send(packets[i])
        if previous >= 0 and not done[previous]:
            done[previous] = 2  # its Identifier is needed again: counted lost
            return 1
        return 0

    cpu_began = time.process_time()
    began = last = time.perf_counter()
    while next_request < min(window, total):
        lost += send(next_request, time.perf_counter())
        next_request += 1
    try:
        while answered + lost < total:
            events = poller.poll(0.05)
            now = time.perf_counter()
            for fd, _ in events:
                k = index_of[fd]
                recv = socks[k].recv
                base = k * _IDS
                while True:
                    try:
                        data = recv(4096)
                    except BlockingIOError:
                        break
                    i = slot_of[base + data[1]] if len(data) >= 20 else -1
                    if i < 0 or done[i] or data[0] != ACCOUNTING_RESPONSE:
                        unmatched += 1
                        continue
                    if len(data) == 20:
                        digest = md5(data[:4] + covered[i]).digest()
                    else:
                        attributes = data[20 : (data[2] << 8) | data[3]]
                        digest = md5(data[:4] + covered[i][:16] + attributes + secret).digest()
                    if digest != data[4:20]:
                        unmatched += 1
                        continue
                    done[i] = 1
                    answered += 1
                    latencies.append(now - sent_at[i])
                    last = now
                    if next_request < total:
                        lost += send(next_request, now)
                        next_request += 1
            # Drop the finished from the front; the oldest still out may have timed out.
            while order and (done[order[0]] or now - sent_at[order[0]] > timeout):
                i = order.popleft()
                if not done[i]:
                    done[i] = 2
                    lost += 1
                    last = now
                    if next_request < total:
                        lost += send(next_request, now)
                        next_request += 1
    finally:
        cpu = time.process_time() - cpu_began
        poller.close()
        for sock in socks:
            sock.close()
    return WindowRun(
        sent=next_request,
        answered=answered,
        lost=lost,
        unmatched=unmatched,
        seconds=last - began,
        cpu_seconds=cpu,
        latencies=latencies,
    )
