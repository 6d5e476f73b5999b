"""The accounting listener on loopback, with FreeRADIUS's radclient as the NAS."""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
from collections.abc import Callable

import pytest

from netlmm_aaa.adapters.radius_accounting_listener import (
    AccountingListener,
    AccountingReceived,
    Nas,
)
from netlmm_aaa.wire.radius_accounting import verify_accounting_response
from tests.unit.wire.test_radius_accounting import START, _u32, build

pytestmark = pytest.mark.integration


async def _exchange(port: int, datagram: bytes, wait: float = 0.5) -> bytes | None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect(("127.0.0.1", port))
        sock.send(datagram)
        try:
            return await asyncio.wait_for(loop.sock_recv(sock, 4096), wait)
        except TimeoutError:
            return None


def test_ack_only_after_acknowledge_and_retransmissions_count_once() -> None:
    async def run() -> None:
        received: list[AccountingReceived] = []
        rejected: list[tuple[str, str, str]] = []
        listener = AccountingListener(
            [Nas("mag1", "127.0.0.1", b"s3cret")], deliver=received.append,
            rejected=lambda *r: rejected.append(r),
        )  # fmt: skip
        _, port = await listener.start("127.0.0.1", 0)
        try:
            first = build(START, ident=1)
            # Not stored yet: no answer.
            assert await _exchange(port, first, wait=0.3) is None
            assert len(received) == 1
            # A retransmission with a new Identifier (hostapd style) is the same record.
            retransmit = build(START, ident=2)
            assert await _exchange(port, retransmit, wait=0.3) is None
            assert len(received) == 1
            assert listener.duplicates == 1
            assert listener.acknowledge(received[0].key) == 2
            # Later copies of a stored record are answered at once, and still not delivered.
            answer = await _exchange(port, build(START, ident=3))
            assert answer is not None
            assert answer[0] == 5  # Accounting-Response
            assert len(received) == 1
            # Forged (wrong secret) and unknown-source datagrams are dropped and reported.
            assert await _exchange(port, build(START, secret=b"guess"), wait=0.3) is None
            listener.datagram(build(START), ("192.0.2.99", 1813))
            assert [r[1] for r in rejected] == ["bad_authenticator", "unknown_nas"]
        finally:
            listener.close()

    asyncio.run(run())


def test_answers_leave_from_the_committing_thread() -> None:
    # The store's thread acknowledges a committed batch and the answers leave from it, the
    # event loop busy elsewhere; a copy that arrived before the commit is answered with it.
    async def run() -> None:
        received: list[AccountingReceived] = []
        listener = AccountingListener(
            [Nas("mag1", "127.0.0.1", b"s3cret")], deliver=received.append,
            rejected=lambda *r: None,
        )  # fmt: skip
        _, port = await listener.start("127.0.0.1", 0)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as nas:
                nas.setblocking(False)
                nas.connect(("127.0.0.1", port))
                nas.send(build(START, ident=1))
                nas.send(build(START, ident=2))  # a retransmission before the commit
                await asyncio.sleep(0.2)
                assert len(received) == 1
                assert listener.duplicates == 1
                store_thread = threading.Thread(
                    target=listener.acknowledge_threadsafe, args=([received[0].key],)
                )
                store_thread.start()
                store_thread.join()
                time.sleep(0.05)  # the loop stays blocked: only that thread could answer
                answers = [nas.recv(4096), nas.recv(4096)]
            assert sorted(a[1] for a in answers) == [1, 2]
            assert all(a[0] == 5 for a in answers)  # Accounting-Response
            assert listener.acknowledge(received[0].key) == 0  # answered once
        finally:
            listener.close()

    asyncio.run(run())


def test_second_listener_on_the_same_port_fails() -> None:
    async def run() -> None:
        one = AccountingListener([], deliver=lambda r: None, rejected=lambda *r: None)
        _, port = await one.start("127.0.0.1", 0)
        two = AccountingListener([], deliver=lambda r: None, rejected=lambda *r: None)
        try:
            with pytest.raises(OSError, match="in use"):
                await two.start("127.0.0.1", port)
        finally:
            one.close()
            two.close()

    asyncio.run(run())


