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


def test_an_lma_may_be_added_to_a_running_mag_but_not_removed() -> None:
    guest = [{"realm": "guest.example", "lma_address": "2001:db8:ff::2"}]
    doc = _doc(MAG)
    without = parse_mag_config(doc)
    doc["mag"]["lma_selection"] = guest
    with_guest = parse_mag_config(doc)
    assert mag_restart_needed(without, with_guest) == []
    assert mag_restart_needed(with_guest, without) == [
        "mag.lma_selection (an LMA removed: 2001:db8:ff::2)"]  # fmt: skip


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
    # A new MAG is taken; a configured one changed (or removed) is not.
    doc = _doc(LMA)
    doc["lma"]["mag"].append({"name": "mag3", "addresses": ["2001:db8:ff::13"]})
    old_plain = parse_lma_config(_doc(LMA))
    assert lma_restart_needed(old_plain, parse_lma_config(doc)) == []
    doc["lma"]["mag"][0]["allowed_prefixes"] = ["2001:db8:1::/48"]
    assert lma_restart_needed(old_plain, parse_lma_config(doc)) == [
        "lma.mag mag1 (changed or removed; only new MAGs are taken)"]  # fmt: skip


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
    lma.add_peers([*lma.policy.peers, mag3])
    after = pba(receive(lma, pbu(sequence=2, mn_id=b"carol@example.org"),
                        source="2001:db8:ff::13", now=T0.after(13)))  # fmt: skip
    assert after.status == BindingStatus.ACCEPTED
    with pytest.raises(ConfigError, match="mag3"):
        lma.add_peers([dataclasses.replace(mag3, tunnel_address="2001:db8:ff::99")])
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
