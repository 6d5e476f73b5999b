"""Every PBA status the LMA can answer, each in a table row: code, PBA options, nothing moved."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from netlmm_aaa.core.codes import BindingStatus as S
from netlmm_aaa.core.codes import BindingUpdateFlag as F
from netlmm_aaa.core.events import Transport
from netlmm_aaa.core.lma_policy import (
    MagPeer,
    MobileNodePolicy,
    TunnelMode,
    UnknownMobileNodes,
)
from netlmm_aaa.core.lma import BindingState, LocalMobilityAnchor
from netlmm_aaa.core.messages import ProxyBindingUpdate, find_option, find_options
from netlmm_aaa.core.options import (
    GreKeyOption,
    HomeNetworkPrefixOption,
    IPv4HomeAddressReplyOption,
    IPv4HomeAddressRequestOption,
    MobileNodeIdentifierOption,
    TimestampOption,
)
from tests.lma_support import (
    ALICE,
    MAG1_ADDR,
    MAG2_ADDR,
    T0,
    ZERO_HNP,
    installs,
    make_lma,
    pba,
    pbu,
    receive,
)

OTHER = HomeNetworkPrefixOption.from_network("2001:db8:9999::/64")


@dataclass
class Case:
    status: int
    message: ProxyBindingUpdate
    policy: dict[str, Any] = field(default_factory=dict)
    source: str = MAG1_ADDR
    before: Callable[[LocalMobilityAnchor], None] | None = None


def _register_alice(lma: LocalMobilityAnchor) -> None:
    assert pba(receive(lma, pbu(sequence=10, timestamp=T0.utc - 0.1))).status == 0


def _register_alice_seq(lma: LocalMobilityAnchor) -> None:
    assert pba(receive(lma, pbu(sequence=10))).status == 0


CASES = {
    "P flag clear -> 129": Case(S.ADMINISTRATIVELY_PROHIBITED, pbu(flags=F.A)),
    "no MN-ID -> 160": Case(S.MISSING_MN_IDENTIFIER_OPTION, pbu(mn_id=None)),
    "unknown MAG -> 154": Case(S.MAG_NOT_AUTHORIZED_FOR_PROXY_REG, pbu(), source="2001:db8:ff::99"),
    "MAG not allowed for node -> 154": Case(
        S.MAG_NOT_AUTHORIZED_FOR_PROXY_REG,
        pbu(),
        policy={"mobile_nodes": (MobileNodePolicy(mn_id=ALICE, allowed_mags=frozenset({"mag2"})),)},
    ),
    "no profile, unknown rejected -> 153": Case(
        S.NOT_LMA_FOR_THIS_MOBILE_NODE,
        pbu(),
        policy={"unknown_mobile_nodes": UnknownMobileNodes.REJECT},
    ),
    "proxy mobility disabled -> 152": Case(
        S.PROXY_REG_NOT_ENABLED,
        pbu(),
        policy={"mobile_nodes": (MobileNodePolicy(mn_id=ALICE, proxy_mobility=False),)},
    ),
    "timestamp too far ahead -> 156": Case(S.TIMESTAMP_MISMATCH, pbu(timestamp=T0.utc + 1.0)),
    "timestamp too far behind -> 156": Case(S.TIMESTAMP_MISMATCH, pbu(timestamp=T0.utc - 0.5)),
    "no timestamp but required -> 156": Case(
        S.TIMESTAMP_MISMATCH, pbu(), policy={"require_timestamp": True}
    ),
    "timestamp not newer -> 157": Case(
        S.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED,
        pbu(sequence=11, timestamp=T0.utc - 0.2),
        before=_register_alice,
    ),
    "sequence not newer -> 135": Case(
        S.SEQUENCE_NUMBER_OUT_OF_WINDOW, pbu(sequence=10), before=_register_alice_seq
    ),
    "sequence behind -> 135": Case(
        S.SEQUENCE_NUMBER_OUT_OF_WINDOW, pbu(sequence=9), before=_register_alice_seq
    ),
    "no HNP -> 158": Case(S.MISSING_HOME_NETWORK_PREFIX_OPTION, pbu(hnps=())),
    "no HI -> 161": Case(S.MISSING_HANDOFF_INDICATOR_OPTION, pbu(hi=None)),
    "no ATT -> 162": Case(S.MISSING_ACCESS_TECH_TYPE_OPTION, pbu(att=None)),
    "F flag not accepted -> 129": Case(S.ADMINISTRATIVELY_PROHIBITED, pbu(flags=F.A | F.P | F.F)),
    "GRE mode without GRE key -> 163": Case(
        S.GRE_KEY_OPTION_REQUIRED, pbu(), policy={"tunnel_mode": TunnelMode.GRE}
    ),
    "prefix not the node's -> 155": Case(
        S.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX, pbu(hnps=(OTHER,))
    ),
    "static prefix differs -> 155": Case(
        S.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
        pbu(hnps=(OTHER,)),
        policy={
            "mobile_nodes": (
                MobileNodePolicy(mn_id=ALICE, home_network_prefix="2001:db8:1:1::/64"),
            )
        },
    ),
    "MAG may not serve the prefix -> 155": Case(
        S.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
        pbu(),
        policy={
            "peers": (
                MagPeer(
                    name="mag1",
                    addresses=frozenset({MAG1_ADDR}),
                    tunnel_address=MAG1_ADDR,
                    allowed_prefixes=("2001:db8:5000::/48",),
                ),
            )
        },
    ),
    "refresh with other prefix -> 159": Case(
        S.BCE_PBU_PREFIX_SET_DO_NOT_MATCH,
        pbu(sequence=11, hnps=(OTHER,)),
        before=_register_alice_seq,
    ),
    "pool exhausted -> 130": Case(
        S.INSUFFICIENT_RESOURCES,
        pbu(),
        policy={"prefix_pool": "2001:db8:1000::/64", "prefix_length": 64},
        before=lambda lma: pba(receive(lma, pbu(mn_id=b"someone@example.org"))).status == 0 or None,
    ),
    "no pool -> 130": Case(S.INSUFFICIENT_RESOURCES, pbu(), policy={"prefix_pool": None}),
    "no IPv6 service -> 172": Case(
        S.NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE,
        pbu(),
        policy={"mobile_nodes": (MobileNodePolicy(mn_id=ALICE, ipv6_service=False),)},
    ),
    "no IPv4 service -> 170": Case(
        S.NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE,
        pbu(extra=(IPv4HomeAddressRequestOption(),)),
        policy={"mobile_nodes": (MobileNodePolicy(mn_id=ALICE, ipv4_service=False),)},
    ),
    "IPv4 address not the node's -> 171": Case(
        S.NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS,
        pbu(extra=(IPv4HomeAddressRequestOption.from_address("203.0.113.77"),)),
        policy={"honour_requested_blocks": False},
    ),
    "IPv4 address outside the pool -> 171": Case(
        S.NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS,
        pbu(extra=(IPv4HomeAddressRequestOption.from_address("198.51.100.7"),)),
    ),
    "prefix of the pool but not a block of it -> 155": Case(
        S.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
        pbu(hnps=(HomeNetworkPrefixOption.from_network("2001:db8:1000::/56"),)),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_rejections(name: str) -> None:
    case = CASES[name]
    lma = make_lma(**case.policy)
    if case.before is not None:
        case.before(lma)
    before = lma.bindings()
    actions = receive(lma, case.message, source=case.source)
    reply = pba(actions)
    assert reply.status == case.status
    assert not installs(actions), "a rejected PBU must not move routes"
    assert lma.bindings() == before, "a rejected PBU must not change the binding cache"
    # RFC 5213 §5.3.6: MN-ID copied (zero-length if absent), HNPs echoed, HI/ATT copied or 0.
    mn = find_option(reply, MobileNodeIdentifierOption)
    req_mn = find_option(case.message, MobileNodeIdentifierOption)
    assert mn == (req_mn or MobileNodeIdentifierOption(b""))
    hnps = find_options(reply, HomeNetworkPrefixOption)
    assert hnps == (find_options(case.message, HomeNetworkPrefixOption) or [ZERO_HNP])
    assert reply.sequence == case.message.sequence
    assert reply.lifetime == 0
    if case.status in (S.TIMESTAMP_MISMATCH, S.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED):
        ts = find_option(reply, TimestampOption)
        assert ts is not None
        assert ts.seconds == pytest.approx(T0.utc, abs=1e-4)  # the LMA's own clock
    if find_option(case.message, IPv4HomeAddressRequestOption) is not None:
        reply4 = find_option(reply, IPv4HomeAddressReplyOption)
        assert reply4 is not None
        assert reply4.status >= 128


def test_accepted_pba_follows_rfc_5213_section_5_3_6() -> None:
    lma = make_lma()
    request = pbu(sequence=7, lifetime=0xFFFF, timestamp=T0.utc)
    actions = receive(lma, request)
    reply = pba(actions)
    assert reply.status == S.ACCEPTED
    assert reply.sequence == 7
    assert reply.lifetime * 4 == 3600  # capped at max_lifetime
    assert reply.flags == 0x20  # P
    hnp = find_option(reply, HomeNetworkPrefixOption)
    assert hnp is not None
    assert hnp.network.subnet_of(__import__("ipaddress").ip_network("2001:db8:1000::/60"))
    assert hnp.prefix_length == 64
    assert find_option(reply, TimestampOption) == find_option(request, TimestampOption)
    assert lma.binding_state(ALICE) is BindingState.ACTIVE
    [send] = [s for s in actions if getattr(s, "message", None) is reply]
    assert (send.destination, send.source) == (MAG1_ADDR, "2001:db8:ff::1")


def test_gre_key_not_required_is_status_2_and_binding_made() -> None:
    lma = make_lma()
    reply = pba(receive(lma, pbu(extra=(GreKeyOption(7),))))
    assert reply.status == S.GRE_KEY_OPTION_NOT_REQUIRED
    assert find_option(reply, GreKeyOption) is None
    assert lma.binding_state(ALICE) is BindingState.ACTIVE


def test_gre_keys_go_in_the_rfc_5845_directions() -> None:
    """RFC 5845 §3: the MAG's PBU names the downlink key (the LMA uses it toward the MAG); the
    LMA assigns the uplink key (the MAG uses it toward the LMA) and returns it in the PBA. The
    route the LMA installs carries the downlink key."""
    lma = make_lma(tunnel_mode=TunnelMode.GRE)
    actions = receive(lma, pbu(extra=(GreKeyOption(77),)))
    reply = pba(actions)
    assert reply.status == S.ACCEPTED
    key = find_option(reply, GreKeyOption)
    assert key is not None and key.key is not None and key.key != 77
    binding = lma.binding(ALICE)
    assert binding is not None
    assert (binding.gre_key_downlink, binding.gre_key_uplink) == (77, key.key)
    [install] = installs(actions)
    assert install.binding.gre_key_downlink == 77
    # Another node gets another uplink key.
    other = pba(receive(lma, pbu(mn_id=b"bob@example.org", extra=(GreKeyOption(78),))))
    other_key = find_option(other, GreKeyOption)
    assert other_key is not None and other_key.key not in (None, key.key)


def test_gre_handover_takes_the_new_mags_downlink_key_and_keeps_the_uplink_key() -> None:
    lma = make_lma(tunnel_mode=TunnelMode.GRE)
    first = find_option(pba(receive(lma, pbu(extra=(GreKeyOption(77),)))), GreKeyOption)
    assert first is not None
    actions = receive(lma, pbu(1, hi=2, extra=(GreKeyOption(500),)), source=MAG2_ADDR)
    reply = pba(actions)
    assert reply.status == S.ACCEPTED
    assert find_option(reply, GreKeyOption) == first
    [install] = installs(actions)
    assert (install.binding.proxy_coa, install.binding.gre_key_downlink) == (MAG2_ADDR, 500)
    assert install.binding.gre_key_uplink == first.key
    # A refresh that changes the downlink key moves the route to the new key.
    refresh = receive(lma, pbu(2, hi=5, extra=(GreKeyOption(501),)), source=MAG2_ADDR)
    assert pba(refresh).status == S.ACCEPTED
    assert [i.binding.gre_key_downlink for i in installs(refresh)] == [501]
    same = receive(lma, pbu(3, hi=5, extra=(GreKeyOption(501),)), source=MAG2_ADDR)
    assert installs(same) == []


def test_gre_mode_needs_the_downlink_key_itself() -> None:
    lma = make_lma(tunnel_mode=TunnelMode.GRE)
    assert pba(receive(lma, pbu(extra=(GreKeyOption(None),)))).status == (
        S.GRE_KEY_OPTION_REQUIRED)  # fmt: skip


def test_restored_uplink_keys_are_not_assigned_again() -> None:
    lma = make_lma(tunnel_mode=TunnelMode.GRE)
    receive(lma, pbu(extra=(GreKeyOption(77),)))
    saved = lma.binding(ALICE)
    assert saved is not None
    restarted = make_lma(tunnel_mode=TunnelMode.GRE)
    restarted.restore([saved], T0)
    reply = pba(receive(restarted, pbu(mn_id=b"bob@example.org", extra=(GreKeyOption(9),))))
    key = find_option(reply, GreKeyOption)
    assert key is not None and key.key != saved.gre_key_uplink


def test_pba_over_udp_goes_back_to_the_source_port() -> None:
    lma = make_lma()
    actions = receive(
        lma,
        pbu(extra=(IPv4HomeAddressRequestOption(),)),
        source="192.0.2.11",
        transport=Transport.UDP4,
        port=40000,
    )
    reply = pba(actions)
    assert reply.status == 0
    [send] = [a for a in actions if getattr(a, "message", None) is reply]
    assert (send.transport, send.destination, send.destination_port) == (
        Transport.UDP4,
        "192.0.2.11",
        40000,
    )
    hoa = find_option(reply, IPv4HomeAddressReplyOption)
    assert hoa is not None
    assert hoa.status == 0
    assert str(hoa.ipv4_address).startswith("203.0.113.")
    assert str(hoa.ipv4_address) != "203.0.113.1"  # the default router is never handed out


# In the hardening suite (security-tests.md W3-W7: impersonation, replay, missing options, prefix theft).
pytestmark = pytest.mark.hardening


def test_a_block_named_by_the_radius_profile_is_honoured_without_a_local_policy() -> None:
    """Issue 23 (8): the MAG relays the node's RFC 6572 profile (prefix, IPv4 HoA) in its PBU;
    the LMA grants them when they are free blocks of its pools, with no policy entry of its
    own; a block another node holds is refused."""
    from tests.lma_support import BOB, make_lma, pba, receive

    lma = make_lma()
    wanted = HomeNetworkPrefixOption.from_network("2001:db8:1000:5::/64")
    reply = pba(receive(lma, pbu(hnps=(wanted,), extra=(
        IPv4HomeAddressRequestOption.from_address("203.0.113.77"),))))  # fmt: skip
    assert reply.status == 0
    binding = lma.binding(ALICE)
    assert binding is not None
    assert binding.home_network_prefixes == ("2001:db8:1000:5::/64",)
    assert binding.ipv4_home_address == "203.0.113.77"
    taken = pba(receive(lma, pbu(mn_id=BOB, hnps=(wanted,))))
    assert taken.status == S.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX
