"""The MAG core against the LMA core, through the codec (MagLmaPair)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlmm_aaa.core.actions import (
    DeauthenticateStation,
    InstallStationRoutes,
    RecordAudit,
    RemoveStationRoutes,
    SendMessage,
)
from netlmm_aaa.core.events import MobilityMessageReceived, StationAttached, StationDetached
from netlmm_aaa.core.lma import BindingState
from netlmm_aaa.core.messages import (
    Heartbeat,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    find_option,
)
from netlmm_aaa.core.mag_policy import MagPolicy
from netlmm_aaa.core.mobile_access_gateway import MobileAccessGateway, StationState
from netlmm_aaa.core.lma_policy import TunnelMode
from netlmm_aaa.core.options import (
    GreKeyOption,
    HandoffIndicatorOption,
    HomeNetworkPrefixOption,
    MobileNodeIdentifierOption,
    RestartCounterOption,
)
from netlmm_aaa.wire.mobility_header import decode_mobility_header, encode_mobility_header
from tests.conftest import VECTORS
from tests.lma_support import LMAA, T0
from tests.mag_lma_pair import ALICE, MN_MAC, make_pair


def _of(effects, kind):  # type: ignore[no-untyped-def]
    return [(who, a) for who, a in effects if type(a) is kind]


def _pbus(pair) -> list[ProxyBindingUpdate]:  # type: ignore[no-untyped-def]
    return [a.message for who, a in pair.log
            if type(a) is SendMessage and type(a.message) is ProxyBindingUpdate]  # fmt: skip


def test_attach_registers_and_installs_routes() -> None:
    pair = make_pair()
    effects = pair.attach("mag1")
    [(who, install)] = _of(effects, InstallStationRoutes)
    assert who == "mag1"
    binding = pair.lma.binding(ALICE)
    assert binding is not None
    assert install.station.home_network_prefixes == binding.home_network_prefixes
    assert install.station.ipv4_home_address == binding.ipv4_home_address
    assert install.station.mac == MN_MAC
    assert pair.mags["mag1"].station_state(MN_MAC) is StationState.REGISTERED
    [pbu] = _pbus(pair)
    assert find_option(pbu, HandoffIndicatorOption) == HandoffIndicatorOption(3)
    assert find_option(pbu, MobileNodeIdentifierOption) == MobileNodeIdentifierOption(ALICE)


def test_gre_keys_are_negotiated_in_the_rfc_5845_directions() -> None:
    """The MAG names a downlink key per station in its PBU; the LMA's PBA returns the uplink
    key; the station's routes carry both, matching the LMA's binding. A handover to the other
    MAG installs its own downlink key and the same uplink key; each station has its own key."""
    pair = make_pair({"tunnel_mode": TunnelMode.GRE}, gre=True)
    effects = pair.attach("mag1")
    [(_, install)] = _of(effects, InstallStationRoutes)
    [pbu] = _pbus(pair)
    sent = find_option(pbu, GreKeyOption)
    binding = pair.lma.binding(ALICE)
    assert sent is not None and binding is not None
    assert install.station.gre_key_downlink == sent.key == binding.gre_key_downlink
    assert install.station.gre_key_uplink == binding.gre_key_uplink is not None
    other = pair.attach("mag1", mac="02:88:00:00:aa:02", mn_id=b"bob@example.org")
    [(_, second)] = _of(other, InstallStationRoutes)
    assert second.station.gre_key_downlink != install.station.gre_key_downlink
    pair.now = pair.now.after(5)
    [(who, at_mag2)] = _of(pair.attach("mag2"), InstallStationRoutes)
    after = pair.lma.binding(ALICE)
    assert who == "mag2" and after is not None and after.mag == "mag2"
    assert at_mag2.station.gre_key_downlink == after.gre_key_downlink
    assert at_mag2.station.gre_key_uplink == install.station.gre_key_uplink


def test_a_gre_pba_without_an_uplink_key_fails_the_registration() -> None:
    pair = make_pair(gre=True)  # the LMA runs ip6ip6: it answers 2 and returns no key
    effects = pair.attach("mag1")
    assert _of(effects, InstallStationRoutes) == []
    assert pair.mags["mag1"].station_state(MN_MAC) is None
    dropped = [a for _, a in pair.log if type(a) is RecordAudit and a.kind == "pba_dropped"]
    assert dropped and dropped[0].fields["reason"] == "GRE mode: no uplink GRE key"


def test_reauthentication_sends_nothing() -> None:
    pair = make_pair()
    pair.attach("mag1")
    assert pair.attach("mag1") == []
    assert len(_pbus(pair)) == 1


def test_refresh_before_expiry() -> None:
    pair = make_pair(lifetime=100)
    pair.attach("mag1")
    assert not pair.tick(79)
    pair.tick(2)  # 80% of 100 s passed: a refresh goes out and is accepted
    pbus = _pbus(pair)
    assert len(pbus) == 2
    assert find_option(pbus[1], HandoffIndicatorOption) == HandoffIndicatorOption(5)
    assert pair.mags["mag1"].station_state(MN_MAC) is StationState.REGISTERED
    pair.tick(70)  # past the first lifetime: the refresh kept the binding
    assert pair.lma.binding_state(ALICE) is BindingState.ACTIVE


def test_detach_deregisters() -> None:
    pair = make_pair()
    pair.attach("mag1")
    effects = pair.deliver("mag1", pair.mags["mag1"].handle(StationDetached(mac=MN_MAC), pair.now))
    assert _of(effects, RemoveStationRoutes)
    assert _pbus(pair)[-1].lifetime == 0
    assert pair.mags["mag1"].station_state(MN_MAC) is None
    assert pair.lma.binding_state(ALICE) is BindingState.DEREGISTERED


def test_handover_moves_binding_and_old_mag_deauthenticates() -> None:
    pair = make_pair()
    pair.attach("mag1")
    prefix = pair.lma.binding(ALICE).home_network_prefixes  # type: ignore[union-attr]
    pair.now = pair.now.after(5)
    effects = pair.attach("mag2")
    assert [(w, a.mac) for w, a in _of(effects, DeauthenticateStation)] == [("mag1", MN_MAC)]
    assert [w for w, _ in _of(effects, RemoveStationRoutes)] == ["mag1"]
    [(who, install)] = _of(effects, InstallStationRoutes)
    assert who == "mag2"
    assert install.station.home_network_prefixes == prefix  # the address survives the move
    assert pair.mags["mag1"].station_state(MN_MAC) is None
    assert pair.mags["mag2"].station_state(MN_MAC) is StationState.REGISTERED
    assert pair.lma.binding(ALICE).mag == "mag2"  # type: ignore[union-attr]


def test_lost_pbus_are_retransmitted_with_backoff_then_given_up() -> None:
    pair = make_pair(max_retransmissions=3)
    pair.drop = lambda who, send: type(send.message) is ProxyBindingUpdate
    pair.attach("mag1")
    times = []
    for _ in range(40):
        before = len(_pbus(pair))
        pair.tick(0.5)
        if len(_pbus(pair)) > before:
            times.append(pair.now.monotonic)
    pbus = _pbus(pair)
    assert len(pbus) == 4  # the first and 3 retransmissions
    assert len({p.sequence for p in pbus}) == 4  # each with a new sequence number
    gaps = [round(b - a, 1) for a, b in zip(times, times[1:], strict=False)]
    assert gaps == [2.0, 4.0]  # 1 s, then doubling
    assert pair.mags["mag1"].station_state(MN_MAC) is None
    assert any(a.kind == "pbu_unanswered" for w, a in pair.log if type(a) is RecordAudit)


def test_forged_or_mismatched_pbas_are_dropped() -> None:
    pair = make_pair()
    pair.drop = lambda who, send: who == "mag1"  # the real PBU never reaches the LMA
    pair.attach("mag1")
    pbu = _pbus(pair)[0]
    mag = pair.mags["mag1"]
    good_options = tuple(o for o in pbu.options if type(o).__name__ != "TimestampOption")
    cases = [
        (ProxyBindingAcknowledgement(0, pbu.sequence + 1, 900, 0x20, good_options), LMAA),
        (ProxyBindingAcknowledgement(0, pbu.sequence, 900, 0x20, good_options), "2001:db8:ff::99"),
        (ProxyBindingAcknowledgement(0, pbu.sequence, 900, 0x00, good_options), LMAA),
        (ProxyBindingAcknowledgement(0, pbu.sequence, 900, 0x20,
                                     (MobileNodeIdentifierOption(b"mallory@example.org"),)), LMAA),
    ]  # fmt: skip
    for pba, source in cases:
        actions = mag.handle(
            MobilityMessageReceived(message=pba, source=source, destination="2001:db8:ff::11"),
            pair.now,
        )
        assert [a.kind for a in actions] == ["pba_dropped"]  # type: ignore[union-attr]
        assert mag.station_state(MN_MAC) is StationState.REGISTERING


def test_lma_restart_makes_the_mag_reregister() -> None:
    pair = make_pair()
    pair.attach("mag1")
    mag = pair.mags["mag1"]
    for counter in (1, 2):
        response = Heartbeat(7, True, False, (RestartCounterOption(counter),))
        pair.deliver("mag1", mag.handle(
            MobilityMessageReceived(message=response, source=LMAA, destination="2001:db8:ff::11"),
            pair.now))  # fmt: skip
    pbus = _pbus(pair)
    assert len(pbus) == 2
    assert find_option(pbus[1], HandoffIndicatorOption) == HandoffIndicatorOption(5)
    assert mag.station_state(MN_MAC) is StationState.REGISTERED


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.just("attach"), st.sampled_from(["mag1", "mag2"])),
    st.tuples(st.just("detach"), st.sampled_from(["mag1", "mag2"])),
    st.tuples(st.just("time"), st.sampled_from([0.5, 3.0, 11.0, 3000.0])),
), max_size=25))  # fmt: skip
def test_one_serving_mag_and_consistent_state(steps: list[tuple[str, object]]) -> None:
    pair = make_pair()
    for kind, arg in steps:
        if kind == "attach":
            pair.attach(arg)  # type: ignore[arg-type]
        elif kind == "detach":
            pair.deliver(arg, pair.mags[arg].handle(StationDetached(mac=MN_MAC), pair.now))  # type: ignore[index,arg-type]
        else:
            pair.tick(arg)  # type: ignore[arg-type]
        registered = [
            n for n, m in pair.mags.items() if m.station_state(MN_MAC) is StationState.REGISTERED
        ]
        assert len(registered) <= 1, "two MAGs serve the node"
        if registered and pair.lma.binding_state(ALICE) is BindingState.ACTIVE:
            assert pair.lma.binding(ALICE).mag == registered[0]  # type: ignore[union-attr]


# In the hardening suite (security-tests.md F1 (loss: retransmission with backoff), W8 (forged PBAs)).
pytestmark = pytest.mark.hardening


def test_dhcp_lease_only_for_a_registered_station_on_its_own_link() -> None:
    """The DHCPv4 server's lease: the IPv4 home address and length the PBA carried, only while
    the binding is in place here, and the same address at the next MAG after a handover."""
    pair = make_pair()
    assert pair.mags["mag1"].lease(MN_MAC, "acc0") is None  # not attached
    pair.attach("mag1")
    binding = pair.lma.binding(ALICE)
    assert binding is not None
    assert binding.ipv4_home_address is not None
    lease = pair.mags["mag1"].lease(MN_MAC, "acc0")
    assert lease is not None
    assert (lease.address, lease.prefix_length) == (binding.ipv4_home_address, 24)
    assert pair.mags["mag1"].lease(MN_MAC, "acc1") is None  # another access link
    assert pair.mags["mag1"].lease("02:00:00:00:99:99", "acc0") is None
    pair.now = pair.now.after(5)
    pair.attach("mag2")
    assert pair.mags["mag1"].lease(MN_MAC, "acc0") is None  # revoked at the old MAG
    moved = pair.mags["mag2"].lease(MN_MAC, "acc0")
    assert moved == lease
    pair.deliver("mag2", pair.mags["mag2"].handle(StationDetached(mac=MN_MAC), pair.now))
    assert pair.mags["mag2"].lease(MN_MAC, "acc0") is None


@pytest.mark.hardening
def test_a_move_between_two_access_links_of_one_mag_moves_the_routes_not_the_binding() -> None:
    """Issue 22 (5): the station re-attaches on another NAS/interface of the same MAG: its
    routes (and so its source filter and RAs) follow it to the new link, no PBU is needed
    (the binding names this MAG either way), and the move is in the audit trail."""
    pair = make_pair()
    pair.attach("mag1")
    before = pair.lma.binding(ALICE)
    mag = pair.mags["mag1"]
    moved = StationAttached(mac=MN_MAC, mn_id=ALICE, interface="acc1", ap="ap-7")
    effects = pair.deliver("mag1", mag.handle(moved, pair.now))
    kinds = [type(a) for _, a in effects]
    assert kinds == [RemoveStationRoutes, InstallStationRoutes, RecordAudit]
    removed, installed = effects[0][1].station, effects[1][1].station
    assert (removed.interface, installed.interface) == ("acc0", "acc1")
    assert installed.home_network_prefixes == removed.home_network_prefixes
    assert effects[2][1].kind == "station_moved"
    assert len(_pbus(pair)) == 1  # only the first registration's
    assert pair.lma.binding(ALICE) == before
    assert mag.station(MN_MAC).interface == "acc1"  # type: ignore[union-attr]


@pytest.mark.hardening
def test_the_old_links_disconnect_does_not_detach_a_station_that_moved() -> None:
    """Issue 22 (5): hostapd of the link the station left reports it gone, late."""
    from netlmm_aaa.core.events import StationEvent, StationEventKind
    from netlmm_aaa.core.station_intake import ConfirmedStation, StationIntake
    from tests.lma_support import T0

    intake = StationIntake("mag1")
    ok = ConfirmedStation(mac=MN_MAC, authorized=True, identity="alice@example.org")
    intake.on_hostapd(StationEvent(kind=StationEventKind.AUTHORIZED, mac=MN_MAC), ok, "acc0", T0)
    out = intake.on_hostapd(StationEvent(kind=StationEventKind.AUTHORIZED, mac=MN_MAC), ok, "acc1", T0)
    assert [getattr(o, "interface", None) for o in out] == ["acc1"]
    gone = StationEvent(kind=StationEventKind.DISCONNECTED, mac=MN_MAC)
    assert intake.on_hostapd(gone, None, "acc0", T0) == []
    assert intake.attached(MN_MAC) == ALICE
    assert intake.on_hostapd(gone, None, "acc1", T0) == [StationDetached(mac=MN_MAC)]


def _opmip_zero_prefix_pba() -> ProxyBindingAcknowledgement:
    lines = (VECTORS / "pba_opmip_zero_prefix.hex").read_text().splitlines()
    data = bytes.fromhex("".join(line for line in lines if not line.startswith("#")))
    src, dst = (ipaddress.IPv6Address(a).packed for a in ("2001:db8:2::1", "2001:db8:2::2"))
    message = decode_mobility_header(data, source=src, destination=dst)
    assert type(message) is ProxyBindingAcknowledgement
    return message


@pytest.mark.parametrize(
    ("prefix", "length", "reason"),
    [
        (None, None, "no usable home network prefix: ::/0"),  # the OPMIP capture as it is
        ("2001:db8:44::", 96, "home network prefix 2001:db8:44::/96: length outside 32..64"),
        ("2001:db8:44::", 64, None),
    ],
)
def test_a_pba_granting_no_usable_prefix_is_a_failure(
    prefix: str | None, length: int | None, reason: str | None
) -> None:
    """Issue 23 (6): OPMIP's LMA answers our ALL_ZERO request with status 0 and ``::/0``;
    advertised on-link and routed, it would pull all of the node's traffic to its access link.
    Such a PBA (or one with a prefix length outside the configured bounds) programs nothing,
    is audited with its reason, and the station is not registered."""
    mag = MobileAccessGateway(MagPolicy(name="mag1", proxy_coa="2001:db8:2::2",
                                        lma_address="2001:db8:2::1", ipv4=False,
                                        access_technology=3))  # fmt: skip
    sent = mag.handle(StationAttached(mac="02:00:00:00:aa:01", mn_id=b"alice@iop.example",
                                      interface="acc0"), T0)  # fmt: skip
    [pbu] = [a.message for a in sent if type(a) is SendMessage]
    assert type(pbu) is ProxyBindingUpdate
    pba = _opmip_zero_prefix_pba()._replace(sequence=pbu.sequence)
    if prefix is not None:
        options = tuple(
            HomeNetworkPrefixOption(ipaddress.IPv6Address(prefix).packed, length or 0)
            if type(o) is HomeNetworkPrefixOption else o
            for o in pba.options
        )  # fmt: skip
        pba = pba._replace(options=options)
    out = mag.handle(MobilityMessageReceived(message=pba, source="2001:db8:2::1",
                                             destination="2001:db8:2::2"), T0.after(0.01))  # fmt: skip
    installed = [a for a in out if type(a) is InstallStationRoutes]
    dropped = [a for a in out if type(a) is RecordAudit and a.kind == "pba_dropped"]
    if reason is None:
        assert len(installed) == 1 and not dropped
        assert mag.station_state("02:00:00:00:aa:01") is StationState.REGISTERED
        return
    assert installed == []
    assert [a.fields["reason"] for a in dropped] == [reason]
    assert any(type(a) is RecordAudit and a.kind == "registration_rejected" for a in out)
    assert mag.station_state("02:00:00:00:aa:01") is None


def test_the_restart_announcement_goes_to_every_lma_but_the_quiet_ones() -> None:
    """Issue 23 (5, 6): after a restart every LMA the MAG may register with hears its Restart
    Counter (each may hold bindings from before), except those configured without heartbeats."""
    from netlmm_aaa.core.lma_selection import LmaSelection

    selection = (LmaSelection(realm="guest.example", lma_address="2001:db8:ff::2"),
                 LmaSelection(realm="iot.example", lma_address="2001:db8:ff::3"))  # fmt: skip
    policy = MagPolicy(name="mag1", proxy_coa="2001:db8:ff::11", lma_address=LMAA,
                       lma_selection=selection, restart_counter=7)  # fmt: skip
    every = MobileAccessGateway(policy).announce_restart(T0)
    assert [a.destination for a in every if type(a) is SendMessage] == [
        LMAA, "2001:db8:ff::2", "2001:db8:ff::3"]  # fmt: skip
    assert all(a.message == Heartbeat(0, True, True, (RestartCounterOption(7),))
               for a in every if type(a) is SendMessage)  # fmt: skip
    quiet = MagPolicy(name="mag1", proxy_coa="2001:db8:ff::11", lma_address=LMAA,
                      lma_selection=selection, quiet_lmas=frozenset({LMAA, "2001:db8:ff::3"}))  # fmt: skip
    sends = [a for a in MobileAccessGateway(quiet).announce_restart(T0) if type(a) is SendMessage]
    assert [a.destination for a in sends] == ["2001:db8:ff::2"]


def test_router_advertisements_are_refreshed_and_answer_solicitations() -> None:
    """Issue 23 (1): a registered station gets a fresh RA every third of the router lifetime
    (well before it ends) and at once when it solicits one; a solicitation from a station we
    do not serve, or on another interface, gets nothing; an RS without a source link-layer
    address answers every registered station of that interface; none after it leaves."""
    from netlmm_aaa.core.actions import AdvertiseRouter
    from netlmm_aaa.core.events import RouterSolicited

    pair = make_pair(router_lifetime=30)
    pair.attach("mag1")
    pair.attach("mag1", mac="02:88:00:00:aa:02", mn_id=b"bob@example.org")
    mag = pair.mags["mag1"]
    assert mag.next_deadline() == pytest.approx(pair.now.monotonic + 10)  # the runner's timer

    def advertised(effects) -> list[str]:  # type: ignore[no-untyped-def]
        return sorted(a.station.mac for who, a in effects if type(a) is AdvertiseRouter)

    assert advertised(pair.tick(9)) == []
    assert advertised(pair.tick(1.5)) == [MN_MAC, "02:88:00:00:aa:02"]  # at 10 s = 30 / 3
    ra = [a for _, a in pair.tick(10) if type(a) is AdvertiseRouter][0]
    assert ra.station.home_network_prefixes == pair.lma.binding(ALICE).home_network_prefixes  # type: ignore[union-attr]
    now = pair.now.after(1)
    answer = mag.handle(RouterSolicited(interface="acc0", mac=MN_MAC), now)
    assert [a.station.mac for a in answer if type(a) is AdvertiseRouter] == [MN_MAC]
    # A burst of solicitations gets one answer a second.
    assert mag.handle(RouterSolicited(interface="acc0", mac=MN_MAC), now.after(0.1)) == []
    now = now.after(1.1)
    assert mag.handle(RouterSolicited(interface="acc0", mac="02:88:00:00:ee:ee"), now) == []
    assert mag.handle(RouterSolicited(interface="acc1", mac=MN_MAC), now) == []
    anonymous = mag.handle(RouterSolicited(interface="acc0", mac=None), now)
    assert len([a for a in anonymous if type(a) is AdvertiseRouter]) == 2
    pair.deliver("mag1", mag.handle(StationDetached(mac=MN_MAC), pair.now.after(2)))
    assert advertised(pair.tick(13)) == ["02:88:00:00:aa:02"]
    assert mag.handle(RouterSolicited(interface="acc0", mac=MN_MAC), pair.now) == []


def test_an_lma_restart_announcement_re_registers_that_lmas_stations_only() -> None:
    """Issue 23 (4): the MAG keeps a restart counter per LMA. An unsolicited Heartbeat
    response (an LMA announces only a restart that may have lost state) re-registers the
    stations registered through that LMA, even when its counter was never heard before; the
    same announcement again, or one from another LMA, re-registers nothing."""
    pair = make_pair()
    pair.attach("mag1")
    mag = pair.mags["mag1"]

    def announce(source: str, counter: int) -> None:
        response = Heartbeat(0, True, True, (RestartCounterOption(counter),))
        pair.deliver("mag1", mag.handle(
            MobilityMessageReceived(message=response, source=source, destination="2001:db8:ff::11"),
            pair.now))  # fmt: skip

    announce("2001:db8:ff::2", 5)  # another LMA: none of ours is registered there
    assert len(_pbus(pair)) == 1
    announce(LMAA, 9)
    pbus = _pbus(pair)
    assert len(pbus) == 2 and find_option(pbus[1], HandoffIndicatorOption) == HandoffIndicatorOption(5)
    assert mag.station_state(MN_MAC) is StationState.REGISTERED
    announce(LMAA, 9)  # the same announcement again
    assert len(_pbus(pair)) == 2


def test_stations_register_again_at_a_pace_after_an_lma_restart() -> None:
    """Issue 23 (4): after an LMA restart its stations register again a burst at a time, the
    next burst on the runner's timer, so that thousands do not overflow the sockets at once."""
    pair = make_pair(reregister_burst=2, reregister_interval=0.05)
    macs = [f"02:88:00:00:bb:0{i}" for i in range(5)]
    for i, mac in enumerate(macs):
        pair.attach("mag1", mac=mac, mn_id=f"n{i}@example.org".encode())
    mag = pair.mags["mag1"]
    before = len(_pbus(pair))
    response = Heartbeat(0, True, True, (RestartCounterOption(3),))
    pair.deliver("mag1", mag.handle(
        MobilityMessageReceived(message=response, source=LMAA, destination="2001:db8:ff::11"),
        pair.now))  # fmt: skip
    assert len(_pbus(pair)) - before == 2
    assert mag.next_deadline() == pytest.approx(pair.now.monotonic + 0.05)
    pair.tick(0.05)
    assert len(_pbus(pair)) - before == 4
    pair.tick(0.05)
    assert len(_pbus(pair)) - before == 5
    pair.tick(0.05)
    assert len(_pbus(pair)) - before == 5
    assert all(mag.station_state(mac) is StationState.REGISTERED for mac in macs)


