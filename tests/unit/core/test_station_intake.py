"""Station intake: only 802.1X-authenticated stations attach, under a real identity."""

from __future__ import annotations

import pytest

from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.core.events import StationAttached, StationDetached, StationEvent, StationEventKind
from netlmm_aaa.core.station_intake import (
    AccountingSession,
    ConfirmedStation,
    StationIntake,
    is_anonymous,
)
from tests.lma_support import T0

MAC = "02:88:00:00:aa:01"


def _ev(kind: StationEventKind, mac: str = MAC) -> StationEvent:
    return StationEvent(kind=kind, mac=mac)


def _acct(status: int = 1, **changes: object) -> AccountingSession:
    base: dict[str, object] = {
        "nas": "mag1", "status": status, "mac": MAC, "user_name": "mn1@example.org",
        "chargeable_user_identity": None, "authentic": 1, "interface": "acc0",
    }  # fmt: skip
    base.update(changes)
    return AccountingSession(**base)  # type: ignore[arg-type]


def _reasons(out: list[object]) -> list[str]:
    return [
        o.fields["reason"] for o in out if type(o) is RecordAudit and o.kind == "station_rejected"
    ]  # type: ignore[union-attr]


def test_hostapd_attach_needs_confirmed_authorization_and_identity() -> None:
    intake = StationIntake("mag1")
    ok = ConfirmedStation(mac=MAC, authorized=True, identity="mn1@example.org")
    assert intake.on_hostapd(_ev(StationEventKind.AUTHORIZED), ok, "acc0", T0) == [
        StationAttached(mac=MAC, mn_id=b"mn1@example.org", interface="acc0")
    ]
    # Re-authentication (EAP-SUCCESS2) of the same identity: attach again (the MAG ignores it).
    again = intake.on_hostapd(_ev(StationEventKind.AUTHENTICATED), ok, "acc0", T0)
    assert [type(o) for o in again] == [StationAttached]
    assert intake.on_hostapd(_ev(StationEventKind.DISCONNECTED), None, "acc0", T0) == [
        StationDetached(mac=MAC)
    ]
    assert intake.on_hostapd(_ev(StationEventKind.DISCONNECTED), None, "acc0", T0) == []


@pytest.mark.parametrize(
    ("confirmed", "reason"),
    [
        (None, "not_authorized"),
        (ConfirmedStation(mac=MAC, authorized=False, identity="mn1@example.org"), "not_authorized"),
        (ConfirmedStation(mac=MAC, authorized=True, identity=None), "no_identity"),
        (
            ConfirmedStation(mac=MAC, authorized=True, identity="anonymous@example.org"),
            "anonymous_identity",
        ),
        (ConfirmedStation(mac=MAC, authorized=True, identity="@example.org"), "anonymous_identity"),
    ],
)
def test_hostapd_refusals(confirmed: ConfirmedStation | None, reason: str) -> None:
    out = StationIntake("mag1").on_hostapd(_ev(StationEventKind.AUTHORIZED), confirmed, "acc0", T0)
    assert _reasons(out) == [reason]


def test_accounting_identity_and_radius_authentication() -> None:
    # The authenticated name (what hostapd reports too); the CUI when the name is hidden.
    out = StationIntake("a").on_accounting(_acct(chargeable_user_identity=b"cui-mn1"), T0)
    assert out == [StationAttached(mac=MAC, mn_id=b"mn1@example.org", interface="acc0")]
    hidden = _acct(chargeable_user_identity=b"cui-mn1", user_name="anonymous@example.org")
    assert StationIntake("b").on_accounting(hidden, T0) == [
        StationAttached(mac=MAC, mn_id=b"cui-mn1", interface="acc0")
    ]
    anonymous_only = _acct(user_name="anonymous@example.org")
    assert _reasons(StationIntake("c").on_accounting(anonymous_only, T0)) == ["anonymous_identity"]
    intake = StationIntake("mag1")
    intake.on_accounting(_acct(), T0)
    assert _reasons(StationIntake("x").on_accounting(_acct(authentic=2), T0)) == ["not_8021x"]
    assert _reasons(StationIntake("x").on_accounting(_acct(mac=None), T0)) == [
        "no_calling_station_id"
    ]
    assert _reasons(StationIntake("x").on_accounting(_acct(user_name=None), T0)) == ["no_identity"]
    assert intake.on_accounting(_acct(status=2), T0) == [StationDetached(mac=MAC)]


