"""What a reload may change (config.reload) and the MAG core's reconfigure: the reloadable parts
pass, anything else is named as needing a restart."""

from __future__ import annotations

import dataclasses
import tomllib
from typing import Any

import pytest

from netlmm_aaa.config import parse_lma_config, parse_mag_config
from netlmm_aaa.config.reload import lma_restart_needed, mag_restart_needed
from netlmm_aaa.core.errors import ConfigError
from netlmm_aaa.core.mag_policy import MagPolicy
from netlmm_aaa.core.options import HomeNetworkPrefixOption
from netlmm_aaa.core.mobile_access_gateway import MobileAccessGateway
from netlmm_aaa.core.lma_selection import LmaSelection
from tests.conftest import REPO
from tests.lma_support import T0

MAG = REPO / "examples" / "mag-lab.toml"
LMA = REPO / "examples" / "lma-lab.toml"


def _doc(path: Any) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def test_mag_nas_tables_and_relay_secret_reload() -> None:
    old = parse_mag_config(_doc(MAG))
    doc = _doc(MAG)
    doc["mag"]["nas"][0]["secret"] = "rotated"
    doc["mag"]["nas"][0]["rate_limit"] = 100
    doc["mag"]["nas"].append(dict(doc["mag"]["nas"][0], name="wlc-2", address="192.0.2.77"))
    doc["mag"]["radius_relay"]["server_secret"] = "rotated-too"
    doc["mag"]["radius_relay"]["profile_ttl"] = 30
    assert mag_restart_needed(old, parse_mag_config(doc)) == []


def test_an_lma_may_be_added_to_a_running_mag_or_removed_while_it_serves_none() -> None:
    from netlmm_aaa.core.events import StationAttached

    guest = [{"realm": "guest.example", "lma_address": "2001:db8:ff::2"}]
    doc = _doc(MAG)
    without = parse_mag_config(doc)
    doc["mag"]["lma_selection"] = guest
    with_guest = parse_mag_config(doc)
    assert mag_restart_needed(without, with_guest) == []
    assert mag_restart_needed(with_guest, without) == []  # the core judges a removal
    policy = MagPolicy(name="mag1", proxy_coa="2001:db8:ff::11", lma_address="2001:db8:ff::1")
    selected = dataclasses.replace(policy, lma_selection=(
        LmaSelection(realm="guest.example", lma_address="2001:db8:ff::2"),))  # fmt: skip
    core = MobileAccessGateway(selected)
    core.reconfigure(policy)  # nobody registered there: it may go
    core.reconfigure(selected)
    core.handle(StationAttached(mac="02:00:00:00:00:07", mn_id=b"eve@guest.example",
                                interface="acc0", lma_address="2001:db8:ff::2"), T0)  # fmt: skip
    with pytest.raises(ConfigError, match="LMA 2001:db8:ff::2 may not be removed while 1 "):
        core.reconfigure(policy)
    assert core.policy == selected  # refused: nothing taken


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["mag"].update(proxy_coa="2001:db8:ff::99"), "mag.proxy_coa"),
        (lambda d: d["mag"].update(access_interfaces=["acc0", "acc1"]), "mag.access_interfaces"),
        (lambda d: d["mag"]["hostapd"][0].update(control="/run/other"), "mag.hostapd"),
        (lambda d: d["mag"]["radius_relay"].update(port=1912), "mag.radius_relay.port"),
        (lambda d: d["mag"].update(retention="30d"), "mag.retention"),
    ],
)  # fmt: skip
def test_mag_changes_that_take_a_restart_are_named(change: Any, named: str) -> None:
    old = parse_mag_config(_doc(MAG))
    doc = _doc(MAG)
    change(doc)
    fixed = mag_restart_needed(old, parse_mag_config(doc))
    assert any(f.startswith(named) for f in fixed), fixed