def test_an_ipv4_lma_is_reached_over_udp_5436_and_tunnels_to_the_pbus_ipv4_source() -> None:
    """RFC 5844 §4: a MAG configured with an IPv4 LMA sends its PBUs and restart announcement
    as IPv4 / UDP 5436 (MH checksum 0); the LMA grants the binding with its tunnel ending at
    the IPv4 source of the PBU (the IPv4-Proxy-CoA), and the MAG takes the PBA from that LMA
    only."""
    from netlmm_aaa.core.events import Transport
    from tests.lma_support import MAG1_V4, make_lma

    lma_v4 = "192.0.2.1"
    mag = MobileAccessGateway(MagPolicy(name="mag1", proxy_coa=None, ipv4_proxy_coa=MAG1_V4,
                                        lma_address=lma_v4, ipv4=False))  # fmt: skip
    [announce] = [a for a in mag.announce_restart(T0) if type(a) is SendMessage]
    assert (announce.destination, announce.transport) == (lma_v4, Transport.UDP4)
    sent = [a for a in mag.handle(StationAttached(mac=MN_MAC, mn_id=ALICE, interface="acc0"), T0)
            if type(a) is SendMessage]  # fmt: skip
    [send] = sent
    assert (send.destination, send.transport, send.destination_port) == (
        lma_v4, Transport.UDP4, 5436)  # fmt: skip
    wire = encode_mobility_header(send.message)  # the UDP framing: no pseudo-header
    assert wire[4:6] == b"\0\0"
    lma = make_lma()
    received = MobilityMessageReceived(message=decode_mobility_header(wire), source=MAG1_V4,
                                       destination=lma_v4, transport=Transport.UDP4,
                                       source_port=5436)  # fmt: skip
    answers = lma.handle(received, T0)
    [reply] = [a for a in answers if type(a) is SendMessage]
    assert (reply.destination, reply.transport, reply.destination_port) == (
        MAG1_V4, Transport.UDP4, 5436)  # fmt: skip
    binding = lma.binding(ALICE)
    assert binding is not None and binding.proxy_coa == MAG1_V4  # not the peer's IPv6 address
    pba = decode_mobility_header(encode_mobility_header(reply.message))
    stranger = mag.handle(MobilityMessageReceived(message=pba, source="192.0.2.99",
                                                  destination=MAG1_V4, transport=Transport.UDP4,
                                                  source_port=5436), T0)  # fmt: skip
    assert not [a for a in stranger if type(a) is InstallStationRoutes]
    accepted = mag.handle(MobilityMessageReceived(message=pba, source=lma_v4,
                                                  destination=MAG1_V4, transport=Transport.UDP4,
                                                  source_port=5436), T0)  # fmt: skip
    [install] = [a for a in accepted if type(a) is InstallStationRoutes]
    assert install.station.lma_address == lma_v4
    assert install.station.home_network_prefixes == binding.home_network_prefixes


def test_a_profile_naming_an_lma_of_a_family_we_cannot_reach_sends_nothing() -> None:
    """A RADIUS profile (RFC 6572) may name an IPv4 LMA to a MAG without an IPv4 Proxy-CoA
    (or the reverse): the registration is refused and audited, no PBU is sent."""
    mag = MobileAccessGateway(MagPolicy(name="mag1", proxy_coa="2001:db8:ff::11",
                                        lma_address=LMAA, ipv4=False))  # fmt: skip
    out = mag.handle(StationAttached(mac=MN_MAC, mn_id=ALICE, interface="acc0",
                                     lma_address="192.0.2.1"), T0)  # fmt: skip
    assert [a for a in out if type(a) is SendMessage] == []
    [refused] = [a for a in out if type(a) is RecordAudit]
    assert refused.kind == "registration_rejected"
    assert "192.0.2.1 is IPv4" in refused.fields["reason"]
    assert mag.station_state(MN_MAC) is None