def test_accounting_on_detaches_everything_the_nas_had() -> None:
    intake = StationIntake("mag1")
    for i in range(3):
        intake.on_accounting(_acct(mac=f"02:88:00:00:aa:0{i}", user_name=f"u{i}@example.org"), T0)
    intake.on_accounting(_acct(nas="mag2", mac="02:88:00:00:bb:01"), T0)
    out = intake.on_accounting(_acct(status=7, mac=None), T0)
    assert sorted(o.mac for o in out) == [f"02:88:00:00:aa:0{i}" for i in range(3)]  # type: ignore[union-attr]
    assert intake.attached("02:88:00:00:bb:01") == b"mn1@example.org"


def test_mac_claimed_by_another_identity_is_an_alarm_and_moves_nothing() -> None:
    intake = StationIntake("mag1")
    intake.on_accounting(_acct(), T0)
    out = intake.on_accounting(_acct(user_name="mallory@example.org"), T0)
    assert [o.kind for o in out] == ["mac_identity_conflict"]  # type: ignore[union-attr]
    assert intake.attached(MAC) == b"mn1@example.org"


def test_anonymous_identities() -> None:
    assert is_anonymous("anonymous@example.org")
    assert is_anonymous("@example.org")
    assert is_anonymous("")
    assert not is_anonymous("mn1@example.org")


@pytest.mark.hardening
def test_replayed_start_after_stop_and_stale_timestamps_attach_nothing() -> None:
    """R4 (b, c) and R13: tombstones and the Event-Timestamp window."""
    intake = StationIntake("mag1", replay_window=300)
    now = int(T0.utc)
    start = _acct(1, session_id="S1", event_timestamp=now)
    assert [type(o) for o in intake.on_accounting(start, T0)] == [StationAttached]
    stop = _acct(2, session_id="S1", event_timestamp=now + 5)
    assert intake.on_accounting(stop, T0.after(5)) == [StationDetached(mac=MAC)]
    # The captured Start, replayed after the Stop (its duplicate cache entry long gone).
    assert _reasons(intake.on_accounting(start, T0.after(60))) == ["replay_after_stop"]
    assert _reasons(intake.on_accounting(_acct(3, session_id="S1"), T0.after(61))) == [
        "replay_after_stop"
    ]
    # Captured an hour ago (or dated in the future): outside the window.
    old = _acct(1, session_id="S2", event_timestamp=now - 3600)
    assert _reasons(intake.on_accounting(old, T0)) == ["replay_stale_timestamp"]
    future = _acct(1, session_id="S3", event_timestamp=now + 3600)
    assert _reasons(intake.on_accounting(future, T0)) == ["replay_stale_timestamp"]
    # hostapd's own retransmission 15 minutes late: Event-Timestamp + Acct-Delay-Time is fresh.
    late = _acct(1, session_id="S4", event_timestamp=now - 900, delay_time=899)
    assert [type(o) for o in intake.on_accounting(late, T0)] == [StationAttached]
    # Stop before Start: the late Start of that session is void.
    intake2 = StationIntake("mag1")
    assert intake2.on_accounting(_acct(2, session_id="S9", mac="02:88:00:00:aa:09"), T0) == []
    late_start = _acct(1, session_id="S9", mac="02:88:00:00:aa:09", event_timestamp=now)
    assert _reasons(intake2.on_accounting(late_start, T0)) == ["replay_after_stop"]


@pytest.mark.hardening
def test_one_account_on_two_devices_moves_nothing_but_per_device_cuis_do_register() -> None:
    """R14: the same User-Name from a second MAC while the first is attached is an alarm; with
    a Chargeable-User-Identity per device (and an anonymous name) they are two MN-IDs."""
    intake = StationIntake("mag1")
    first = intake.on_accounting(_acct(1, mac="02:88:00:00:aa:01"), T0)
    assert [type(o) for o in first] == [StationAttached]
    second = intake.on_accounting(_acct(1, mac="02:88:00:00:aa:02"), T0)
    assert [(o.kind, o.fields["reason"]) for o in second] == [  # type: ignore[union-attr]
        ("mac_identity_conflict", "identity already attached from 02:88:00:00:aa:01")
    ]
    assert intake.attached("02:88:00:00:aa:02") is None
    # Once the first device has left, the second may attach (a device swap).
    intake.on_accounting(_acct(2, mac="02:88:00:00:aa:01"), T0)
    assert [type(o) for o in intake.on_accounting(_acct(1, mac="02:88:00:00:aa:02"), T0)] == [
        StationAttached
    ]
    cuis = StationIntake("mag1")
    for n in (1, 2):
        out = cuis.on_accounting(_acct(1, mac=f"02:88:00:00:ab:0{n}", user_name="anonymous@corp",
                                      chargeable_user_identity=f"cui-{n}".encode()), T0)  # fmt: skip
        assert [o.mn_id for o in out] == [f"cui-{n}".encode()]  # type: ignore[union-attr]


def test_a_session_id_reused_for_a_later_session_is_not_a_replay() -> None:
    """hostapd keeps one Acct-Session-Id per station entry: a station that comes back after a
    Stop may start again under the same id, dated after that Stop."""
    intake = StationIntake("mag1")
    now = int(T0.utc)
    intake.on_accounting(_acct(1, session_id="S1", event_timestamp=now), T0)
    intake.on_accounting(_acct(2, session_id="S1", event_timestamp=now + 10), T0.after(10))
    again = intake.on_accounting(_acct(1, session_id="S1", event_timestamp=now + 60), T0.after(60))
    assert [type(o) for o in again] == [StationAttached]
    # ... while the captured first Start (dated before the Stop) stays void.
    intake.on_accounting(_acct(2, session_id="S1", event_timestamp=now + 70), T0.after(70))
    old = intake.on_accounting(_acct(1, session_id="S1", event_timestamp=now), T0.after(80))
    assert _reasons(old) == ["replay_after_stop"]


def _mn_ids(out: list[object]) -> list[bytes | None]:
    return [o.mn_id for o in out if type(o) is RecordAudit]  # type: ignore[attr-defined]


@pytest.mark.hardening
@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"session_id": "NEVER-STARTED"}, "names session NEVER-STARTED"),
        ({"nas": "nas-b", "interface": "acc1"}, "comes from NAS nas-b"),
        ({"user_name": "mallory@example.org"}, "another identity"),
        ({"event_timestamp": int(T0.utc) - 3600}, "sent +3601 s from now"),
        ({"session_id": "S0", "event_timestamp": int(T0.utc) - 30}, "names session S0"),
    ],
    ids=["never-started", "other-nas", "other-user", "hour-old", "old-session-replayed"],
)
def test_a_stop_detaches_only_the_session_it_names(changes: dict[str, object], why: str) -> None:
    """Issue 22 (2): a Stop for a session that never started, from another NAS, with another
    User-Name, dated an hour ago, or an old captured Stop of the station's previous session is
    refused with the identity it claims, and the station stays attached."""
    intake = StationIntake("mag1")
    now = int(T0.utc)
    assert [type(o) for o in intake.on_accounting(_acct(1, session_id="S0", event_timestamp=now - 60), T0)] == [StationAttached]  # fmt: skip
    intake.on_accounting(_acct(2, session_id="S0", event_timestamp=now - 30), T0)
    start = _acct(1, session_id="S1", event_timestamp=now)
    assert [type(o) for o in intake.on_accounting(start, T0)] == [StationAttached]
    stop = _acct(2, **{"session_id": "S1", "event_timestamp": now + 1, **changes})
    out = intake.on_accounting(stop, T0.after(1))
    assert not any(type(o) is StationDetached for o in out)
    [refusal] = out
    assert type(refusal) is RecordAudit
    assert why in refusal.fields["detail"]
    assert refusal.mn_id == str(stop.user_name).encode()
    assert intake.attached(MAC) == b"mn1@example.org"
    # The Stop of the session itself still detaches.
    good = intake.on_accounting(_acct(2, session_id="S1", event_timestamp=now + 2), T0.after(2))
    assert good == [StationDetached(mac=MAC)]


