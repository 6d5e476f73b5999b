"""Every binding cache transition of the LMA core, plus heartbeats, revocation and restore."""

from __future__ import annotations

from dataclasses import replace

import pytest

from netlmm_aaa.core.actions import DeleteStoredBinding, StoreBinding
from netlmm_aaa.core.codes import RevocationTrigger
from netlmm_aaa.core.errors import InvalidTransition
from netlmm_aaa.core.events import (
    MalformedPacketReceived,
    RevocationRequested,
    TimerFired,
    Transport,
)
from netlmm_aaa.core.lma import BindingEntry, BindingInput, BindingState
from netlmm_aaa.core.messages import (
    BindingError,
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    Heartbeat,
    find_option,
)
from netlmm_aaa.core.options import (
    HomeNetworkPrefixOption,
    IPv4DefaultRouterAddressOption,
    IPv4HomeAddressReplyOption,
    IPv4HomeAddressRequestOption,
    MobileNodeIdentifierOption,
    RestartCounterOption,
)
from netlmm_aaa.dataplane.port import routes_of
from tests.lma_support import (
    ALICE,
    BOB,
    MAG1,
    MAG1_ADDR,
    MAG2,
    MAG2_ADDR,
    T0,
    audits,
    installs,
    make_lma,
    of_type,
    pba,
    pbu,
    receive,
    removals,
    sent,
)


def _timers(lma, now):  # type: ignore[no-untyped-def]
    return lma.handle(TimerFired(), now)


def _prefix(lma, mn=ALICE) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    binding = lma.binding(mn)
    assert binding is not None
    return binding.home_network_prefixes


def test_registration_installs_routes_stores_and_audits() -> None:
    lma = make_lma()
    actions = receive(lma, pbu())
    assert pba(actions).status == 0
    [install] = installs(actions)
    assert install.binding.proxy_coa == MAG1_ADDR
    assert install.previous_proxy_coa is None
    assert of_type(actions, StoreBinding)[0].binding == install.binding
    assert audits(actions, "binding_created")
    assert audits(actions, "pbu")[0].fields["status"] == 0
    assert lma.binding_state(ALICE) is BindingState.ACTIVE


def test_refresh_extends_lifetime_without_touching_routes() -> None:
    lma = make_lma()
    receive(lma, pbu(sequence=1, lifetime=15))
    first = lma.binding(ALICE)
    actions = receive(lma, pbu(sequence=2, lifetime=30, hi=5), now=T0.after(50))
    assert pba(actions).status == 0
    assert not installs(actions)
    second = lma.binding(ALICE)
    assert second is not None and first is not None
    assert second.lifetime == 120
    assert second.home_network_prefixes == first.home_network_prefixes
    # Without the refresh it would have expired at t+60; now it lives to t+50+120.
    assert not _timers(lma, T0.after(100))
    assert lma.binding_state(ALICE) is BindingState.ACTIVE


def test_handover_moves_routes_keeps_prefix_and_revokes_old_mag() -> None:
    lma = make_lma()
    receive(lma, pbu(sequence=1))
    prefix = _prefix(lma)
    actions = receive(lma, pbu(sequence=1, hi=3), source=MAG2_ADDR, now=T0.after(5))
    reply = pba(actions)
    assert reply.status == 0
    assert find_option(reply, HomeNetworkPrefixOption).network.compressed == prefix[0]  # type: ignore[union-attr]
    [install] = installs(actions)
    assert (install.binding.proxy_coa, install.previous_proxy_coa) == (MAG2_ADDR, MAG1_ADDR)
    assert install.binding.home_network_prefixes == prefix
    assert audits(actions, "handover")[0].fields["from_mag"] == "mag1"
    [bri_send] = [s for s in sent(actions) if type(s.message) is BindingRevocationIndication]
    assert bri_send.destination == MAG1_ADDR
    bri = bri_send.message
    assert bri.trigger == RevocationTrigger.INTER_MAG_HANDOVER_SAME_ACCESS_TYPE  # type: ignore[union-attr]
    assert find_option(bri, MobileNodeIdentifierOption) == MobileNodeIdentifierOption(ALICE)  # type: ignore[arg-type]
    # The old MAG acknowledges; a retransmission timer then finds nothing to do.
    bra = BindingRevocationAcknowledgement(
        0, bri.sequence, 0x8000, (MobileNodeIdentifierOption(ALICE),)
    )  # type: ignore[union-attr]
    acks = receive(lma, bra, source=MAG1_ADDR, now=T0.after(5.01))
    assert audits(acks, "bra_received")
    assert not sent(_timers(lma, T0.after(10)))