def test_lma_aaa_nas_tables_reload_and_the_rest_is_named() -> None:
    base = _doc(LMA)
    base["lma"]["aaa"] = {"nas": [{"name": "aaa", "address": "127.0.0.1", "secret": "a",
                                   "mag": "mag1"}]}  # fmt: skip
    old = parse_lma_config(base)
    doc = _doc(LMA)
    doc["lma"]["aaa"] = {"nas": [{"name": "aaa", "address": "127.0.0.1", "secret": "b",
                                  "mag": "mag2"}], "wait": 2.5}  # fmt: skip
    doc["lma"]["timers"]["max_lifetime"] = 600  # rules read per message: reloadable
    doc["lma"]["policy"]["unknown_mobile_nodes"] = "reject"
    doc["lma"]["mobile_node"][0]["home_network_prefix"] = "2001:db8:1:9::/64"  # a profile
    assert lma_restart_needed(old, parse_lma_config(doc)) == []
    doc["lma"]["pools"]["prefix"] = "2001:db8:2000::/40"
    doc["lma"]["timers"]["heartbeat_interval"] = 5  # the peers' timers are set at start
    doc["lma"]["mag"].append({"name": "mag3", "addresses": ["2001:db8:ff::13"]})
    doc["lma"]["aaa"]["port"] = 1900
    fixed = lma_restart_needed(old, parse_lma_config(doc))
    assert sorted(fixed) == ["lma.aaa.port", "lma.pools.prefix",
                             "lma.timers.heartbeat_interval"], fixed  # fmt: skip
    # MAGs added, changed or removed pass here: the core judges them against its bindings.
    doc = _doc(LMA)
    doc["lma"]["mag"].append({"name": "mag3", "addresses": ["2001:db8:ff::13"]})
    doc["lma"]["mag"][0]["allowed_prefixes"] = ["2001:db8:1::/48"]
    del doc["lma"]["mag"][1]
    assert lma_restart_needed(parse_lma_config(_doc(LMA)), parse_lma_config(doc)) == []


def test_the_lma_core_takes_only_reloadable_policy_changes() -> None:
    from netlmm_aaa.core.codes import BindingStatus
    from netlmm_aaa.core.lma_policy import UnknownMobileNodes
    from tests.lma_support import T0, make_lma, pba, pbu, receive

    lma = make_lma()
    assert pba(receive(lma, pbu(sequence=1))).status == BindingStatus.ACCEPTED  # alice
    lma.reconfigure(dataclasses.replace(lma.policy, max_lifetime=600, bri_max_retries=3))
    # Alice's binding stays; her next refresh gets at most the new lifetime.
    refreshed = pba(receive(lma, pbu(sequence=2, lifetime=225, hi=5), now=T0.after(10)))
    assert refreshed.status == BindingStatus.ACCEPTED and refreshed.lifetime_seconds == 600
    lma.reconfigure(dataclasses.replace(lma.policy,
                                        unknown_mobile_nodes=UnknownMobileNodes.REJECT))  # fmt: skip
    refused = pba(receive(lma, pbu(sequence=1, mn_id=b"bob@example.org"), now=T0.after(11)))
    assert refused.status == BindingStatus.NOT_LMA_FOR_THIS_MOBILE_NODE  # no profile: 153
    # A MAG added at run time registers nodes; a taken name is refused.
    from netlmm_aaa.core.lma_policy import MagPeer

    mag3 = MagPeer(name="mag3", addresses=frozenset({"2001:db8:ff::13"}),
                   tunnel_address="2001:db8:ff::13")  # fmt: skip
    before = pba(receive(lma, pbu(sequence=1, mn_id=b"carol@example.org"),
                         source="2001:db8:ff::13", now=T0.after(12)))  # fmt: skip
    assert before.status == BindingStatus.MAG_NOT_AUTHORIZED_FOR_PROXY_REG
    lma.reconfigure(dataclasses.replace(lma.policy,
                                        unknown_mobile_nodes=UnknownMobileNodes.ALLOCATE))  # fmt: skip
    lma.replace_peers([*lma.policy.peers, mag3], T0.after(12))
    after = pba(receive(lma, pbu(sequence=2, mn_id=b"carol@example.org"),
                        source="2001:db8:ff::13", now=T0.after(13)))  # fmt: skip
    assert after.status == BindingStatus.ACCEPTED
    with pytest.raises(ConfigError, match="mag3 may not change its addresses while it serves 1"):
        lma.replace_peers([*lma.policy.peers[:2], dataclasses.replace(
            mag3, tunnel_address="2001:db8:ff::99")], T0.after(13))  # fmt: skip
    with pytest.raises(ConfigError, match="2001:db8:ff::13 is both mag3's and mag4's"):
        lma.replace_peers([*lma.policy.peers, dataclasses.replace(mag3, name="mag4")], T0)
    with pytest.raises(ConfigError, match="prefix_pool cannot change while running"):
        lma.reconfigure(dataclasses.replace(lma.policy, prefix_pool="2001:db8:9::/48"))
    assert lma.policy.max_lifetime == 600  # refused: nothing taken


