"""MAG-LMA signalling faults on the real cores through the real codec (security-tests.md F1,
F3): an in-process lossy/duplicating network (``tests.mag_lma_pair``), deterministic by seed."""

from __future__ import annotations

import random

import pytest

from netlmm_aaa.core.actions import InstallBindingRoutes, RecordAudit, SendMessage
from netlmm_aaa.core.messages import ProxyBindingAcknowledgement, ProxyBindingUpdate
from netlmm_aaa.core.mobile_access_gateway import StationState
from netlmm_aaa.core.options import TimestampOption
from tests.mag_lma_pair import make_pair

pytestmark = pytest.mark.hardening


def _mac(i: int) -> str:
    return f"02:77:00:00:{i >> 8:02x}:{i & 0xFF:02x}"


def _pbus(pair, mn_id: bytes | None = None) -> list[tuple[float, ProxyBindingUpdate]]:  # type: ignore[no-untyped-def]
    out = []
    for _who, action in pair.log:
        if type(action) is SendMessage and type(action.message) is ProxyBindingUpdate:
            out.append(action.message)
    return out


def test_thirty_percent_loss_then_a_twenty_second_outage_converges_without_duplicates() -> None:
    """F1: 30% random loss of every message while 12 nodes attach (the test pool holds 16
    prefixes), then 100% for 20 s for one
    more: retransmissions at 1, 2, 4, 8, 16 s, each with a new sequence number and a fresh,
    increasing timestamp; once the loss ends every node is registered exactly once."""
    pair = make_pair()
    rng = random.Random(4831)
    loss = [0.3]
    pair.drop = lambda who, send: rng.random() < loss[0]
    for i in range(12):
        pair.attach("mag1", mac=_mac(i), mn_id=f"n{i}@example.org".encode())
    for _ in range(120):  # two minutes of timers
        pair.tick(1.0)
    mag = pair.mags["mag1"]
    states = [mag.station_state(_mac(i)) for i in range(12)]
    assert states == [StationState.REGISTERED] * 12
    bindings = [pair.lma.binding(f"n{i}@example.org".encode()) for i in range(12)]
    assert all(b is not None and b.mag == "mag1" and not b.deregistered for b in bindings)
    prefixes = [b.home_network_prefixes for b in bindings if b is not None]
    assert len(set(prefixes)) == 12  # one binding, one prefix each: no duplicate BCE

    # The outage: everything lost for 20 s, then the network is back.
    loss[0] = 1.0
    pair.log.clear()
    start = pair.now.monotonic
    pair.attach("mag1", mac=_mac(99), mn_id=b"late@example.org")
    sent_at = [start]
    for _ in range(20 * 4):
        before = len(_pbus(pair))
        pair.tick(0.25)
        if len(_pbus(pair)) > before:
            sent_at.append(pair.now.monotonic)
    gaps = [round(b - a) for a, b in zip(sent_at, sent_at[1:], strict=False)]
    assert gaps == [1, 2, 4, 8], gaps  # 1 s doubling (the next one is due at +16 s)
    pbus = _pbus(pair)
    assert len({p.sequence for p in pbus}) == len(pbus)  # a new sequence number each time
    stamps = [next(o for o in p.options if type(o) is TimestampOption).timestamp for p in pbus]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # fresh, increasing
    assert pair.lma.binding(b"late@example.org") is None
    loss[0] = 0.0
    for _ in range(40):
        pair.tick(1.0)
    assert mag.station_state(_mac(99)) is StationState.REGISTERED
    late = pair.lma.binding(b"late@example.org")
    assert late is not None and late.mag == "mag1"
    retransmitted = [a for _w, a in pair.log if type(a) is RecordAudit and a.kind == "pba"
                     and a.mn_id == b"late@example.org"]  # fmt: skip
    assert retransmitted and retransmitted[-1].fields.get("retransmissions", 0) >= 4


def test_every_message_delivered_twice_registers_once() -> None:
    """F3: each PBU and PBA arrives twice: the LMA answers the copy as a duplicate (or 157),
    the MAG ignores the stale PBA, one route install and one accepted registration."""
    pair = make_pair()
    original = pair.deliver

    def twice(who, actions):  # type: ignore[no-untyped-def]
        doubled = []
        for action in actions:
            doubled.append(action)
            if type(action) is SendMessage:
                doubled.append(action)
        return original(who, doubled)

    pair.deliver = twice  # type: ignore[method-assign]
    effects = pair.attach("mag1")
    for _ in range(5):
        effects += pair.tick(1.0)
    installs = [a for w, a in pair.log if w == "lma" and type(a) is InstallBindingRoutes]
    assert len(installs) == 1
    accepted = [a for w, a in pair.log if w == "lma" and type(a) is SendMessage
                and type(a.message) is ProxyBindingAcknowledgement and a.message.status == 0]  # fmt: skip
    registrations = [a for w, a in pair.log if type(a) is RecordAudit and a.kind == "binding_created"]
    assert len(registrations) == 1
    assert accepted  # the copies were answered, none created a second binding
    assert pair.mags["mag1"].station_state("02:88:00:00:aa:01") is StationState.REGISTERED


def test_retransmission_stops_when_the_station_leaves() -> None:
    """F1: retransmissions only while the MN is attached."""
    from netlmm_aaa.core.events import StationDetached

    pair = make_pair()
    pair.drop = lambda who, send: True
    pair.attach("mag1", mac=_mac(1), mn_id=b"gone@example.org")
    pair.tick(1.5)
    sent = len(_pbus(pair))
    assert sent == 2  # the first and one retransmission
    pair.deliver("mag1", pair.mags["mag1"].handle(StationDetached(mac=_mac(1)), pair.now))
    for _ in range(60):
        pair.tick(1.0)
    later = [p for p in _pbus(pair)[sent:] if p.lifetime != 0]
    assert later == []  # no registration attempts after the station left


def test_a_pbu_late_at_the_lma_is_sent_again_with_a_fresh_timestamp() -> None:
    """F6-like: a PBU that sat in a queue past the LMA's 300 ms window gets 156; the MAG
    registers again with a fresh timestamp (a limited number of times) instead of giving up."""
    pair = make_pair()
    pair.hop = 0.4  # each delivery round takes longer than the TimestampValidityWindow
    pair.attach("mag1")
    statuses = [a.message.status for w, a in pair.log if type(a) is SendMessage
                and type(a.message) is ProxyBindingAcknowledgement]  # fmt: skip
    assert statuses == [156, 156, 156, 156]  # the first try and three more, then it stops
    assert pair.mags["mag1"].station_state("02:88:00:00:aa:01") is None
    # Late once (the PBU reaches the LMA 0.4 s after it was stamped), then on time.
    from netlmm_aaa.core.events import StationAttached

    pair = make_pair()
    attached = StationAttached(mac="02:88:00:00:aa:01", mn_id=b"alice@example.org",
                               interface="acc0")  # fmt: skip
    first = pair.mags["mag1"].handle(attached, pair.now)
    pair.now = pair.now.after(0.4)
    pair.deliver("mag1", first)
    statuses = [a.message.status for w, a in pair.log if type(a) is SendMessage
                and type(a.message) is ProxyBindingAcknowledgement]  # fmt: skip
    assert statuses == [156, 0]
    assert pair.mags["mag1"].station_state("02:88:00:00:aa:01") is StationState.REGISTERED
