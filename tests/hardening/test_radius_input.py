"""RADIUS accounting input against the real daemons (security-tests.md R1-R8, R10, R14).

One lab for the module: our LMA and our MAG (``netlmm-aaa lma`` / ``mag``) in network
namespaces, the MAG's accounting listener on 127.0.0.1:1813 inside its namespace, two NASes
configured (``wlc`` at 127.0.0.1 with NAS-Identifier ``wlc.example``, ``ap2`` at 127.0.0.2).
Datagrams are sent from sockets opened inside the MAG's namespace, so that malformed and forged
ones can be built byte by byte. What is asserted: the answer (or the silence), the LMA's binding
cache ("nobody let in": no binding, nothing moved), the MAG's audit rows (aggregated for dropped
packets) and its /metrics.
"""

from __future__ import annotations

import socket
import sqlite3
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyroute2 import netns as pr_netns

from tests.metrics_text import sample
from tests.netns.pmip_lab import PmipLab
from tests.netns.topology import Lab, lab, wait_for
from tests.unit.wire.test_radius_accounting import build

pytestmark = [pytest.mark.netns, pytest.mark.integration, pytest.mark.hardening]

NASES = """
[[mag.nas]]
name = "wlc"
address = "127.0.0.1"
secret = "s3cret"
interface = "acc0"
identifier = "wlc.example"

[[mag.nas]]
name = "ap2"
address = "127.0.0.2"
secret = "other-secret"
interface = "acc0"
identifier = "ap2.example"
"""

SECRET, SECRET2 = b"s3cret", b"other-secret"


def u32(value: int) -> bytes:
    return struct.pack("!I", value)


def start(mac: str, user: str, session: str, *, status: int = 1, authentic: int = 1,
          stamp: int | None = None, delay: int = 0, extra: tuple[tuple[int, bytes], ...] = (),
          ident: int = 1, secret: bytes = SECRET) -> bytes:  # fmt: skip
    """An Accounting-Request as a WLAN controller sends it."""
    attrs = [
        (40, u32(status)), (1, user.encode()), (44, session.encode()),
        (31, mac.upper().replace(":", "-").encode()), (30, b"02-00-00-00-0a-01:corp"),
        (32, b"wlc.example"), (45, u32(authentic)),
        (55, u32(int(time.time()) if stamp is None else stamp)), (41, u32(delay)),
        *extra,
    ]  # fmt: skip
    return build([a for a in attrs if a[1] != b""], secret=secret, ident=ident)