def test_unanswered_revocation_is_retransmitted_once_then_audited() -> None:
    lma = make_lma()
    receive(lma, pbu(sequence=1))
    receive(lma, pbu(sequence=1, hi=3), source=MAG2_ADDR)
    again = _timers(lma, T0.after(1.01))
    assert [type(s.message) for s in sent(again)] == [BindingRevocationIndication]
    final = _timers(lma, T0.after(2.02))
    assert not sent(final)
    assert audits(final, "bri_unanswered")


def test_unknown_handoff_waits_for_old_mag_deregistration() -> None:
    lma = make_lma()
    receive(lma, pbu(sequence=1))
    prefix = _prefix(lma)
    waiting = receive(lma, pbu(sequence=1, hi=4), source=MAG2_ADDR, now=T0.after(1))
    assert not [
        s for s in sent(waiting) if type(s.message).__name__ == "ProxyBindingAcknowledgement"
    ]
    assert audits(waiting, "handover_deferred")
    dereg = receive(lma, pbu(sequence=2, lifetime=0), source=MAG1_ADDR, now=T0.after(1.2))
    replies = [s for s in sent(dereg) if type(s.message).__name__ == "ProxyBindingAcknowledgement"]
    assert [(s.destination, s.message.status, s.message.lifetime) for s in replies] == [  # type: ignore[union-attr]
        (MAG1_ADDR, 0, 0),
        (MAG2_ADDR, 0, 900),
    ]
    assert installs(dereg)[0].binding.proxy_coa == MAG2_ADDR
    assert _prefix(lma) == prefix
    assert lma.binding_state(ALICE) is BindingState.ACTIVE


def test_unknown_handoff_times_out_into_a_handover() -> None:
    lma = make_lma()
    receive(lma, pbu(sequence=1))
    receive(lma, pbu(sequence=1, hi=4), source=MAG2_ADDR, now=T0.after(1))
    assert lma.next_deadline() == pytest.approx(T0.monotonic + 2.5)
    actions = _timers(lma, T0.after(2.5))
    assert audits(actions, "handover_wait_expired")
    assert pba(actions).status == 0
    assert installs(actions)[0].binding.proxy_coa == MAG2_ADDR


def test_unknown_handoff_without_wait_is_immediate() -> None:
    lma = make_lma(max_delay_before_new_bce_assign=0)
    receive(lma, pbu(sequence=1))
    actions = receive(lma, pbu(sequence=1, hi=4), source=MAG2_ADDR)
    assert pba(actions).status == 0
    assert installs(actions)[0].binding.proxy_coa == MAG2_ADDR


def test_deregistration_holds_then_deletes_and_prefix_comes_back() -> None:
    lma = make_lma()
    receive(lma, pbu(sequence=5))
    prefix = _prefix(lma)
    actions = receive(lma, pbu(sequence=6, lifetime=0), now=T0.after(1))
    assert pba(actions).lifetime == 0
    assert removals(actions)
    assert lma.binding_state(ALICE) is BindingState.DEREGISTERED
    assert not _timers(lma, T0.after(10.9))
    gone = _timers(lma, T0.after(11.01))
    assert of_type(gone, DeleteStoredBinding)
    assert audits(gone, "binding_deleted")
    assert lma.binding_state(ALICE) is BindingState.ABSENT
    receive(lma, pbu(sequence=1, mn_id=BOB), now=T0.after(12))  # someone else registers
    back = receive(lma, pbu(sequence=7), now=T0.after(20))
    assert pba(back).status == 0
    assert _prefix(lma) == prefix  # sticky: the same prefix after a long absence
    assert _prefix(lma, BOB) != prefix