@pytest.mark.hardening
def test_the_old_nas_late_stop_does_not_log_off_a_station_that_moved_to_another_nas() -> None:
    """Issue 22 (2, 5): roaming between two NASes of one MAG; the old NAS's Stop comes late."""
    intake = StationIntake("mag1")
    now = int(T0.utc)
    intake.on_accounting(_acct(1, session_id="A1", event_timestamp=now), T0)
    moved = _acct(1, nas="nas-b", interface="acc1", session_id="B1", event_timestamp=now + 5)
    assert [type(o) for o in intake.on_accounting(moved, T0.after(5))] == [StationAttached]
    late = intake.on_accounting(_acct(2, session_id="A1", event_timestamp=now + 4), T0.after(6))
    assert _reasons(late) == ["stop_not_of_session"]
    assert intake.attached(MAC) == b"mn1@example.org"
    stop = _acct(2, nas="nas-b", interface="acc1", session_id="B1", event_timestamp=now + 9)
    assert intake.on_accounting(stop, T0.after(9)) == [StationDetached(mac=MAC)]


@pytest.mark.hardening
@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"user_name": MAC}, "mac_authentication_bypass"),
        ({"user_name": "0288-0000-AA01"}, "mac_authentication_bypass"),
        ({"user_name": "028800000002"}, "mac_authentication_bypass"),
        ({"service_type": 10}, "mac_authentication_bypass"),
        ({"nas_port_type": 5}, "not_8021x_port_type"),  # Virtual
        ({"nas_port_type": 0}, "not_8021x_port_type"),  # Async
        ({"akm_suite": 0x000FAC02}, "not_8021x_akm"),  # WPA2-PSK
        ({"akm_suite": 0x000FAC08}, "not_8021x_akm"),  # SAE
        ({"akm_suite": 0x000FAC12}, "not_8021x_akm"),  # OWE
    ],
)
def test_mac_authentication_bypass_and_non_8021x_ports_are_refused(
    changes: dict[str, object], reason: str
) -> None:
    """Issue 22 (3): RADIUS-authenticated is not 802.1X; an explicit per-NAS opt-in serves it."""
    out = StationIntake("mag1").on_accounting(_acct(1, **changes), T0)
    assert _reasons(out) == [reason]
    assert not any(type(o) is StationAttached for o in out)
    opted_in = StationIntake("mag1", mab_nases=frozenset({"mag1"}))
    assert [type(o) for o in opted_in.on_accounting(_acct(1, **changes), T0)] == [StationAttached]


def test_8021x_port_types_attach() -> None:
    for port_type in (15, 19):
        out = StationIntake("mag1").on_accounting(_acct(1, nas_port_type=port_type), T0)
        assert [type(o) for o in out] == [StationAttached]


def test_eap_based_key_management_attaches() -> None:
    """802.1X, FT-802.1X, 802.1X-SHA256, Suite B, FILS; a vendor's suite (Wi-Fi Alliance OSEN,
    EAP too) cannot be judged and is not refused."""
    for akm in (0x000FAC01, 0x000FAC03, 0x000FAC05, 0x000FAC0C, 0x000FAC0E, 0x506F9A01):
        out = StationIntake("mag1").on_accounting(_acct(1, akm_suite=akm), T0)
        assert [type(o) for o in out] == [StationAttached], hex(akm)


@pytest.mark.hardening
def test_a_start_without_event_timestamp_is_bounded_by_its_declared_delay() -> None:
    """Issue 22 (1): no Event-Timestamp is judged by the receive time less Acct-Delay-Time."""
    intake = StationIntake("mag1", replay_window=300)
    assert _reasons(intake.on_accounting(_acct(1, delay_time=3600), T0)) == [
        "replay_stale_timestamp"
    ]
    assert [type(o) for o in intake.on_accounting(_acct(1, delay_time=5), T0)] == [StationAttached]


def test_refusals_carry_the_claimed_identity() -> None:
    """Issue 22 (7): forensics need who the refused input claimed to be."""
    out = StationIntake("mag1").on_accounting(_acct(1, authentic=2), T0)
    assert _reasons(out) == ["not_8021x"]
    assert _mn_ids(out) == [b"mn1@example.org"]