@dataclass
class Daemons:
    L: Lab
    t: PmipLab
    db: Path
    config: Path
    log: Path
    mag: subprocess.Popen[bytes] | None = None

    def start_mag(self) -> None:
        self.mag = self.t.start_mag(self.config, log=self.log)

    def kill_mag(self) -> None:
        """SIGKILL: no clean shutdown, nothing flushed but what was committed."""
        assert self.mag is not None
        self.mag.kill()
        self.mag.wait(timeout=15)

    def socket(self, source: str = "127.0.0.1") -> socket.socket:
        sock = pr_netns.create_socket(self.t.ns["mag1"], socket.AF_INET, socket.SOCK_DGRAM, 0)
        sock.bind((source, 0))
        sock.settimeout(2)
        return sock  # type: ignore[no-any-return]

    def exchange(self, data: bytes, *, wait: float = 2.0, sock: socket.socket | None = None,
                 source: str = "127.0.0.1") -> bytes | None:  # fmt: skip
        own = sock is None
        s = self.socket(source) if sock is None else sock
        try:
            s.settimeout(wait)
            s.sendto(data, ("127.0.0.1", 1813))
            try:
                return s.recv(4096)
            except TimeoutError:
                return None
        finally:
            if own:
                s.close()

    def rows(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(sql, args).fetchall()

    def bindings(self) -> dict[str, dict[str, object]]:
        reply = self.t.lma_control({"command": "bindings"})
        assert reply is not None
        return {b["mn_id"]: b for b in reply["bindings"]}  # type: ignore[union-attr, index]

    def rejected(self, reason: str, origin: str | None = None) -> int:
        sql = "SELECT COALESCE(SUM(packets), 0) FROM accounting_records WHERE outcome = 'rejected'"
        sql += " AND reason = ?" + (" AND nas = ?" if origin else "")
        return int(self.rows(sql, reason, *((origin,) if origin else ()))[0][0])  # type: ignore[call-overload]

    def duplicates(self, nas: str) -> int:
        sql = ("SELECT COALESCE(SUM(packets), 0) FROM accounting_records"
               " WHERE outcome = 'duplicate' AND nas = ?")  # fmt: skip
        return int(self.rows(sql, nas)[0][0])  # type: ignore[call-overload]

    def station_reasons(self, mac: str) -> list[str]:
        rows = self.rows("SELECT reason FROM station_events WHERE mac = ? AND reason IS NOT NULL"
                         " ORDER BY id", mac)  # fmt: skip
        return [str(r[0]) for r in rows]


@pytest.fixture(scope="module")
def daemons(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemons]:
    tmp = tmp_path_factory.mktemp("radius-hardening")
    with lab() as L:
        t = PmipLab(L, tmp)
        t.build(mag_dataplane=True)
        t.write_config()
        t.start_lma()
        db = tmp / "mag1.db"
        config = t.write_mag_config(keys='metrics_listen = "127.0.0.1:9813"', tables=NASES)
        log = tmp / "mag.log"
        d = Daemons(L, t, db, config, log)
        d.start_mag()
        yield d
        assert d.mag is not None
        d.mag.terminate()
        d.mag.wait(timeout=15)
        assert d.mag.returncode == 0, log.read_text()[-3000:]


def test_forged_and_unknown_sources_are_dropped_and_counted_not_written_per_packet(
    daemons: Daemons,
) -> None:
    """R1: wrong secret, one flipped bit; R2: a source that is no NAS. No answer, nobody let
    in, one aggregated row per origin and reason (per second), counters per reason."""
    d = daemons
    sock = d.socket()
    for i in range(300):
        sock.sendto(start("02:00:00:01:00:01", "mallory@example.org", f"F{i}", secret=b"guess",
                          ident=i % 256), ("127.0.0.1", 1813))  # fmt: skip
        if i % 20 == 19:
            time.sleep(0.005)  # paced below the socket buffer: every packet must be counted
    flipped = bytearray(start("02:00:00:01:00:01", "mallory@example.org", "F-bit"))
    flipped[-1] ^= 0x01
    sock.sendto(bytes(flipped), ("127.0.0.1", 1813))
    stranger = d.socket("127.0.0.3")
    for i in range(40):
        stranger.sendto(start("02:00:00:01:00:01", "mallory@example.org", f"U{i}"),
                        ("127.0.0.1", 1813))  # fmt: skip
    sock.settimeout(0.5)
    stranger.settimeout(0.5)
    for s in (sock, stranger):
        with pytest.raises(TimeoutError):
            s.recv(4096)  # never answered
        s.close()
    assert wait_for(lambda: d.rejected("unknown_nas", "127.0.0.3") == 40, 10)
    assert wait_for(lambda: d.rejected("bad_authenticator", "127.0.0.1") == 301, 10)
    rows = d.rows("SELECT COUNT(*) FROM accounting_records WHERE outcome = 'rejected'"
                  " AND reason = 'bad_authenticator'")  # fmt: skip
    assert 1 <= int(rows[0][0]) <= 3, rows  # aggregated: one row per second, not 301  # type: ignore[call-overload]
    assert "mallory@example.org" not in d.bindings()
    metrics = d.t.scrape("mag1")
    assert sample(metrics, "netlmm_accounting_requests_total", outcome="rejected",
                  reason="bad_authenticator") == 301, metrics  # fmt: skip


def test_a_nas_cannot_speak_for_another(daemons: Daemons) -> None:
    """R3: NAS wlc (valid secret) claims NAS-Identifier ap2.example."""
    d = daemons
    claim = start("02:00:00:03:00:01", "carol@example.org", "R3-1",
                  extra=((32, b"ap2.example"),))  # fmt: skip
    claim = start("02:00:00:03:00:01", "carol@example.org", "R3-1")
    forged = build(
        [(t, v) if t != 32 else (32, b"ap2.example") for t, v in _attributes(claim)],
        secret=SECRET,
    )
    assert d.exchange(forged, wait=0.5) is None
    assert wait_for(lambda: d.rejected("nas_identity_mismatch", "127.0.0.1") == 1, 10)
    detail = d.rows("SELECT detail FROM accounting_records WHERE reason = 'nas_identity_mismatch'")
    assert "NAS wlc claims to be NAS ap2" in str(detail[0][0])
    assert "carol@example.org" not in d.bindings()
    # Its own identity passes.
    assert d.exchange(start("02:00:00:03:00:01", "carol@example.org", "R3-2")) is not None
    assert wait_for(lambda: "carol@example.org" in d.bindings(), 10)


def _attributes(packet: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 20
    while pos < len(packet):
        kind, size = packet[pos], packet[pos + 1]
        out.append((kind, packet[pos + 2 : pos + size]))
        pos += size
    return out


def test_retransmissions_and_replays_are_processed_once(daemons: Daemons) -> None:
    """R5 (hostapd-style and pyrad-style retransmissions), R6 (exact duplicate), R4 (replay
    seconds later, after the Stop, and with a stale Event-Timestamp)."""
    d = daemons
    copies_before = d.duplicates("wlc")
    mac, user, stamp = "02:00:00:04:00:01", "dave@example.org", int(time.time())
    first = start(mac, user, "R4", stamp=stamp, ident=10)
    sock = d.socket()
    answer = d.exchange(first, sock=sock)
    assert answer is not None and answer[0] == 5
    assert wait_for(lambda: user in d.bindings(), 10)
    # R6: the same datagram again from the same port: the same answer, byte for byte.
    assert d.exchange(first, sock=sock) == answer
    # R5: hostapd (new Identifier, Acct-Delay-Time 3) and pyrad (same Identifier, new delay).
    assert d.exchange(start(mac, user, "R4", stamp=stamp, delay=3, ident=11)) is not None
    assert d.exchange(start(mac, user, "R4", stamp=stamp, delay=6, ident=10)) is not None
    sock.close()
    assert wait_for(lambda: d.rows(
        "SELECT outcome, COUNT(*) FROM accounting_records WHERE session_id = 'R4'"
        " GROUP BY outcome ORDER BY outcome") == [("accepted", 1)], 10)  # fmt: skip
    # The copies are counted per NAS and interval, not written one by one.
    assert wait_for(lambda: d.duplicates("wlc") - copies_before == 3, 10)
    pbus = d.rows("SELECT COUNT(*) FROM signaling WHERE mn_id = ? AND message = 'PBU'", user)
    assert pbus == [(1,)]  # one registration, however many copies
    prefix = d.bindings()[user]["home_network_prefixes"]
    # Stop, then the captured Start replayed: answered (it is a copy) but nothing comes back.
    assert d.exchange(start(mac, user, "R4", status=2, stamp=stamp + 30, ident=12)) is not None
    assert wait_for(lambda: d.bindings()[user]["state"] != "active", 10)
    assert d.exchange(first) is not None
    # The same session's Start with another Event-Timestamp (past the duplicate cache), dated
    # before the Stop: void. (One dated after the Stop is a NAS reusing the id: a new session.)
    assert d.exchange(start(mac, user, "R4", stamp=stamp + 20, ident=13)) is not None
    # A Start captured an hour ago, replayed now (new session id, valid authenticator).
    assert d.exchange(start(mac, user, "R4-old", stamp=stamp - 3600, ident=14)) is not None
    assert wait_for(lambda: d.station_reasons(mac)[-2:] == ["replay_after_stop",
                                                            "replay_stale_timestamp"], 10)  # fmt: skip
    time.sleep(0.3)
    assert d.bindings()[user]["state"] != "active"
    assert d.bindings()[user]["home_network_prefixes"] == prefix


def test_malformed_corpus_is_dropped_with_reasons_and_the_next_packet_is_fast(
    daemons: Daemons,
) -> None:
    """R7 (malformed corpus) and R8 (duplicated single-valued attributes)."""
    d = daemons
    good = start("02:00:00:07:00:01", "erin@example.org", "R7")
    body = good[20:]

    def raw(tail: bytes, length: int | None = None) -> bytes:
        size = 20 + len(tail) if length is None else length
        return struct.pack("!BBH", 4, 9, size) + bytes(16) + tail

    def dup(kind: int, value: bytes) -> bytes:
        return build([*_attributes(good), (kind, value)], secret=SECRET)

    corpus = {
        "too_short": good[:19],
        "bad_length": raw(body, length=len(good) + 10),
        "too_long": raw(bytes(5000 - 20), length=5000),
        "attribute_length": raw(b"\x01\x00" + body),
        "attribute_overrun": raw(b"\x01\x04\x00"),
        "vsa_length": raw(b"\x1a\x0a" + u32(14122) + b"\x01\x00\x00\x00"),
        "integer_length": build([(40, b"\x00\x00\x01"), *_attributes(good)[1:]], secret=SECRET),
        "invalid_utf8": build([*[a for a in _attributes(good) if a[0] != 1], (1, b"\xff\xfe")],
                              secret=SECRET),  # fmt: skip
        "unknown_status_type": build([(40, u32(99)), *_attributes(good)[1:]], secret=SECRET),
        "not_accounting_request": b"\x01" + good[1:],
    }
    duplicates = [dup(31, b"02-00-00-07-00-02"), dup(1, b"eve@example.org"), dup(40, u32(1)),
                  dup(44, b"R7-other")]  # fmt: skip
    sock = d.socket()
    for data in [*corpus.values(), *duplicates]:
        assert d.exchange(data, wait=0.3, sock=sock) is None
    began = time.perf_counter()
    assert d.exchange(good, sock=sock) is not None
    elapsed = time.perf_counter() - began
    sock.close()
    assert elapsed < 0.05, f"valid packet after the corpus answered in {elapsed * 1000:.1f} ms"
    for reason in corpus:
        assert wait_for(lambda r=reason: d.rejected(r, "127.0.0.1") >= 1, 10), reason  # type: ignore[misc]
    assert wait_for(lambda: d.rejected("duplicate_attribute", "127.0.0.1") == 4, 10)
    assert "eve@example.org" not in d.bindings()


def test_unauthenticated_anonymous_and_spoofed_stations_move_nothing(daemons: Daemons) -> None:
    """R10 (PSK/open: Acct-Authentic Local), R14 (anonymous outer identity, no CUI; another
    authenticated user on the victim's MAC)."""
    d = daemons
    psk = start("02:00:00:0a:00:01", "frank@example.org", "R10", authentic=2)
    assert d.exchange(psk) is not None  # recorded, so acknowledged
    anonymous = start("02:00:00:0e:00:01", "anonymous@example.org", "R14-a")
    assert d.exchange(anonymous) is not None
    victim_mac = "02:00:00:0e:00:02"
    assert d.exchange(start(victim_mac, "grace@example.org", "R14-v")) is not None
    assert wait_for(lambda: "grace@example.org" in d.bindings(), 10)
    before = d.bindings()["grace@example.org"]
    assert d.exchange(start(victim_mac, "heidi@example.org", "R14-s")) is not None
    assert wait_for(lambda: d.station_reasons("02:00:00:0a:00:01") == ["not_8021x"], 10)
    assert wait_for(lambda: d.station_reasons("02:00:00:0e:00:01") == ["anonymous_identity"], 10)
    assert wait_for(lambda: any("already attached as grace" in r
                                for r in d.station_reasons(victim_mac)), 10)  # fmt: skip
    time.sleep(0.3)
    bindings = d.bindings()
    assert not {"frank@example.org", "anonymous@example.org", "heidi@example.org"} & set(bindings)
    after = bindings["grace@example.org"]
    assert (after["mag"], after["home_network_prefixes"], after["state"]) == (
        before["mag"], before["home_network_prefixes"], "active")  # fmt: skip


def test_mab_virtual_ports_and_stops_of_other_sessions_move_nothing(daemons: Daemons) -> None:
    """Issue 22 (2, 3): MAC-authentication-bypass sessions (User-Name = the MAC, Service-Type
    Call-Check), a Virtual NAS-Port-Type and a WPA2-PSK station (WLAN-AKM-Suite 00-0F-AC:2, the
    NAS's evidence that no EAP ran) register nothing; a Stop for a session that never
    started, with another User-Name, dated an hour ago, or from another NAS leaves the node's
    binding where it is, each refusal stored with the identity it claimed; the session's own
    Stop de-registers it."""
    d = daemons
    refused = {
        "02:00:00:0b:00:01": start("02:00:00:0b:00:01", "02-00-00-0B-00-01", "I22-mab"),
        "02:00:00:0b:00:02": start("02:00:00:0b:00:02", "ivan@example.org", "I22-cc",
                                   extra=((6, u32(10)),)),  # fmt: skip
        "02:00:00:0b:00:03": start("02:00:00:0b:00:03", "judy@example.org", "I22-v",
                                   extra=((61, u32(5)),)),  # fmt: skip
        "02:00:00:0b:00:04": start("02:00:00:0b:00:04", "karl@example.org", "I22-psk",
                                   extra=((188, bytes.fromhex("000fac02")),)),  # fmt: skip
    }
    for packet in refused.values():
        assert d.exchange(packet) is not None
    expected = ["mac_authentication_bypass", "mac_authentication_bypass", "not_8021x_port_type",
                "not_8021x_akm"]  # fmt: skip
    for mac, reason in zip(refused, expected, strict=True):
        assert wait_for(lambda m=mac, r=reason: d.station_reasons(m) == [r], 10), mac  # type: ignore[misc]
    assert not {"ivan@example.org", "judy@example.org", "karl@example.org"} & set(d.bindings())
    assert not any(name.startswith("02-00-00") for name in d.bindings())

    mac, user = "02:00:00:0b:00:10", "kim@example.org"
    began = int(time.time())
    assert d.exchange(start(mac, user, "I22-S1", stamp=began)) is not None
    assert wait_for(lambda: d.bindings().get(user, {}).get("state") == "active", 10)
    before = d.bindings()[user]
    from_ap2 = build([
        (40, u32(2)), (1, user.encode()), (44, b"I22-S1"), (31, mac.upper().replace(":", "-").encode()),
        (32, b"ap2.example"), (45, u32(1)), (55, u32(began + 2)),
    ], secret=SECRET2, ident=9)  # fmt: skip
    stops = [
        (start(mac, user, "I22-never", status=2, ident=2), "127.0.0.1"),
        (start(mac, "mallory@example.org", "I22-S1", status=2, ident=3), "127.0.0.1"),
        (start(mac, user, "I22-S1", status=2, stamp=began - 3600, ident=4), "127.0.0.1"),
        (from_ap2, "127.0.0.2"),
    ]
    for packet, source in stops:
        assert d.exchange(packet, source=source) is not None
    reasons = ["stop_not_of_session", "stop_not_of_session", "replay_stale_timestamp",
               "stop_not_of_session"]  # fmt: skip
    assert wait_for(lambda: d.station_reasons(mac) == reasons, 10), d.station_reasons(mac)
    claimed = {str(r[0]) for r in d.rows("SELECT mn_id FROM station_events WHERE mac = ?"
                                         " AND reason IS NOT NULL", mac)}  # fmt: skip
    assert claimed == {user, "mallory@example.org"}
    time.sleep(0.3)
    after = d.bindings()[user]
    assert (after["mag"], after["home_network_prefixes"], after["state"]) == (
        before["mag"], before["home_network_prefixes"], "active")  # fmt: skip
    # The session's own Stop, from the NAS that holds it: de-registered.
    assert d.exchange(start(mac, user, "I22-S1", status=2, stamp=began + 3, ident=5)) is not None
    assert wait_for(lambda: d.bindings().get(user, {}).get("state") != "active", 10)


def test_a_captured_start_of_a_stopped_session_stays_void_after_a_kill_9_restart(
    daemons: Daemons,
) -> None:
    """Issue 22 (1): Start and Stop of a session, the MAG killed with SIGKILL and started
    again; the captured Start, replayed to the new process (its duplicate cache is empty), is
    refused as a replay and moves nothing."""
    d = daemons
    mac, user = "02:00:00:0c:00:01", "lena@example.org"
    stamp = int(time.time())
    captured = start(mac, user, "I22-R1", stamp=stamp, ident=21)
    assert d.exchange(captured) is not None
    assert wait_for(lambda: d.bindings().get(user, {}).get("state") == "active", 10)
    stop = start(mac, user, "I22-R1", status=2, stamp=stamp + 1, ident=22)
    assert d.exchange(stop) is not None  # acknowledged: committed
    assert wait_for(lambda: d.bindings().get(user, {}).get("state") != "active", 10)
    d.kill_mag()
    d.start_mag()
    assert d.exchange(captured) is not None
    assert wait_for(lambda: d.station_reasons(mac) == ["replay_after_stop"], 10), (
        d.station_reasons(mac)
    )
    time.sleep(0.3)
    assert d.bindings().get(user, {}).get("state") != "active"
