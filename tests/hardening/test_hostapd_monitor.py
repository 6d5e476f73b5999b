"""The hostapd control client when hostapd detaches it (security-tests.md H4, H5).

hostapd drops a monitor after more than 10 failed event sends (a full receive buffer) and says
nothing; it still answers PING on that socket. The fake hostapd here speaks the protocol of
hostapd's control interface (ATTACH, DETACH, LEVEL answered only for attached monitors, PING,
STA-FIRST/STA-NEXT/STA) over AF_UNIX datagrams, so the detachment can be made to happen on cue;
the real-hostapd test (tests/netns/test_hostapd_control.py) checks LEVEL against hostapd itself.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import pytest

from netlmm_aaa.adapters.hostapd_control import HostapdControl
from netlmm_aaa.core.events import StationEvent, StationEventKind
from netlmm_aaa.core.station_intake import ConfirmedStation, StationIntake
from netlmm_aaa.wire.hostapd_events import StationInfo
from tests.lma_support import T0

pytestmark = pytest.mark.hardening


class FakeHostapd:
    """hostapd's control interface, as far as the MAG uses it."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.monitors: list[str] = []
        self.stations: dict[str, str] = {}  # MAC -> identity (authorized)
        self.attaches = 0
        self.errors: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def connect(self, mac: str, identity: str) -> None:
        """A station authorized: listed, and the event sent to every monitor."""
        self.stations[mac] = identity
        self.event(f"<3>AP-STA-CONNECTED {mac}")

    def disconnect(self, mac: str) -> None:
        self.stations.pop(mac, None)
        self.event(f"<3>AP-STA-DISCONNECTED {mac}")

    def event(self, line: str) -> None:
        """As hostapd: MSG_DONTWAIT to every monitor, and a monitor with more than 10
        consecutive failed sends is detached."""
        for monitor in list(self.monitors):
            try:
                self.sock.sendto(line.encode(), socket.MSG_DONTWAIT, monitor)
                self.errors[monitor] = 0
            except OSError:
                self.errors[monitor] = self.errors.get(monitor, 0) + 1
                if self.errors[monitor] > 10:
                    self.monitors.remove(monitor)

    def _sta(self, mac: str | None) -> bytes:
        if mac is None or mac not in self.stations:
            return b""
        return (f"{mac}\nflags=[AUTH][ASSOC][AUTHORIZED]\ndot1xAuthSessionUserName="
                f"{self.stations[mac]}\n").encode()  # fmt: skip

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            command = data.decode().strip()
            macs = sorted(self.stations)
            if command == "ATTACH":
                self.monitors.append(peer)
                self.attaches += 1
                reply = b"OK\n"
            elif command == "DETACH" or command.startswith("LEVEL "):
                attached = peer in self.monitors
                if command == "DETACH" and attached:
                    self.monitors.remove(peer)
                reply = b"OK\n" if attached else b"FAIL\n"
            elif command == "PING":
                reply = b"PONG\n"
            elif command == "STA-FIRST":
                reply = self._sta(macs[0] if macs else None)
            elif command.startswith("STA-NEXT "):
                later = [m for m in macs if m > command.split()[1]]
                reply = self._sta(later[0] if later else None)
            elif command.startswith("STA "):
                reply = self._sta(command.split()[1])
            else:
                reply = b"UNKNOWN COMMAND\n"
            self.sock.sendto(reply, peer)


def _mac(i: int) -> str:
    return f"02:00:00:00:{i >> 8:02x}:{i & 0xFF:02x}"


def test_detached_monitor_reattaches_within_two_seconds_and_resynchronises(
    tmp_path: Path,
) -> None:
    hostapd = FakeHostapd(tmp_path / "acc0")
    events: list[StationEvent] = []
    resyncs: list[list[StationInfo]] = []

    async def scenario() -> None:
        client = HostapdControl(str(tmp_path / "acc0"), on_event=events.append,
                                on_resync=resyncs.append)  # default keepalive  # fmt: skip
        await client.start()
        try:
            assert hostapd.attaches == 1
            assert resyncs == [[]]
            # A burst of 200 connect/disconnect events: every one arrives, in order.
            def burst() -> None:  # hostapd's own pace: one event every half millisecond
                for i in range(100):
                    hostapd.connect(_mac(i), f"user{i}@example.org")
                    time.sleep(0.0005)
                    hostapd.disconnect(_mac(i))
                    time.sleep(0.0005)

            sender = threading.Thread(target=burst)
            sender.start()
            deadline = time.monotonic() + 5
            while len(events) < 200 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            sender.join()
            assert len(events) == 200
            assert hostapd.monitors  # never detached: the reader kept up
            assert [e.kind for e in events[:2]] == [StationEventKind.AUTHORIZED,
                                                    StationEventKind.DISCONNECTED]  # fmt: skip
            # hostapd silently detaches us; two stations connect meanwhile (events lost).
            hostapd.monitors.clear()
            detached_at = time.monotonic()
            hostapd.connect(_mac(500), "alice@example.org")
            hostapd.connect(_mac(501), "bob@example.org")
            while client.reattachments == 0 and time.monotonic() - detached_at < 5:
                await asyncio.sleep(0.02)
            took = time.monotonic() - detached_at
            assert client.reattachments == 1
            assert took < 2.0, f"re-attached after {took:.2f} s"
            assert hostapd.attaches == 2
            # The resynchronisation lists what the lost events would have said.
            assert [s.mac for s in resyncs[-1]] == [_mac(500), _mac(501)]
            assert [s.identity for s in resyncs[-1]] == ["alice@example.org", "bob@example.org"]
            assert len(events) == 200
            # Attached again: events flow.
            hostapd.disconnect(_mac(500))
            deadline = time.monotonic() + 2
            while len(events) < 201 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert events[-1].mac == _mac(500)
        finally:
            await client.close()

    try:
        asyncio.run(scenario())
    finally:
        hostapd.close()


def test_resynchronisation_attaches_the_missed_and_detaches_the_departed() -> None:
    """What the MAG does with a station list after a re-attach (H4, H5)."""
    intake = StationIntake("mag1")
    ok = ConfirmedStation(mac=_mac(1), authorized=True, identity="carol@example.org")
    intake.on_resync("acc0", [ok], T0)
    assert intake.attached(_mac(1)) == b"carol@example.org"
    # After a detachment: carol left (no disconnect seen), dave arrived (no connect seen),
    # erin is listed but not authorized, and a station on another interface is not touched.
    intake.on_resync("acc1", [ConfirmedStation(mac=_mac(9), authorized=True,
                                               identity="frank@example.org")], T0)  # fmt: skip
    out = intake.on_resync("acc0", [
        ConfirmedStation(mac=_mac(2), authorized=True, identity="dave@example.org"),
        ConfirmedStation(mac=_mac(3), authorized=False, identity="erin@example.org"),
    ], T0)  # fmt: skip
    kinds = [(type(o).__name__, getattr(o, "mac", None)) for o in out]
    assert kinds == [("StationDetached", _mac(1)), ("StationAttached", _mac(2))]
    assert intake.attached(_mac(3)) is None
    assert intake.attached(_mac(9)) == b"frank@example.org"
    # Nothing changed: nothing happens (no PBU storm after a healthy re-attach).
    assert intake.on_resync("acc0", [
        ConfirmedStation(mac=_mac(2), authorized=True, identity="dave@example.org"),
    ], T0) == []  # fmt: skip