def test_the_mag_core_takes_only_reloadable_policy_changes() -> None:
    policy = MagPolicy(name="mag1", proxy_coa="2001:db8:ff::11", lma_address="2001:db8:ff::1")
    core = MobileAccessGateway(policy)
    selection = (LmaSelection(realm="guest.example", lma_address="2001:db8:ff::1"),)
    core.reconfigure(dataclasses.replace(policy, lma_selection=selection,
                                         mab_nases=frozenset({"wlc"}), profile_ttl=5.0))  # fmt: skip
    assert core.intake.lma_selection == selection and core.intake.mab_nases == {"wlc"}
    assert core.intake.profile_ttl == 5.0 and core.policy.profile_ttl == 5.0
    with pytest.raises(ConfigError, match="lifetime cannot change while running"):
        core.reconfigure(dataclasses.replace(core.policy, lifetime=60))
    assert core.policy.lifetime == policy.lifetime  # refused: nothing taken


def test_the_lma_core_takes_new_node_profiles_and_keeps_the_blocks_bindings_hold() -> None:
    """Profiles reload: a PBU is judged by the new profile at once; a binding keeps its blocks
    (a new static prefix applies from the node's next registration); a static block another
    node's binding holds refuses the reload, changing nothing; a block no longer static goes
    back to the pool unless a binding still holds it."""
    from netlmm_aaa.core.codes import BindingStatus
    from netlmm_aaa.core.lma_policy import MobileNodePolicy
    from netlmm_aaa.core.events import TimerFired
    from tests.lma_support import ALICE, BOB, T0, make_lma, pba, pbu, receive

    def prefix(mn: bytes) -> str:
        binding = lma.binding(mn)
        assert binding is not None
        return binding.home_network_prefixes[0]

    lma = make_lma()
    assert pba(receive(lma, pbu(sequence=1))).status == BindingStatus.ACCEPTED  # alice
    assert pba(receive(lma, pbu(sequence=1, mn_id=BOB))).status == BindingStatus.ACCEPTED
    alice_was, bobs = prefix(ALICE), prefix(BOB)
    with pytest.raises(ConfigError, match="held by 'bob@example.org'"):
        lma.set_mobile_nodes((MobileNodePolicy(mn_id=ALICE, home_network_prefix=bobs),))
    assert lma.policy.mobile_nodes == ()  # refused: nothing taken
    with pytest.raises(ConfigError, match="two mobile nodes"):
        lma.set_mobile_nodes((MobileNodePolicy(mn_id=ALICE, ipv4_home_address="203.0.113.9"),
                              MobileNodePolicy(mn_id=BOB, ipv4_home_address="203.0.113.9")))  # fmt: skip
    static = "2001:db8:1000:f::/64"
    lma.set_mobile_nodes((MobileNodePolicy(mn_id=ALICE, home_network_prefix=static),
                          MobileNodePolicy(mn_id=BOB, allowed_mags=frozenset({"mag2"}))))  # fmt: skip
    # Bob's profile now bars mag1: his refresh there is refused (154), his binding untouched.
    barred = pba(receive(lma, pbu(sequence=2, mn_id=BOB, hi=5), now=T0.after(1)))
    assert barred.status == BindingStatus.MAG_NOT_AUTHORIZED_FOR_PROXY_REG
    assert prefix(BOB) == bobs
    # Alice keeps her prefix while bound; after her binding ends she gets the static one.
    assert pba(receive(lma, pbu(sequence=2, hi=5), now=T0.after(1))).status == 0
    assert prefix(ALICE) == alice_was
    receive(lma, pbu(sequence=3, lifetime=0), now=T0.after(2))
    lma.handle(TimerFired(), T0.after(13))
    assert lma.binding(ALICE) is None
    assert pba(receive(lma, pbu(sequence=4), now=T0.after(14))).status == 0
    assert prefix(ALICE) == static
    # Her profile removed: the static block stays hers while bound, and the pool does not
    # hand it out; once her binding ends it is the pool's again.
    lma.set_mobile_nodes(())
    carol = b"carol@example.org"
    assert pba(receive(lma, pbu(sequence=1, mn_id=carol, hnps=(
        HomeNetworkPrefixOption.from_network(static),)), now=T0.after(15))).status == (
        BindingStatus.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX)  # fmt: skip
    receive(lma, pbu(sequence=5, lifetime=0), now=T0.after(16))
    lma.handle(TimerFired(), T0.after(27))
    assert pba(receive(lma, pbu(sequence=2, mn_id=carol, hnps=(
        HomeNetworkPrefixOption.from_network(static),)), now=T0.after(28))).status == 0  # fmt: skip
    assert prefix(carol) == static


