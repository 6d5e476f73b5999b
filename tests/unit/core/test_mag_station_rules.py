"""The MAG's station rules, as core tests with a hand-built ``Now``.

A hostapd success event is confirmed by the Access-Accept our RADIUS relay just passed: each of
the two success events once per Accept, never after a new authentication began, a failure, a
disconnection or the expiry, and never for another station; otherwise by hostapd's ``STA``. A
hook datagram's disconnection counts only once ``STA`` no longer shows the station authorized.
An Accept's profile applies to the attachment that follows; a profile naming the prefix readies
the downlink ahead of the PBA, withdrawn if no registration takes it over by the deadline."""

from __future__ import annotations

from netlmm_aaa.core.actions import (
    InstallStationRoutes,
    PrepareDownlink,
    QueryStation,
    RecordAudit,
    RefuseHookLine,
    SendMessage,
    WithdrawDownlink,
)
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.events import (
    AccessAcceptRelayed,
    AccessProfile,
    ConfirmedStation,
    StationEvent,
    StationEventKind,
    StationEventReported,
    StationQueried,
    TimerFired,
)
from netlmm_aaa.core.lma_selection import LmaSelection
from netlmm_aaa.core.messages import ProxyBindingUpdate
from netlmm_aaa.core.mobile_access_gateway import MagPolicy, MobileAccessGateway, StationState

MAC = "02:00:00:00:01:01"
OTHER = "02:00:00:00:01:02"
ALICE = b"alice@example.org"
T0 = Now(1000.0, 1_700_000_000.0)


def _mag(**changes: object) -> MobileAccessGateway:
    policy = MagPolicy(name="mag1", proxy_coa="2001:db8::1", lma_address="2001:db8::100",
                       profile_ttl=10.0, **changes)  # type: ignore[arg-type]  # fmt: skip
    return MobileAccessGateway(policy)


def _accept(mag: MobileAccessGateway, now: Now = T0, mac: str = MAC,
            **profile: object) -> list[object]:  # fmt: skip
    event = AccessAcceptRelayed(
        mac=mac, interface="acc0", profile=AccessProfile(user_name=ALICE, **profile)  # type: ignore[arg-type]
    )
    return list(mag.handle(event, now))


def _event(kind: StationEventKind, mac: str = MAC) -> StationEvent:
    return StationEvent(kind=kind, mac=mac)


def _report(kind: StationEventKind, mac: str = MAC, via_hook: bool = False) -> StationEventReported:
    return StationEventReported(interface="acc0", event=_event(kind, mac), via_hook=via_hook)


def _pbus(actions: list[object]) -> list[SendMessage]:
    return [a for a in actions if type(a) is SendMessage and type(a.message) is ProxyBindingUpdate]


def test_one_accept_confirms_eap_success_then_port_authorized_once_each() -> None:
    mag = _mag()
    _accept(mag)
    intake = mag.intake
    assert intake.accepted_for(_event(StationEventKind.AUTHENTICATED, OTHER), T0) is None
    assert intake.accepted_for(_event(StationEventKind.AUTHENTICATED), T0) == "alice@example.org"
    assert intake.accepted_for(_event(StationEventKind.AUTHENTICATED), T0) is None
    assert intake.accepted_for(_event(StationEventKind.AUTHORIZED), T0) == "alice@example.org"
    assert intake.accepted_for(_event(StationEventKind.AUTHORIZED), T0) is None


def test_either_order_of_the_two_success_events() -> None:
    mag = _mag()
    _accept(mag)
    intake = mag.intake
    assert intake.accepted_for(_event(StationEventKind.AUTHORIZED), T0) == "alice@example.org"
    assert intake.accepted_for(_event(StationEventKind.AUTHENTICATED), T0) == "alice@example.org"
    assert intake.accepted_for(_event(StationEventKind.AUTHENTICATED), T0) is None


def test_new_authentication_failure_or_disconnection_voids_the_accept() -> None:
    for voiding in (
        StationEventKind.AUTHENTICATION_STARTED,
        StationEventKind.AUTHENTICATION_FAILED,
        StationEventKind.DISCONNECTED,
    ):
        mag = _mag()
        _accept(mag)
        assert mag.intake.accepted_for(_event(StationEventKind.AUTHENTICATED), T0) is not None
        assert mag.intake.accepted_for(_event(voiding), T0) is None
        assert mag.intake.accepted_for(_event(StationEventKind.AUTHORIZED), T0) is None, voiding


def test_an_expired_accept_confirms_nothing() -> None:
    mag = _mag()
    _accept(mag)
    later = T0.after(5.001)  # an Accept stands in for STA for 5 s
    assert mag.intake.accepted_for(_event(StationEventKind.AUTHENTICATED), later) is None
    assert mag.intake.accepted_for(_event(StationEventKind.AUTHENTICATED), T0) is None  # gone