def test_revival_during_hold_accepts_a_reused_sequence_number() -> None:
    # OPMIP sends the registration after a de-registration with the same sequence number.
    lma = make_lma()
    receive(lma, pbu(sequence=40137))
    receive(lma, pbu(sequence=40137 + 1, lifetime=0), now=T0.after(1))
    actions = receive(lma, pbu(sequence=40138, lifetime=15), now=T0.after(2))
    assert pba(actions).status == 0
    assert audits(actions, "binding_revived")
    assert installs(actions)
    assert lma.binding_state(ALICE) is BindingState.ACTIVE


def test_stray_deregistration_after_handover_moves_nothing() -> None:
    lma = make_lma()
    receive(lma, pbu(sequence=1))
    receive(lma, pbu(sequence=1, hi=3), source=MAG2_ADDR)
    late = receive(lma, pbu(sequence=2, lifetime=0), source=MAG1_ADDR, now=T0.after(0.5))
    assert pba(late).status == 0
    assert not removals(late)
    assert audits(late, "deregistration_ignored")
    binding = lma.binding(ALICE)
    assert binding is not None
    assert binding.mag == "mag2"
    assert lma.binding_state(ALICE) is BindingState.ACTIVE


def test_deregistration_without_binding_is_acknowledged() -> None:
    lma = make_lma()
    actions = receive(lma, pbu(lifetime=0))
    assert pba(actions).status == 0
    assert lma.binding_state(ALICE) is BindingState.ABSENT
    assert len(lma) == 0


def test_expiry_removes_routes_and_the_stored_binding() -> None:
    lma = make_lma()
    receive(lma, pbu(lifetime=15))
    actions = _timers(lma, T0.after(60))
    assert removals(actions)
    assert of_type(actions, DeleteStoredBinding)
    assert audits(actions, "binding_expired")
    assert lma.next_deadline() is None


def test_operator_revocation() -> None:
    lma = make_lma()
    receive(lma, pbu())
    actions = lma.handle(RevocationRequested(mn_id=ALICE), T0.after(3))
    assert removals(actions)
    [bri] = [s for s in sent(actions) if type(s.message) is BindingRevocationIndication]
    assert bri.message.trigger == RevocationTrigger.ADMINISTRATIVE_REASON  # type: ignore[union-attr]
    assert audits(actions, "binding_revoked")
    assert lma.binding_state(ALICE) is BindingState.ABSENT
    assert audits(lma.handle(RevocationRequested(mn_id=ALICE), T0.after(4)), "revocation_failed")


def test_ipv4_home_address_and_default_router_in_pba() -> None:
    lma = make_lma()
    actions = receive(lma, pbu(extra=(IPv4HomeAddressRequestOption(),)))
    reply = pba(actions)
    hoa = find_option(reply, IPv4HomeAddressReplyOption)
    assert hoa is not None
    assert hoa.prefix_length == 24
    router = find_option(reply, IPv4DefaultRouterAddressOption)
    assert router is not None
    assert str(router.ipv4_address) == "203.0.113.1"
    binding = lma.binding(ALICE)
    assert binding is not None
    assert binding.ipv4_home_address == str(hoa.ipv4_address)
    # The same address after a handover, and the MAG may ask for it explicitly.
    again = receive(
        lma,
        pbu(sequence=2, hi=3, extra=(IPv4HomeAddressRequestOption(hoa.address, 24),)),
        source=MAG2_ADDR,
    )
    assert find_option(pba(again), IPv4HomeAddressReplyOption) == hoa


def test_ipv4_pool_never_assigns_network_broadcast_or_router_address() -> None:
    lma = make_lma(ipv4_pool="203.0.113.0/30", ipv4_default_router="203.0.113.1")
    first = find_option(pba(receive(lma, pbu(extra=(IPv4HomeAddressRequestOption(),)))),
                        IPv4HomeAddressReplyOption)  # fmt: skip
    assert first is not None and str(first.ipv4_address) == "203.0.113.2"
    second = pba(
        receive(lma, pbu(mn_id=b"bob@example.org", extra=(IPv4HomeAddressRequestOption(),)))
    )
    # .0 (network), .1 (router) and .3 (broadcast) are never handed out: the pool is empty.
    reply = find_option(second, IPv4HomeAddressReplyOption)
    assert reply is not None and reply.status == 132  # dynamic assignment not available
    assert second.status == 130  # insufficient resources


def test_heartbeats_requests_answers_missing_and_restart() -> None:
    lma = make_lma(heartbeat_interval=30, restart_counter=4, missing_heartbeats_allowed=1)
    receive(lma, pbu())
    # Requests are answered with our restart counter.
    answer = receive(lma, Heartbeat(9, False), now=T0.after(1))
    [reply] = sent(answer)
    assert reply.message == Heartbeat(9, True, False, (RestartCounterOption(4),))
    # Periodic requests; the peer answers the first with counter 1.
    first = _timers(lma, T0.after(30))
    [request] = sent(first)
    assert request.message.response is False  # type: ignore[union-attr]
    seq = request.message.sequence  # type: ignore[union-attr]
    receive(lma, Heartbeat(seq, True, False, (RestartCounterOption(1),)), now=T0.after(30.1))
    # Two unanswered requests: unreachable (MISSING_HEARTBEATS_ALLOWED = 1).
    _timers(lma, T0.after(60))
    marked = _timers(lma, T0.after(90)) + _timers(lma, T0.after(120))
    assert audits(marked, "peer_unreachable")
    # The MAG comes back with a new restart counter: its bindings are released.
    restarted = receive(
        lma, Heartbeat(0, True, True, (RestartCounterOption(2),)), now=T0.after(121)
    )
    assert audits(restarted, "peer_restarted")
    assert audits(restarted, "binding_released_peer_restart")
    assert removals(restarted)
    assert lma.binding_state(ALICE) is BindingState.ABSENT


def test_binding_error_stops_heartbeats() -> None:
    lma = make_lma(heartbeat_interval=30)
    receive(lma, pbu())
    receive(lma, BindingError(2), now=T0.after(1))
    assert not sent(_timers(lma, T0.after(30)))


def test_malformed_packets_are_only_audited() -> None:
    lma = make_lma()
    receive(lma, pbu())
    before = lma.bindings()
    actions = lma.handle(
        MalformedPacketReceived(source=MAG1_ADDR, transport=Transport.IPV6, reason="bad", length=9),
        T0,
    )
    assert [a.kind for a in actions] == ["malformed_packet"]  # type: ignore[union-attr]
    assert actions[0].fields["known_peer"] is True  # type: ignore[union-attr]
    assert lma.bindings() == before


def test_restore_reinstalls_live_bindings_and_drops_dead_ones() -> None:
    lma = make_lma()
    receive(lma, pbu(lifetime=900))
    receive(lma, pbu(mn_id=BOB, lifetime=1), source=MAG2_ADDR)
    saved = lma.bindings()
    fresh = make_lma()
    actions = fresh.restore(saved, T0.after(10))
    assert [i.binding.mn_id for i in installs(actions)] == [ALICE]
    assert [d.mn_id for d in of_type(actions, DeleteStoredBinding)] == [BOB]
    assert fresh.binding(ALICE) == saved[0]
    quiet = make_lma()  # the daemon reconciles the kernel itself: no route actions, same cache
    quiet_actions = quiet.restore(saved, T0.after(10), install_routes=False)
    assert not installs(quiet_actions)
    assert [d.mn_id for d in of_type(quiet_actions, DeleteStoredBinding)] == [BOB]
    assert quiet.bindings() == fresh.bindings()
    assert quiet.active_routes() == routes_of(i.binding for i in installs(actions))
    assert list(quiet.active_routes()) == list(saved[0].home_network_prefixes) + (
        [f"{saved[0].ipv4_home_address}/32"] if saved[0].ipv4_home_address else []
    )
    # The restored prefix is held: nobody else gets it.
    receive(fresh, pbu(mn_id=b"carol@example.org"), now=T0.after(11))
    assert _prefix(fresh, b"carol@example.org") != _prefix(fresh)
    # And it expires when its remaining lifetime says.
    assert fresh.next_deadline() == pytest.approx(T0.monotonic + 3600)


