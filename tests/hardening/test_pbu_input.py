"""PBU input against the real LMA daemon in namespaces (security-tests.md W2, W3, W5, W6, and
the LMA side of W7): what the LMA answers, and that its kernel routes never move.

MAG1 and MAG2 are configured peers; the PBUs are built with our codec and sent from raw
Mobility Header sockets (and UDP 5436) opened inside the MAG namespaces, so that they can be
tampered with octet by octet.
"""

from __future__ import annotations

import ipaddress
import socket
import sqlite3
import time
from pathlib import Path

import pytest
from pyroute2 import netns as pr_netns

from netlmm_aaa.core.messages import ProxyBindingAcknowledgement, find_option
from netlmm_aaa.core.options import HomeNetworkPrefixOption, MobileNodeIdentifierOption
from netlmm_aaa.wire.ipv4_udp_transport import (
    PMIP6_CONTROL_PORT,
    decode_udp_payload,
    encode_udp_payload,
)
from netlmm_aaa.wire.mobility_header import decode_mobility_header, encode_mobility_header
from tests.lma_support import ZERO_HNP, pbu
from tests.netns.pmip_lab import LMA_V4, LMAA, MAG_ADDR, PmipLab
from tests.netns.topology import lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.integration, pytest.mark.hardening]

STRANGER = "2001:db8:ff::99"  # on MAG1's transport link, but no configured MAG


def _pbu(sequence: int, mn: bytes | None, *, hnp: str | None = None,
         timestamp: float | None = None, hi: int = 1, lifetime: int = 900):  # type: ignore[no-untyped-def]  # fmt: skip
    hnps = (HomeNetworkPrefixOption.from_network(hnp),) if hnp else (ZERO_HNP,)
    return pbu(sequence, lifetime, mn_id=mn, hnps=hnps, hi=hi,
               timestamp=time.time() if timestamp is None else timestamp)  # fmt: skip


def _answer(sock: socket.socket, source: str, wait: float = 1.0) -> ProxyBindingAcknowledgement | None:  # fmt: skip
    sock.settimeout(wait)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            data, peer = sock.recvfrom(4096)
        except TimeoutError:
            return None
        message = decode_mobility_header(
            data, source=ipaddress.IPv6Address(peer[0]).packed,
            destination=ipaddress.IPv6Address(source).packed,
        )  # fmt: skip
        if type(message) is ProxyBindingAcknowledgement:
            return message
    return None