def test_radclient_gets_its_response_after_acknowledge() -> None:
    radclient = shutil.which("radclient")
    if radclient is None:
        pytest.skip("radclient not installed (Debian freeradius-utils; .ci/run installs it)")

    async def run() -> None:
        listener: AccountingListener

        def deliver(record: AccountingReceived) -> None:
            # Pretend the store committed 50 ms later.
            asyncio.get_running_loop().call_later(0.05, listener.acknowledge, record.key)

        listener = AccountingListener([Nas("mag1", "127.0.0.1", b"s3cret")], deliver=deliver,
                                      rejected=lambda *r: None)  # fmt: skip
        _, port = await listener.start("127.0.0.1", 0)
        try:
            proc = await asyncio.create_subprocess_exec(
                radclient, "-c", "1", "-r", "2", "-t", "2", f"127.0.0.1:{port}", "acct", "s3cret",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(proc.communicate(
                b'Acct-Status-Type = Start\nAcct-Session-Id = "ABC"\nUser-Name = "mn1@example.org"\n'
                b"Event-Timestamp = 1700000000\n"), 20)  # fmt: skip
            assert proc.returncode == 0, err.decode()
            assert b"Received Accounting-Response" in out
        finally:
            listener.close()

    asyncio.run(run())


@pytest.mark.hardening
def test_a_nas_speaks_only_for_itself() -> None:
    """R3 (and R2's ::ffff: form): a NAS with a valid secret claiming another NAS's
    NAS-Identifier or NAS-IP-Address is rejected, and the reason names both NASes."""
    rejected: list[tuple[str, str, str]] = []
    received: list[AccountingReceived] = []
    listener = AccountingListener(
        [Nas("ap1", "127.0.0.1", b"s3cret", identifier="ap1.example"),
         Nas("ap2", "127.0.0.2", b"other", identifier="ap2.example", ip_address="10.88.0.12")],
        deliver=received.append, rejected=lambda *r: rejected.append(r),
    )  # fmt: skip

    def start(*extra: tuple[int, bytes]) -> bytes:
        base = [a for a in START if a[0] not in (4, 32)]
        return build([*base, *extra])

    listener.datagram(start((32, b"ap2.example")), ("127.0.0.1", 40000))
    listener.datagram(start((32, b"ap2")), ("127.0.0.1", 40000))  # ap2's name
    listener.datagram(start((4, bytes([10, 88, 0, 12]))), ("127.0.0.1", 40000))
    listener.datagram(start((32, b"ap9.example")), ("127.0.0.1", 40000))  # not its own
    assert [r[1] for r in rejected] == ["nas_identity_mismatch"] * 4
    assert "NAS ap1 claims to be NAS ap2" in rejected[0][2]
    assert "configured 'ap1.example'" in rejected[3][2]
    assert received == []
    # Its own identity, also when seen as an IPv4-mapped source on a dual-stack socket.
    listener.datagram(start((32, b"ap1.example")), ("::ffff:127.0.0.1", 40000))
    assert len(received) == 1 and received[0].nas.name == "ap1"
    listener.datagram(start((32, b"ap1.example")), ("::ffff:192.0.2.1", 40000))
    assert rejected[-1][:2] == ("192.0.2.1", "unknown_nas")
    assert listener.acknowledge(received[0].key) == 1  # the mapped source is answered too


@pytest.mark.hardening
def test_a_flood_from_one_nas_address_is_rate_limited_and_spares_the_others() -> None:
    """Issue 22 (4): 2,000 forged datagrams from NAS A's address at once: A's token bucket
    (rate 100/s, burst 200) lets about 200 reach the decoder, the rest are dropped and counted
    as rate_limited; a valid request from NAS B is delivered meanwhile."""

    async def run() -> None:
        received: list[AccountingReceived] = []
        rejected: list[tuple[str, str, str]] = []
        listener = AccountingListener(
            [Nas("a", "127.0.0.1", b"s3cret", rate=100.0), Nas("b", "127.0.0.2", b"other")],
            deliver=received.append, rejected=lambda *r: rejected.append(r),
        )  # fmt: skip
        _, port = await listener.start("127.0.0.1", 0)
        try:
            forged = build(START, secret=b"guessed")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.1", 0))
                for _ in range(2000):
                    sock.sendto(forged, ("127.0.0.1", port))
            valid_b = build(START, secret=b"other")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.2", 0))
                sock.sendto(valid_b, ("127.0.0.1", port))
            deadline = time.monotonic() + 5
            while (not received or len(rejected) < 2000) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        finally:
            listener.close()
        reasons = [r[1] for r in rejected]
        assert [r.nas.name for r in received] == ["b"]
        assert 150 <= reasons.count("bad_authenticator") <= 260  # the burst, plus refill
        assert reasons.count("rate_limited") >= 1700
        assert reasons.count("rate_limited") + reasons.count("bad_authenticator") == 2000

    asyncio.run(run())


@pytest.mark.hardening
def test_a_flooding_flow_is_moved_to_its_own_socket_and_others_reach_the_listener() -> None:
    """Issue 22 (4): copies of an answered datagram from one flow beyond the threshold: that
    flow gets a socket of its own (the kernel drops its overflow there); the copies it still
    sends are counted; another flow's new request reaches the listener; the quarantine goes
    when the flow is quiet."""

    async def run() -> None:
        received: list[AccountingReceived] = []
        listener = AccountingListener(
            [Nas("mag1", "127.0.0.1", b"s3cret")], deliver=received.append,
            rejected=lambda *r: None,
        )  # fmt: skip
        listener.quarantine.threshold, listener.quarantine.idle = 200, 0.5
        _, port = await listener.start("127.0.0.1", 0)
        flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            captured = build(START, ident=1)
            flood.connect(("127.0.0.1", port))
            flood.send(captured)
            await asyncio.sleep(0.05)
            listener.acknowledge(received[0].key)
            flood.setblocking(False)
            for _ in range(400):
                flood.send(captured)
                await asyncio.sleep(0)
            await asyncio.sleep(0.1)
            assert (listener.quarantine.isolated, listener.quarantine.held) == (1, 1)
            before = listener.duplicates
            for _ in range(50):  # now read from the flow's own socket, still counted
                flood.send(captured)
            await asyncio.sleep(0.1)
            assert listener.duplicates >= before + 50
            other = build([*START[:2], (44, b"OTHER-SESSION"), *START[3:]], ident=2)
            assert await _exchange(port, other, wait=0.3) is None  # delivered, not yet stored
            assert len(received) == 2
            await asyncio.sleep(1.1)
            listener.datagram(captured, ("127.0.0.1", 9))  # a copy from elsewhere: a new window
            assert listener.quarantine.held == 0
        finally:
            flood.close()
            listener.close()

    asyncio.run(run())


async def _until(condition: Callable[[], bool], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def test_set_nases_takes_a_new_secret_and_forgets_a_removed_nas() -> None:
    """A reload: the new secret verifies from then on, the old one no longer, and a record
    taken before the change is answered with the secret it came with."""

    async def run() -> None:
        received: list[AccountingReceived] = []
        rejected: list[tuple[str, str, str]] = []
        listener = AccountingListener(
            [Nas("mag1", "127.0.0.1", b"s3cret")], deliver=received.append,
            rejected=lambda *r: rejected.append(r),
        )  # fmt: skip
        _, port = await listener.start("127.0.0.1", 0)
        loop = asyncio.get_running_loop()
        nas = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        nas.setblocking(False)
        nas.connect(("127.0.0.1", port))
        try:
            first = build(START, ident=1)
            nas.send(first)
            assert await _until(lambda: len(received) == 1)  # taken, not stored yet
            listener.set_nases([Nas("mag1", "127.0.0.1", b"n3w")])
            assert listener.acknowledge(received[0].key) == 1
            answer = await asyncio.wait_for(loop.sock_recv(nas, 4096), 2)
            assert verify_accounting_response(answer, first, b"s3cret")  # the secret it came with
            # From now on the old secret does not verify, the new one does.
            interim = [(40, _u32(3)), *START[1:]]
            assert await _exchange(port, build(interim, ident=2), wait=0.3) is None
            assert rejected[-1][1] == "bad_authenticator", rejected
            second = build(interim, secret=b"n3w", ident=3)
            nas.send(second)
            assert await _until(lambda: len(received) == 2)
            listener.set_nases([])  # the NAS removed
            assert listener.acknowledge(received[1].key) == 1  # taken before it left
            answer = await asyncio.wait_for(loop.sock_recv(nas, 4096), 2)
            assert verify_accounting_response(answer, second, b"n3w")
            assert await _exchange(port, build(interim, secret=b"n3w", ident=4), wait=0.3) is None
            assert rejected[-1][1] == "unknown_nas", rejected
        finally:
            nas.close()
            listener.close()

    asyncio.run(run())