def test_transition_table_rejects_what_it_does_not_list() -> None:
    lma = make_lma()
    with pytest.raises(InvalidTransition):
        lma._transition(BindingEntry(ALICE), BindingInput.REFRESH, None, T0, [])


@pytest.mark.hardening  # F2: the old MAG's delayed PBU after the handover
def test_replayed_pbu_from_the_previous_mag_cannot_move_the_binding_back() -> None:
    lma = make_lma()
    receive(lma, pbu(sequence=100), source=MAG2_ADDR)
    receive(lma, pbu(sequence=7, hi=3), source=MAG1_ADDR)  # MAG1 has its own counter
    replay = receive(lma, pbu(sequence=100, hi=3), source=MAG2_ADDR, now=T0.after(1))
    assert pba(replay).status == 135
    assert not installs(replay)
    binding = lma.binding(ALICE)
    assert binding is not None
    assert binding.mag == "mag1"
    # A genuinely new PBU from MAG2 (the node moved back) is accepted.
    assert pba(receive(lma, pbu(sequence=101, hi=3), source=MAG2_ADDR)).status == 0


def test_snapshots_say_whether_the_binding_is_held_and_restore_keeps_it_held() -> None:
    lma = make_lma()
    created = receive(lma, pbu(sequence=1))
    assert of_type(created, StoreBinding)[0].binding.deregistered is False
    dereg = receive(lma, pbu(sequence=2, lifetime=0), now=T0.after(1))
    held = of_type(dereg, StoreBinding)[0].binding
    assert held.deregistered is True
    revived = receive(lma, pbu(sequence=3), now=T0.after(2))
    assert installs(revived)[0].binding.deregistered is False
    receive(lma, pbu(sequence=4, lifetime=0), now=T0.after(3))
    fresh = make_lma()
    actions = fresh.restore(lma.bindings(), T0.after(4))
    assert not installs(actions)  # a held binding gets no routes back
    assert fresh.binding_state(ALICE) is BindingState.DEREGISTERED
    assert fresh.active_routes() == {}  # held, not served: no routes to reconcile
    assert fresh.next_deadline() == pytest.approx(T0.monotonic + 4 + 10)


def test_fast_ipv6_text_matches_ipaddress() -> None:
    import ipaddress
    import random

    from netlmm_aaa.core.address_pools import ipv6_text

    rng = random.Random(5952)
    samples = [bytes(16), b"\x00" * 15 + b"\x01", bytes.fromhex("20010db8000000010000000000000001")]
    for _ in range(2000):
        words = [rng.choice([0, 0, 0, rng.getrandbits(16)]) for _ in range(8)]
        samples.append(b"".join(w.to_bytes(2, "big") for w in words))
    for packed in samples:
        assert ipv6_text(packed) == str(ipaddress.IPv6Address(packed))