@pytest.mark.hardening
def test_a_captured_start_stays_void_after_70000_newer_stops() -> None:
    """Issue 22 (1): the tombstone of a stopped session lives as long as a captured Start of
    it could pass the timestamp window, however many records come after it."""
    intake = StationIntake("mag1", replay_window=300)
    now = int(T0.utc)
    start = _acct(1, session_id="VICTIM", event_timestamp=now)
    intake.on_accounting(start, T0)
    intake.on_accounting(_acct(2, session_id="VICTIM", event_timestamp=now + 1), T0.after(1))
    for i in range(70_000):
        flood = _acct(2, session_id=f"X{i}", mac="02:88:00:00:ff:01", event_timestamp=now + 2)
        intake.on_accounting(flood, T0.after(2))
    assert _reasons(intake.on_accounting(start, T0.after(100))) == ["replay_after_stop"]
    # Past the window the tombstones go (memory stays bounded); the Start is stale by then.
    intake.on_accounting(_acct(2, session_id="LATER", event_timestamp=now + 400), T0.after(400))
    assert len(intake._stopped) == 1
    assert _reasons(intake.on_accounting(start, T0.after(401))) == ["replay_stale_timestamp"]


@pytest.mark.hardening
def test_restored_stops_void_captured_starts_after_a_restart() -> None:
    """Issue 22 (1): a restarted MAG reloads the Stops of the last window from its store."""
    now = int(T0.utc)
    start = _acct(1, session_id="S1", event_timestamp=now)
    restarted = StationIntake("mag1", replay_window=300)
    restarted.restore_stops([("mag1", "S1", float(now + 5))], T0.after(10))
    assert _reasons(restarted.on_accounting(start, T0.after(10))) == ["replay_after_stop"]
    # A session of another NAS with the same id is another session.
    other = _acct(1, nas="nas-b", session_id="S1", event_timestamp=now + 10)
    assert [type(o) for o in restarted.on_accounting(other, T0.after(10))] == [StationAttached]


@pytest.mark.hardening
def test_the_old_nas_late_interim_does_not_pull_a_moved_station_back() -> None:
    """Issue 22 (2, 5): an Interim acts only on the session it names."""
    intake = StationIntake("mag1")
    now = int(T0.utc)
    intake.on_accounting(_acct(1, session_id="A1", event_timestamp=now), T0)
    moved = _acct(1, nas="nas-b", interface="acc1", session_id="B1", event_timestamp=now + 5)
    assert [getattr(o, "interface", None) for o in intake.on_accounting(moved, T0.after(5))] == ["acc1"]
    late = intake.on_accounting(_acct(3, session_id="A1", event_timestamp=now + 4), T0.after(6))
    assert _reasons(late) == ["interim_not_of_session"]
    own = _acct(3, nas="nas-b", interface="acc1", session_id="B1", event_timestamp=now + 9)
    assert [getattr(o, "interface", None) for o in intake.on_accounting(own, T0.after(9))] == ["acc1"]


@pytest.mark.hardening
def test_past_the_tombstone_bound_a_start_dated_before_the_dropped_stops_is_not_new() -> None:
    """Issue 22 (1): when more Stops arrive in one window than memory holds, the oldest
    tombstones go, and a Start that could be of one of them is refused, never taken as new;
    a Start dated after them attaches."""
    intake = StationIntake("mag1", replay_window=300, tombstones=100)
    now = int(T0.utc)
    start = _acct(1, session_id="VICTIM", event_timestamp=now)
    intake.on_accounting(start, T0)
    intake.on_accounting(_acct(2, session_id="VICTIM", event_timestamp=now + 1), T0.after(1))
    for i in range(150):
        flood = _acct(2, session_id=f"X{i}", mac="02:88:00:00:ff:01", event_timestamp=now + 2)
        intake.on_accounting(flood, T0.after(2))
    assert ("mag1", "VICTIM") not in intake._stopped
    assert _reasons(intake.on_accounting(start, T0.after(3))) == ["replay_unverifiable"]
    fresh = _acct(1, session_id="NEW", mac="02:88:00:00:aa:02", event_timestamp=now + 3)
    assert [type(o) for o in intake.on_accounting(fresh, T0.after(3))] == [StationAttached]