def test_a_confirmed_success_sends_the_pbu_at_once_and_an_unconfirmed_one_asks_hostapd() -> None:
    mag = _mag()
    _accept(mag)
    actions = mag.handle(_report(StationEventKind.AUTHENTICATED), T0)
    assert not [a for a in actions if type(a) is QueryStation]
    assert len(_pbus(list(actions))) == 1
    assert mag.station_state(MAC) is StationState.REGISTERING
    # Another station, no Accept: hostapd is asked, and its answer decides.
    [query] = mag.handle(_report(StationEventKind.AUTHORIZED, OTHER), T0)
    assert type(query) is QueryStation
    assert query.event.mac == OTHER
    assert not query.via_hook
    refused = mag.handle(StationQueried(interface="acc0", event=query.event, via_hook=False,
                                        station=None), T0)  # fmt: skip
    assert [a.fields["reason"] for a in refused if type(a) is RecordAudit] == ["not_authorized"]
    assert mag.station_state(OTHER) is None
    confirmed = ConfirmedStation(mac=OTHER, authorized=True, identity="bob@example.org")
    actions = mag.handle(StationQueried(interface="acc0", event=query.event, via_hook=False,
                                        station=confirmed), T0)  # fmt: skip
    assert len(_pbus(list(actions))) == 1
    assert mag.station_state(OTHER) is StationState.REGISTERING


def test_a_hook_disconnection_counts_only_once_hostapd_no_longer_authorizes_the_station() -> None:
    mag = _mag()
    _accept(mag)
    mag.handle(_report(StationEventKind.AUTHENTICATED), T0)
    [query] = mag.handle(_report(StationEventKind.DISCONNECTED, via_hook=True), T0)
    assert type(query) is QueryStation
    assert query.via_hook
    still = ConfirmedStation(mac=MAC, authorized=True, identity="alice@example.org")
    [refusal] = mag.handle(StationQueried(interface="acc0", event=query.event, via_hook=True,
                                          station=still), T0)  # fmt: skip
    assert type(refusal) is RefuseHookLine
    assert "still reports" in refusal.reason
    assert mag.station_state(MAC) is StationState.REGISTERING
    gone = mag.handle(StationQueried(interface="acc0", event=query.event, via_hook=True,
                                     station=None), T0)  # fmt: skip
    assert len(_pbus(list(gone))) == 1  # the de-registration
    assert mag.station_state(MAC) is StationState.DEREGISTERING


def test_the_accepts_profile_and_the_realms_lma_apply_to_the_next_attachment() -> None:
    mag = _mag(lma_selection=(LmaSelection(realm="example.org", lma_address="2001:db8::200"),))
    _accept(mag, ipv4_home_address="192.0.2.7")
    actions = mag.handle(_report(StationEventKind.AUTHENTICATED), T0)
    [profile] = [a for a in actions if type(a) is RecordAudit and a.kind == "aaa_profile"]
    assert profile.fields["ipv4"] == "192.0.2.7"
    assert profile.mn_id == ALICE
    [pbu] = _pbus(list(actions))
    assert pbu.destination == "2001:db8::200"  # no LMA in the profile: the realm's


def test_a_prepared_downlink_is_withdrawn_when_no_registration_follows_by_the_deadline() -> None:
    mag = _mag()
    [prepare] = _accept(mag, home_network_prefix="2001:db8:1:1::/64")
    assert type(prepare) is PrepareDownlink
    assert prepare.station.home_network_prefixes == ("2001:db8:1:1::/64",)
    assert _accept(mag, home_network_prefix="2001:db8:1:1::/64") == []  # already prepared
    assert mag.next_deadline() == T0.monotonic + 10.0
    assert mag.handle(TimerFired(), T0.after(9.9)) == []
    [withdraw] = mag.handle(TimerFired(), T0.after(10.0))
    assert type(withdraw) is WithdrawDownlink
    assert withdraw.station == prepare.station
    assert mag.next_deadline() is None


def test_a_registration_takes_a_prepared_downlink_over_and_withdraws_what_differs() -> None:
    from netlmm_aaa.core.events import MobilityMessageReceived
    from netlmm_aaa.core.messages import ProxyBindingAcknowledgement
    from netlmm_aaa.core.options import HomeNetworkPrefixOption

    mag = _mag(ipv4=False)
    _accept(mag, home_network_prefix="2001:db8:1:1::/64")
    [pbu] = _pbus(list(mag.handle(_report(StationEventKind.AUTHENTICATED), T0)))
    # Past the deadline, a registration under way keeps what was prepared (the PBU goes again).
    later = mag.handle(TimerFired(), T0.after(11))
    assert not [a for a in later if type(a) is WithdrawDownlink]
    [pbu] = _pbus(list(later))
    granted = HomeNetworkPrefixOption.from_network("2001:db8:1:2::/64")
    echoed = tuple(o for o in pbu.message.options if type(o).__name__ in (
        "MobileNodeIdentifierOption", "HandoffIndicatorOption", "AccessTechnologyTypeOption",
        "MobileNodeLinkLayerIdentifierOption"))  # fmt: skip
    pba = ProxyBindingAcknowledgement(0, pbu.message.sequence, 3600 // 4,
                                      options=(*echoed, granted))  # fmt: skip
    answer = MobilityMessageReceived(message=pba, source="2001:db8::100", destination="2001:db8::1")
    actions = mag.handle(answer, T0.after(11))
    kinds = [type(a) for a in actions if type(a) in (WithdrawDownlink, InstallStationRoutes)]
    assert kinds == [WithdrawDownlink, InstallStationRoutes]
    [withdraw] = [a for a in actions if type(a) is WithdrawDownlink]
    assert withdraw.station.home_network_prefixes == ("2001:db8:1:1::/64",)
    assert mag.station_state(MAC) is StationState.REGISTERED