def test_the_lma_core_takes_changed_and_removed_mags_that_serve_no_node() -> None:
    """A MAG's rules change under its bindings at once (the next PBU is judged by them); a MAG
    that serves no node may leave, and then its PBUs are refused (154); one that serves a node
    may neither leave nor change its addresses, and the refusal changes nothing."""
    from netlmm_aaa.core.codes import BindingStatus
    from netlmm_aaa.core.events import TimerFired
    from tests.lma_support import BOB, MAG1, MAG2, MAG2_ADDR, T0, make_lma, pba, pbu, receive

    lma = make_lma()
    assert pba(receive(lma, pbu(sequence=1))).status == BindingStatus.ACCEPTED  # alice at mag1
    narrowed = dataclasses.replace(MAG1, allowed_prefixes=("2001:db8:9999::/48",))
    with pytest.raises(ConfigError, match="mag1 may not leave while it serves 1 mobile nodes"):
        lma.replace_peers([MAG2], T0)
    assert lma.policy.peers == (MAG1, MAG2)
    lma.replace_peers([narrowed, MAG2], T0.after(1))
    # The pool's prefixes are outside mag1's allowed ones now: Bob is refused there.
    refused = pba(receive(lma, pbu(sequence=1, mn_id=BOB), now=T0.after(2)))
    assert refused.status == BindingStatus.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX
    # mag2 serves nobody: it may leave, and its PBUs are refused from then on.
    lma.replace_peers([narrowed], T0.after(3))
    gone = pba(receive(lma, pbu(sequence=1, mn_id=BOB), source=MAG2_ADDR, now=T0.after(4)))
    assert gone.status == BindingStatus.MAG_NOT_AUTHORIZED_FOR_PROXY_REG
    # Once alice's binding has ended, mag1 may leave too.
    receive(lma, pbu(sequence=2, lifetime=0), now=T0.after(5))
    with pytest.raises(ConfigError, match="mag1 may not leave"):
        lma.replace_peers([MAG2], T0.after(6))  # held after de-registration: still served
    lma.handle(TimerFired(), T0.after(16))
    lma.replace_peers([MAG2], T0.after(17))
    assert lma.policy.peers == (MAG2,)


def test_a_mags_heartbeat_switch_takes_effect_on_reload() -> None:
    from netlmm_aaa.core.events import TimerFired
    from netlmm_aaa.core.messages import Heartbeat
    from tests.lma_support import MAG1, MAG2, T0, make_lma, pbu, receive, sent

    def heartbeats(at: float) -> int:
        return sum(type(s.message) is Heartbeat for s in sent(lma.handle(TimerFired(), T0.after(at))))

    lma = make_lma(heartbeat_interval=5)
    receive(lma, pbu(sequence=1))  # mag1 is monitored from its first PBU
    assert heartbeats(5.1) == 1
    silent = dataclasses.replace(MAG1, heartbeats=False)
    lma.replace_peers([silent, MAG2], T0.after(6))
    assert heartbeats(10.2) == 0 and heartbeats(20) == 0
    lma.replace_peers([MAG1, MAG2], T0.after(21))
    assert heartbeats(25) == 0
    assert heartbeats(26.1) == 1
