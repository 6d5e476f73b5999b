"""The accounting bench's load generator (bench/radius_load.py) counts only verified answers:
its requests decode with the secret, a server answering with another secret gets nothing
counted as answered, and a server that drops requests makes them lost, not answered."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bench.radius_load import accounting_starts, run_window
from netlmm_aaa.wire.radius_accounting import decode_accounting_request, encode_accounting_response

SECRET = b"load-secret"


@contextmanager
def _server(answer: Callable[[bytes], bytes | None]) -> Iterator[tuple[str, int]]:
    """A UDP server on loopback sending ``answer(request)`` back (None: no answer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, source = sock.recvfrom(4096)
            except TimeoutError:
                continue
            reply = answer(data)
            if reply is not None:
                sock.sendto(reply, source)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()
    finally:
        stop.set()
        thread.join(5)
        sock.close()


def test_requests_decode_and_signed_answers_are_counted() -> None:
    packets = accounting_starts(300, "T", SECRET, sockets=4)
    decoded = [decode_accounting_request(p, SECRET) for p in packets]
    assert len({r.session_id for r in decoded}) == 300
    assert [p[1] for p in packets[:9]] == [0, 0, 0, 0, 1, 1, 1, 1, 2]  # per-socket Identifiers
    with _server(lambda data: encode_accounting_response(data, SECRET)) as address:
        run = run_window(address, packets, SECRET, window=16, sockets=4)
    assert (run.answered, run.lost, run.unmatched) == (300, 0, 0)
    assert len(run.latencies) == 300 and run.per_second > 0


def test_answers_with_another_secret_or_none_are_not_counted() -> None:
    packets = accounting_starts(40, "F", SECRET, sockets=2)
    with _server(lambda data: encode_accounting_response(data, b"other")) as address:
        forged = run_window(address, packets, SECRET, window=8, sockets=2, timeout=0.2)
    assert (forged.answered, forged.lost, forged.unmatched) == (0, 40, 40)
    every_other = iter(range(10**6))
    with _server(
        lambda data: encode_accounting_response(data, SECRET) if next(every_other) % 2 else None
    ) as address:
        half = run_window(address, packets, SECRET, window=8, sockets=2, timeout=0.2)
    assert (half.answered, half.lost) == (20, 20)