def test_tampered_impersonated_replayed_and_incomplete_pbus_move_nothing(tmp_path: Path) -> None:
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build()
        t.write_config()
        t.start_lma()
        L.ip(t.ns["mag1"], "-6", "addr", "add", f"{STRANGER}/64", "dev", "tr0", "nodad")
        mag1, mag2 = t.mag_socket("mag1"), t.mag_socket("mag2")
        stranger = pr_netns.create_socket(t.ns["mag1"], socket.AF_INET6, socket.SOCK_RAW, 135)
        stranger.bind((STRANGER, 0))

        def send(sock: socket.socket, source: str, message, *, flip: int | None = None) -> None:  # type: ignore[no-untyped-def]
            data = bytearray(encode_mobility_header(message, source=source, destination=LMAA))
            if flip is not None:
                data[flip] ^= 0x01
            sock.sendto(bytes(data), (LMAA, 0))

        def routes() -> list[str]:
            out = L.ip(t.ns["lma"], "-6", "route", "show", "proto", "213")
            return sorted(" ".join(line.split()) for line in out.splitlines() if line.strip())

        # A genuine registration for bob at MAG1.
        send(mag1, MAG_ADDR["mag1"], _pbu(1, b"bob@example.org"))
        accepted = _answer(mag1, MAG_ADDR["mag1"])
        assert accepted is not None and accepted.status == 0
        bob_prefix = find_option(accepted, HomeNetworkPrefixOption).network  # type: ignore[union-attr]
        assert wait_for(lambda: any(str(bob_prefix) in r for r in routes()), 5)
        before = routes()

        # W2: one bit flipped in transit (the MH checksum no longer verifies; the sender's
        # kernel must not recompute it): dropped before the LMA sees it, no answer.
        mag2.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_CHECKSUM, -1)
        send(mag2, MAG_ADDR["mag2"], _pbu(1, b"bob@example.org", hi=2), flip=20)
        assert _answer(mag2, MAG_ADDR["mag2"], 0.5) is None
        mag2.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_CHECKSUM, 4)
        # ... and a PBU cut short (its checksum right): the LMA's decoder drops it, audited.
        mag2.sendto(encode_mobility_header(_pbu(1, b"bob@example.org", hi=2), source=MAG_ADDR[
            "mag2"], destination=LMAA)[:16], (LMAA, 0))  # fmt: skip
        assert _answer(mag2, MAG_ADDR["mag2"], 0.5) is None
        # W3: a PBU from an address that is no configured MAG (a stranger on the link).
        send(stranger, STRANGER, _pbu(1, b"bob@example.org", hi=2))
        stray = _answer(stranger, STRANGER)
        assert stray is not None and stray.status == 154
        # W3 over IPv4/UDP 5436 from a source that is no MAG: 154 as well.
        udp = pr_netns.create_socket(t.ns["mag1"], socket.AF_INET, socket.SOCK_DGRAM, 0)
        L.ip(t.ns["mag1"], "addr", "add", "192.0.2.99/24", "dev", "tr0")
        udp.bind(("192.0.2.99", 0))
        udp.settimeout(2)
        udp.sendto(encode_udp_payload(_pbu(2, b"bob@example.org", hi=2)),
                   (LMA_V4, PMIP6_CONTROL_PORT))  # fmt: skip
        reply = decode_udp_payload(udp.recv(4096))
        assert type(reply) is ProxyBindingAcknowledgement and reply.status == 154
        # W5: replays. The same PBU again (timestamp not newer), and one 10 s old.
        send(mag1, MAG_ADDR["mag1"], _pbu(1, b"bob@example.org", timestamp=time.time() - 10))
        stale = _answer(mag1, MAG_ADDR["mag1"])
        assert stale is not None and stale.status == 156
        # W6: no MN-ID option: 160 with a zero-length MN-ID (RFC 5213 §5.3.1 step 4).
        send(mag1, MAG_ADDR["mag1"], _pbu(3, None))
        missing = _answer(mag1, MAG_ADDR["mag1"])
        assert missing is not None and missing.status == 160
        mn_id = find_option(missing, MobileNodeIdentifierOption)
        assert mn_id is not None and mn_id.identifier == b""
        # W7 (LMA side): carol asks for bob's prefix.
        send(mag2, MAG_ADDR["mag2"], _pbu(1, b"carol@example.org", hnp=str(bob_prefix)))
        theft = _answer(mag2, MAG_ADDR["mag2"])
        assert theft is not None and theft.status in (155, 159)
        time.sleep(0.3)
        assert routes() == before
        reply_cache = t.lma_control({"command": "bindings"})
        assert reply_cache is not None
        assert [(b["mn_id"], b["mag"]) for b in reply_cache["bindings"]] == [  # type: ignore[index, union-attr]
            ("bob@example.org", "mag1")
        ]
        for sock in (mag1, mag2, stranger, udp):
            sock.close()
        # The drops are on record, aggregated (the malformed one) or as a rejected PBU.
        db = tmp_path / "lma.db"
        assert wait_for(lambda: bool(sqlite3.connect(db).execute(
            "SELECT 1 FROM rejections WHERE source = 'packet' AND reason = 'malformed_packet'"
        ).fetchall()), 5)  # fmt: skip
        statuses = sorted(r[0] for r in sqlite3.connect(db).execute(
            "SELECT status FROM signaling WHERE message = 'PBU' AND direction = 'received'"
            " AND status >= 128"))  # fmt: skip
        assert statuses == sorted([154, 154, 156, 160, theft.status])


