"""Accepted accounting goes on to an upstream accounting server (real FreeRADIUS, its detail
file): re-signed with the upstream's secret, once per record even when the NAS retransmits, and
a silent upstream is given up on and reported, never delaying the NAS's answer."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from netlmm_aaa.adapters.radius_accounting_forwarder import AccountingForwarder
from netlmm_aaa.adapters.radius_accounting_listener import (
    AccountingListener,
    AccountingReceived,
    Nas,
)
from netlmm_aaa.persistence import migrate
from netlmm_aaa.persistence.database import make_engine
from netlmm_aaa.persistence.store import SqlStore
from netlmm_aaa.services.accounting import StoreThenAcknowledge
from testbed.freeradius import accounting_server

pytestmark = pytest.mark.integration

START = (
    "Acct-Status-Type = Start\nAcct-Authentic = RADIUS\nUser-Name = \"mn1@example.org\"\n"
    "Calling-Station-Id = \"02-88-00-00-AA-01\"\nAcct-Session-Id = \"FWD-{tag}\"\n"
    "Event-Timestamp = 1700000000\nMessage-Authenticator = 0x00\n"
)


def _port_pair() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
            a.bind(("127.0.0.1", 0))
            port: int = a.getsockname()[1]
        if port < 65000:
            return port


async def _radclient(port: int, attributes: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        "radclient", "-q", "-r", "1", "-t", "3", f"127.0.0.1:{port}", "acct", "nas-secret",
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    await proc.communicate(attributes.encode())
    return proc.returncode or 0


def test_forwarding_to_freeradius(tmp_path: Path) -> None:
    for tool in ("freeradius", "radclient"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian freeradius / freeradius-utils)")
    url = f"sqlite:///{tmp_path / 'mag.db'}"
    migrate.upgrade(url)
    store = SqlStore(make_engine(url), "mag1")
    upstream_port = _port_pair()
    root = Path(tempfile.mkdtemp(prefix="netlmm-fr-", dir=tmp_path))
    failures: list[tuple[str, str]] = []

    async def scenario(radacct: Path) -> tuple[AccountingForwarder, AccountingForwarder]:
        forwarder = AccountingForwarder("127.0.0.1", upstream_port + 1, b"billing-secret")
        dead = AccountingForwarder("127.0.0.1", 9, b"x", timeout=0.1, tries=2,
                                   failed=lambda *r: failures.append(r))  # fmt: skip
        await forwarder.start()
        await dead.start()

        def deliver(item: AccountingReceived) -> None:
            record(item, time.time())
            forwarder.forward(item.data)
            dead.forward(item.data)

        listener = AccountingListener([Nas("nas1", "127.0.0.1", b"nas-secret")],
                                      deliver=deliver, rejected=lambda *r: None)  # fmt: skip
        record = StoreThenAcknowledge(store, listener)
        _, port = await listener.start("127.0.0.1", 0)
        try:
            # The same record twice (a NAS retransmission with a new Identifier), then another.
            assert await _radclient(port, START.format(tag="1")) == 0
            assert await _radclient(port, START.format(tag="1")) == 0
            assert await _radclient(port, START.format(tag="2")) == 0
            deadline = time.monotonic() + 10
            while forwarder.answered < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            while dead.given_up < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            listener.close()
            forwarder.close()
            dead.close()
        return forwarder, dead

    try:
        with accounting_server(root, upstream_port, "billing-secret") as radacct:
            forwarder, dead = asyncio.run(scenario(radacct))
            assert (forwarder.forwarded, forwarder.answered) == (2, 2)
            detail = "".join(p.read_text() for p in radacct.rglob("detail-*"))
            assert detail.count('Acct-Session-Id = "FWD-1"') == 1
            assert detail.count('Acct-Session-Id = "FWD-2"') == 1
            assert 'User-Name = "mn1@example.org"' in detail
            assert dead.given_up == 2 and [f[0] for f in failures] == ["no_answer"] * 2
    finally:
        store.close()


@pytest.mark.hardening
def test_spooled_accounting_survives_a_restart_and_an_upstream_outage(tmp_path: Path) -> None:
    """Issue 22 (6): the upstream is down while three records are accepted (each answered,
    so committed together with its spool entry); the MAG's process goes away without a word
    (nothing flushed beyond what was committed); a new one resumes the spool once FreeRADIUS
    is up, and its detail file has every record exactly once; the spool is then empty."""
    for tool in ("freeradius", "radclient"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian freeradius / freeradius-utils)")
    url = f"sqlite:///{tmp_path / 'mag.db'}"
    migrate.upgrade(url)
    upstream_port = _port_pair()
    failures: list[tuple[str, str]] = []

    async def before_the_crash() -> int:
        store = SqlStore(make_engine(url), "mag1")
        forwarder = AccountingForwarder("127.0.0.1", upstream_port + 1, b"billing-secret",
                                        timeout=0.2, tries=2, retry_delay=0.2,
                                        failed=lambda *r: failures.append(r),
                                        done=lambda seq: store.submit(unspool=[seq]) and None)  # fmt: skip
        await forwarder.start()
        listener = AccountingListener([Nas("nas1", "127.0.0.1", b"nas-secret")],
                                      deliver=lambda item: record(item, time.time()),
                                      rejected=lambda *r: None)  # fmt: skip
        record = StoreThenAcknowledge(store, listener, forwarder=forwarder)
        _, port = await listener.start("127.0.0.1", 0)
        for tag in ("S1", "S2", "S3"):
            assert await _radclient(port, START.format(tag=tag)) == 0  # answered: committed
        deadline = time.monotonic() + 10
        while not failures and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        backlog = forwarder.backlog
        listener.close()
        forwarder.close()
        # No store.close(): nothing is flushed beyond what the answers already waited for (the
        # abandoned writer thread is a daemon, blocked on its empty queue).
        return backlog

    assert asyncio.run(before_the_crash()) == 3
    assert failures and failures[0][0] == "no_answer"
    from netlmm_aaa.reports.queries import Reports

    engine = make_engine(url)
    [(node, records, oldest)] = Reports(engine).upstream_backlog().rows
    engine.dispose()
    assert (node, records) == ("mag1", 3) and oldest is not None  # what `report security` shows

    async def after_the_restart() -> tuple[int, int]:
        store = SqlStore(make_engine(url), "mag1", checkpoints=False)
        spooled = store.load_spool()
        assert [seq for seq, _ in spooled] == [1, 2, 3]
        forwarder = AccountingForwarder("127.0.0.1", upstream_port + 1, b"billing-secret",
                                        done=lambda seq: store.submit(unspool=[seq]) and None)  # fmt: skip
        await forwarder.start()
        forwarder.resume(spooled)
        deadline = time.monotonic() + 10
        while forwarder.answered < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        forwarder.close()
        store.flush()
        left = len(store.load_spool())
        store.close()
        return forwarder.answered, left

    root = Path(tempfile.mkdtemp(prefix="netlmm-fr-", dir=tmp_path))
    with accounting_server(root, upstream_port, "billing-secret") as radacct:
        answered, left = asyncio.run(after_the_restart())
        detail = "".join(p.read_text() for p in radacct.rglob("detail-*"))
    assert (answered, left) == (3, 0)
    for tag in ("S1", "S2", "S3"):
        assert detail.count(f'Acct-Session-Id = "FWD-{tag}"') == 1, detail