def test_fast_prefix_parse_matches_ipaddress_and_rejects_what_it_rejects() -> None:
    import ipaddress
    import random

    from netlmm_aaa.core.address_pools import ipv6_prefix_value

    rng = random.Random(4291)
    texts = ["::/0", "2001:db8::/32", "2001:db8:0:1::/64", "::1/128", "2001:DB8::/32",
             "2001:db8:0:0:0:0:0:0/32", "2001:db8::/032", "::ffff:10.0.0.0/104", "2001:db8::",
             "1:2:3:4:5:6:7::/128", "0db8::/16"]
    for _ in range(2000):
        length = rng.choice([0, 16, 48, 56, 64, 64, 64, 127, 128])
        words = [rng.choice([0, 0, 0, rng.getrandbits(16)]) for _ in range(8)]
        value = int.from_bytes(b"".join(w.to_bytes(2, "big") for w in words), "big")
        value &= ~((1 << (128 - length)) - 1)
        texts.append(f"{ipaddress.IPv6Address(value)}/{length}")
    for text in texts:  # canonical, upper case, uncompressed, zero-padded, dotted, no length
        net = ipaddress.IPv6Network(text)
        assert ipv6_prefix_value(text) == (int(net.network_address), net.prefixlen), text
    for bad in ["2001:db8::1/64", "2001:db8::/129", "1::2::3/64", "2001:db8/32", "x::/64",
                "2001:db8::/", "2001:db8:0:0:0:0:0:0:0/64", "+1::/64", "1_0::/64",
                "1:2:3:4::5:6:7:8/128", "12345::/64", ":1::/64", "2001:db8::/-1"]:
        with pytest.raises(ValueError):
            ipaddress.IPv6Network(bad)
        with pytest.raises(ValueError):
            ipv6_prefix_value(bad)


def test_unknown_mh_type_from_a_peer_gets_a_binding_error_and_strangers_nothing() -> None:
    lma = make_lma()
    event = MalformedPacketReceived(
        source=MAG1_ADDR, transport=Transport.IPV6, reason="unknown type 8", length=8,
        unknown_mh_type=8,
    )  # fmt: skip
    [_, reply] = lma.handle(event, T0)
    assert reply.message == BindingError(2)  # type: ignore[union-attr]
    assert reply.destination == MAG1_ADDR  # type: ignore[union-attr]
    stranger = MalformedPacketReceived(
        source="2001:db8:66::1", transport=Transport.IPV6, reason="x", length=8, unknown_mh_type=8
    )
    assert not sent(lma.handle(stranger, T0))


def test_per_peer_switches_silence_heartbeats_and_revocations() -> None:
    """Issue 23 (6): a MAG configured with ``heartbeats = false`` / ``revocation = false`` (a
    peer that stops reading after a Mobility Header type it does not parse) gets neither
    Heartbeats, nor the restart announcement, nor a BRI; the other MAG still does, and with
    ``heartbeat_interval = 0`` nobody gets a restart announcement."""
    quiet = replace(MAG1, heartbeats=False, revocation=False)
    lma = make_lma(heartbeat_interval=30, peers=(quiet, MAG2))
    receive(lma, pbu())
    receive(lma, pbu(mn_id=BOB), source=MAG2_ADDR)
    assert [s.destination for s in sent(_timers(lma, T0.after(30)))] == [MAG2_ADDR]
    assert [s.destination for s in sent(lma.announce_restart(T0.after(31)))] == [MAG2_ADDR]
    handover = receive(lma, pbu(sequence=2, hi=3), source=MAG2_ADDR, now=T0.after(32))
    assert pba(handover).status == 0 and installs(handover)
    assert not [s for s in sent(handover) if type(s.message) is BindingRevocationIndication]
    revoked = lma.handle(RevocationRequested(mn_id=BOB), T0.after(33))
    assert [s.destination for s in sent(revoked)] == [MAG2_ADDR]  # MAG2 takes BRIs
    silent = make_lma(heartbeat_interval=0)
    receive(silent, pbu())
    assert sent(silent.announce_restart(T0.after(1))) == []