AAA_CONFIG = """
[lma.aaa]
listen = "127.0.0.1"
wait = 0.5

[[lma.aaa.nas]]
name = "ap-mag1"
address = "127.0.0.1"
secret = "s1"
mag = "mag1"

[[lma.aaa.nas]]
name = "ap-mag2"
address = "127.0.0.2"
secret = "s2"
mag = "mag2"
"""


def test_a_mag_registers_a_node_only_where_the_aaa_places_it(tmp_path: Path) -> None:
    """W4 (RFC 5213 §11): a configured MAG's PBU for a node the AAA places at another MAG, or
    at none, gets 154 and moves nothing; once the AAA agrees, the same exchange succeeds."""
    from testbed.load import accounting_request

    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build()
        config = t.write_config()
        config.write_text(config.read_text() + AAA_CONFIG)
        t.start_lma()
        mag1, mag2 = t.mag_socket("mag1"), t.mag_socket("mag2")

        def account(nas: str, user: str, session: str) -> None:
            source, secret = {"ap-mag1": ("127.0.0.1", b"s1"), "ap-mag2": ("127.0.0.2", b"s2")}[nas]
            sock = pr_netns.create_socket(t.ns["lma"], socket.AF_INET, socket.SOCK_DGRAM, 0)
            sock.bind((source, 0))
            sock.settimeout(3)
            sock.sendto(accounting_request("02:00:00:00:44:01", user, session, secret=secret),
                        ("127.0.0.1", 1813))  # fmt: skip
            assert sock.recv(4096)[0] == 5  # recorded, answered
            sock.close()

        def send(sock: socket.socket, mag: str, message) -> ProxyBindingAcknowledgement | None:  # type: ignore[no-untyped-def]
            sock.sendto(encode_mobility_header(message, source=MAG_ADDR[mag], destination=LMAA),
                        (LMAA, 0))  # fmt: skip
            return _answer(sock, MAG_ADDR[mag], 2.0)

        def where() -> dict[str, object]:
            reply = t.lma_control({"command": "bindings"})
            return {str(b["mn_id"]): b["mag"] for b in reply["bindings"]}  # type: ignore[index, union-attr]

        account("ap-mag1", "alice@example.org", "A1")
        ok = send(mag1, "mag1", _pbu(1, b"alice@example.org"))
        assert ok is not None and ok.status == 0
        # MAG2 claims alice; the AAA still has her at MAG1: 154 after the wait, nothing moves.
        began = time.monotonic()
        refused = send(mag2, "mag2", _pbu(1, b"alice@example.org", hi=2))
        assert refused is not None and refused.status == 154
        assert time.monotonic() - began >= 0.4
        assert where() == {"alice@example.org": "mag1"}
        # A node the AAA has never seen: 154 as well.
        nobody = send(mag1, "mag1", _pbu(2, b"carol@example.org"))
        assert nobody is not None and nobody.status == 154
        # The real handover: the new session's accounting reaches the LMA, then MAG2's PBU.
        account("ap-mag2", "alice@example.org", "A2")
        moved = send(mag2, "mag2", _pbu(2, b"alice@example.org", hi=2))
        assert moved is not None and moved.status == 0
        assert where() == {"alice@example.org": "mag2"}
        db = tmp_path / "lma.db"
        reasons = [r[0] for r in sqlite3.connect(db).execute(
            "SELECT reason FROM signaling WHERE status = 154 ORDER BY id")]  # fmt: skip
        assert len(reasons) == 2
        assert "AAA places the node at mag1, not at mag2" in reasons[0]
        assert "AAA places the node at no MAG" in reasons[1]
        accepted = sqlite3.connect(db).execute(
            "SELECT COUNT(*) FROM accounting_records WHERE outcome = 'accepted'").fetchone()
        assert accepted == (2,)
        mag1.close()
        mag2.close()
