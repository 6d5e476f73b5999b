"""hostapd control-interface lines and STA replies (formats from the wired 802.1X test bed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netlmm_aaa.core.events import StationEventKind as K
from netlmm_aaa.wire.hostapd_events import (
    HostapdLineError,
    normalize_mac,
    parse_hostapd_event,
    parse_sta_info,
)

MAC = "02:88:00:00:aa:01"


@pytest.mark.parametrize(
    ("line", "kind", "interface"),
    [
        ("<3>AP-STA-CONNECTED 02:88:00:00:aa:01", K.AUTHORIZED, None),
        ("<3>AP-STA-CONNECTED 02:88:00:00:aa:01 keyid=x", K.AUTHORIZED, None),
        ("<3>CTRL-EVENT-EAP-SUCCESS2 02:88:00:00:aa:01", K.AUTHENTICATED, None),
        ("<3>CTRL-EVENT-EAP-STARTED 02:88:00:00:aa:01", K.AUTHENTICATION_STARTED, None),
        ("<3>CTRL-EVENT-EAP-FAILURE2 02:88:00:00:aa:01", K.AUTHENTICATION_FAILED, None),
        ("<3>CTRL-EVENT-EAP-TIMEOUT-FAILURE 02:88:00:00:aa:01", K.AUTHENTICATION_FAILED, None),
        ("<3>AP-STA-DISCONNECTED 02:88:00:00:AA:01\n", K.DISCONNECTED, None),
        ("acc0 AP-STA-CONNECTED 02:88:00:00:aa:01", K.AUTHORIZED, "acc0"),
        (b"<3>AP-STA-DISCONNECTED 02:88:00:00:aa:01", K.DISCONNECTED, None),
    ],
)
def test_station_events(line: str | bytes, kind: K, interface: str | None) -> None:
    event = parse_hostapd_event(line)
    assert event is not None
    assert (event.kind, event.mac, event.interface) == (kind, MAC, interface)


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "<3>CTRL-EVENT-EAP-PROPOSED-METHOD vendor=0 method=1",
        "<3>AP-ENABLED",
        "OK",
        "PONG",
        "acc0 CTRL-EVENT-EAP-PROPOSED-METHOD vendor=0 method=1",
    ],
)
def test_other_lines_are_ignored(line: str) -> None:
    assert parse_hostapd_event(line) is None


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("<3>AP-STA-CONNECTED", "without a station"),
        ("<3>AP-STA-CONNECTED 02:88:00:00:aa", "not a MAC"),
        ("<3>AP-STA-CONNECTED zz:88:00:00:aa:01", "not a MAC"),
        (b"<3>AP-STA-CONNECTED \xff\xfe", "not UTF-8"),
        ("<3>AP-STA-CONNECTED " + "a" * 5000, "longer than"),
    ],
)
def test_broken_station_lines_raise(line: str | bytes, words: str) -> None:
    with pytest.raises(HostapdLineError, match=words):
        parse_hostapd_event(line)


def test_mac_normalisation() -> None:
    for text in ("02-88-00-00-AA-01", "02:88:00:00:aa:01", "0288.0000.aa01", "02880000AA01"):
        assert normalize_mac(text) == MAC
    with pytest.raises(HostapdLineError):
        normalize_mac("02-88-00-00-AA-01-02")


@given(st.text(max_size=200) | st.binary(max_size=200).map(bytes))
def test_any_input_gives_an_event_none_or_a_typed_error(line: str | bytes) -> None:
    try:
        event = parse_hostapd_event(line)
    except HostapdLineError:
        return
    if event is not None:
        assert normalize_mac(event.mac) == event.mac


STA_REPLY = """02:88:00:00:aa:01
flags=[AUTH][ASSOC][AUTHORIZED]
aid=0
capability=0x0
listen_interval=0
supported_rates=
timeout_next=NULLFUNC POLL
dot1xAuthAuthControlledPortStatus=1
dot1xAuthPaeState=5
dot1xAuthSessionUserName=mn1@example.org
dot1xAuthSessionId=2D5A1F9C8E7B6A54
last_eap_type_as=25
"""


def test_sta_reply() -> None:
    info = parse_sta_info(STA_REPLY)
    assert info is not None
    assert (info.mac, info.authorized, info.identity, info.session_id, info.eap_type) == (
        MAC,
        True,
        "mn1@example.org",
        "2D5A1F9C8E7B6A54",
        25,
    )
    unauthorized = STA_REPLY.replace("[AUTHORIZED]", "").replace("PortStatus=1", "PortStatus=2")
    info2 = parse_sta_info(unauthorized)
    assert info2 is not None
    assert info2.authorized is False
    assert parse_sta_info("FAIL\n") is None
    assert parse_sta_info("") is None
    with pytest.raises(HostapdLineError):
        parse_sta_info("not-a-mac\nflags=[AUTHORIZED]\n")


# In the hardening suite (security-tests.md H1, H2: the line parser corpus and MAC forms).
pytestmark = pytest.mark.hardening