def test_routes_the_kernel_refused_undo_the_binding_and_the_pbu_gets_128() -> None:
    """Issue 23 (3): a status-0 PBA promises the routes. When the runner reports that the
    kernel refused a handover's routes, the binding returns to the old MAG (its routes
    reinstalled, stored again), the new MAG's PBU is answered with 128 and audited, and the
    withheld BRI is not retransmitted; a new binding whose routes failed is deleted and its
    prefix freed; routes that went in change nothing."""
    from netlmm_aaa.core.events import RoutesProgrammed

    lma = make_lma()
    receive(lma, pbu(sequence=1))
    assert lma.handle(RoutesProgrammed(), T0) == []  # in: nothing to undo
    before = lma.binding(ALICE)
    assert before is not None and before.mag == "mag1"
    handover = receive(lma, pbu(sequence=1, hi=3), source=MAG2_ADDR, now=T0.after(5))
    assert pba(handover).status == 0  # what the runner withholds
    undo = lma.handle(RoutesProgrammed(failed=frozenset({ALICE}), error="EPERM"), T0.after(5))
    [refusal] = [s for s in sent(undo) if s.destination == MAG2_ADDR]
    assert pba(undo).status == 128 and refusal.message.status == 128  # type: ignore[union-attr]
    after = lma.binding(ALICE)
    assert after is not None and (after.mag, after.proxy_coa) == ("mag1", MAG1_ADDR)
    assert after.home_network_prefixes == before.home_network_prefixes
    [restored] = installs(undo)
    assert restored.binding.proxy_coa == MAG1_ADDR
    assert [s.binding.mag for s in of_type(undo, StoreBinding)] == ["mag1"]
    [failed] = audits(undo, "binding_routes_failed")
    assert failed.fields == {"error": "EPERM", "restored_mag": "mag1"}
    later = _timers(lma, T0.after(12))
    assert not [s for s in sent(later) if type(s.message) is BindingRevocationIndication]
    # MAG1's refresh still works: the binding is its own again.
    assert pba(receive(lma, pbu(sequence=2, hi=5), now=T0.after(13))).status == 0
    lma.handle(RoutesProgrammed(), T0.after(13))
    # A new binding whose routes failed: gone, its prefix back in the pool.
    bob = receive(lma, pbu(mn_id=BOB), now=T0.after(14))
    bob_prefix = find_option(pba(bob), HomeNetworkPrefixOption)
    gone = lma.handle(RoutesProgrammed(failed=frozenset({BOB}), error="ENODEV"), T0.after(14))
    assert pba(gone).status == 128
    assert of_type(gone, DeleteStoredBinding) and lma.binding_state(BOB) is BindingState.ABSENT
    again = receive(lma, pbu(mn_id=BOB, sequence=2), now=T0.after(15))
    assert find_option(pba(again), HomeNetworkPrefixOption) == bob_prefix


def test_a_static_prefix_inside_the_pool_stays_its_nodes_after_the_binding_ends() -> None:
    """A profile's prefix that lies in the pool is held for that node from the start; when its
    binding is deleted the block must not go back to the pool, where another node could take
    it and later share it with the static node."""
    from netlmm_aaa.core.codes import BindingStatus
    from netlmm_aaa.core.lma_policy import MobileNodePolicy

    static = "2001:db8:1000::/64"  # the first /64 of the test pool's 16
    lma = make_lma(mobile_nodes=(MobileNodePolicy(mn_id=ALICE, home_network_prefix=static),))
    receive(lma, pbu(sequence=1))
    receive(lma, pbu(sequence=2, lifetime=0), now=T0.after(1))
    _timers(lma, T0.after(12))
    assert lma.binding_state(ALICE) is BindingState.ABSENT
    others = [f"node{i}@example.org".encode() for i in range(16)]
    statuses = [pba(receive(lma, pbu(mn_id=n), now=T0.after(13))).status for n in others]
    assert statuses[:15] == [0] * 15
    assert statuses[15] == BindingStatus.INSUFFICIENT_RESOURCES  # the 16th block is Alice's
    assert static not in {_prefix(lma, n)[0] for n in others[:15]}
    assert pba(receive(lma, pbu(sequence=3), now=T0.after(14))).status == 0
    assert _prefix(lma) == (static,)
