"""Home addresses of mobility sessions: which prefixes and IPv4 home address a node gets
(RFC 5213 §5.3.2, RFC 5844 §3.1), who holds which block, and whether a MAG may serve it.

Blocks come from a node's static policy or from the pools; a node may ask for a specific
block if it is its static one, or a block of a pool that nobody holds and no other node has
statically: the one it held last, or any (its RADIUS profile's, RFC 6572, relayed by the MAG)
when ``honour_requested_blocks`` is on (the default).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping

from netlmm_aaa.core.address_pools import AddressPool, PoolExhausted, ipv6_prefix_value
from netlmm_aaa.core.addresses import format_ipv4, format_ipv6_network
from netlmm_aaa.core.codes import BindingStatus, IPv4HomeAddressReplyStatus
from netlmm_aaa.core.lma.binding_cache import ZERO16, BindingEntry, BindingState, ReceivedPbu
from netlmm_aaa.core.lma.pbu_checks import PbuRejected
from netlmm_aaa.core.lma_policy import LmaPolicy, MagPeer, MobileNodePolicy
from netlmm_aaa.core.options import HomeNetworkPrefixOption

_ZERO4 = bytes(4)

Assignment = tuple[tuple[str, ...], tuple[HomeNetworkPrefixOption, ...], str | None]
"""Prefixes (text), the HNP options carrying them, the IPv4 home address."""


class HomeAddresses:
    """The prefix and IPv4 pools and the static assignments of one LMA."""

    def __init__(self, policy: LmaPolicy) -> None:
        reserved4 = frozenset([policy.ipv4_default_router] if policy.ipv4_default_router else [])
        if policy.ipv4_pool:
            pool4 = ipaddress.IPv4Network(policy.ipv4_pool)
            if pool4.prefixlen <= 30:  # never hand out the subnet's network/broadcast address
                reserved4 |= {str(pool4.network_address), str(pool4.broadcast_address)}
        self.prefix_pool = (
            AddressPool(policy.prefix_pool, policy.prefix_length) if policy.prefix_pool else None
        )
        self.ipv4_pool = (
            AddressPool(policy.ipv4_pool, 32, reserved=reserved4) if policy.ipv4_pool else None
        )
        self.honour_requested = policy.honour_requested_blocks
        self._static_holders = static_blocks(policy.mobile_nodes)
        for block, mn_id in self._static_holders.items():
            self.hold(block, mn_id)

    def static_conflicts(
        self, nodes: Iterable[MobileNodePolicy], bound: Mapping[str, bytes]
    ) -> list[str]:
        """Why the profiles ``nodes`` cannot replace the current ones while the sessions in
        ``bound`` (block -> MN-ID) hold their blocks: a static block in another node's session."""
        return [
            f"{block} is held by {bound[block].decode(errors='replace')!r}'s binding"
            for block, mn_id in static_blocks(nodes).items()
            if bound.get(block, mn_id) != mn_id
        ]

    def replace_statics(
        self, nodes: Iterable[MobileNodePolicy], bound: Mapping[str, bytes]
    ) -> None:
        """New profiles (a reload; :meth:`static_conflicts` empty). A block no longer static is
        back in its pool unless a session still holds it (then when that ends); a session keeps
        the blocks it has, a changed profile applies from its node's next registration."""
        new = static_blocks(nodes)
        for block, mn_id in self._static_holders.items():
            if new.get(block) != mn_id and bound.get(block) != mn_id:
                self._release_from_pool(block, mn_id)
        self._static_holders = new
        for block, mn_id in new.items():
            self.hold(block, mn_id)

    def assign(
        self, entry: BindingEntry, pbu: ReceivedPbu, node: MobileNodePolicy | None
    ) -> Assignment:
        """The prefixes and IPv4 HoA of a new or revived session; holds them, or raises
        :class:`PbuRejected` holding nothing new."""
        assert pbu.peer is not None and pbu.mn_id is not None
        mn_id = pbu.mn_id.identifier
        requested = [prefix_text(o) for o in pbu.prefixes if o.prefix != ZERO16 or o.prefix_length]
        if node is not None and not node.ipv6_service:
            raise PbuRejected(
                BindingStatus.NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE, "no IPv6 service for node"
            )
        reviving = entry.state is BindingState.DEREGISTERED
        fresh: HomeNetworkPrefixOption | None = None
        if reviving:
            prefixes = entry.prefixes
            if requested and set(requested) != set(prefixes):
                raise PbuRejected(
                    BindingStatus.BCE_PBU_PREFIX_SET_DO_NOT_MATCH, "prefixes differ from the BCE"
                )
        elif node is not None and node.home_network_prefix is not None:
            prefixes = (canonical_block(node.home_network_prefix),)
            if requested and requested != list(prefixes):
                raise PbuRejected(
                    BindingStatus.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
                    f"requested {requested}, policy says {prefixes[0]}",
                )
        elif requested:
            if len(requested) != 1 or not self._may_reclaim(requested[0], mn_id):
                raise PbuRejected(
                    BindingStatus.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
                    f"node is not authorized for {', '.join(requested)}",
                )
            prefixes = (requested[0],)
        else:
            pool = self.prefix_pool
            if pool is None:
                raise PbuRejected(BindingStatus.INSUFFICIENT_RESOURCES, "no prefix pool configured")
            try:
                text, packed = pool.allocate_with_address(mn_id)
            except PoolExhausted as exc:
                raise PbuRejected(BindingStatus.INSUFFICIENT_RESOURCES, str(exc)) from None
            prefixes = (text,)
            fresh = HomeNetworkPrefixOption(packed, pool.block_length)
        ipv4 = entry.ipv4_home_address if reviving else None
        try:
            if pbu.ipv4_request is not None:
                ipv4 = self.assign_ipv4(pbu, node, ipv4)
            check_peer_may_serve(pbu.peer, prefixes, ipv4)
        except PbuRejected:
            if not reviving:
                for block in (*prefixes, ipv4):
                    if block is not None:
                        self.release(block, mn_id)
            raise
        if fresh is not None:  # just allocated: already held, option built from the pool
            return prefixes, (fresh,), ipv4
        for block in prefixes:
            self.hold(block, mn_id)
        return prefixes, tuple(HomeNetworkPrefixOption.from_network(p) for p in prefixes), ipv4

    def assign_ipv4(
        self, pbu: ReceivedPbu, node: MobileNodePolicy | None, current: str | None
    ) -> str:
        """The IPv4 home address for an IPv4 Home Address Request (RFC 5844 §3.1); held."""
        assert pbu.ipv4_request is not None and pbu.mn_id is not None
        mn_id = pbu.mn_id.identifier
        if node is not None and not node.ipv4_service:
            raise PbuRejected(
                BindingStatus.NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE,
                "no IPv4 service for node",
                IPv4HomeAddressReplyStatus.ADMINISTRATIVELY_PROHIBITED,
            )
        asked = pbu.ipv4_request.address
        wanted = format_ipv4(asked) if asked != _ZERO4 else None
        if current is not None:
            chosen = current
        elif node is not None and node.ipv4_home_address is not None:
            chosen = canonical_block(node.ipv4_home_address)
        elif wanted is not None:
            if not self._may_reclaim(wanted, mn_id):
                raise PbuRejected(
                    BindingStatus.NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS,
                    f"node is not authorized for {wanted}",
                    IPv4HomeAddressReplyStatus.INCORRECT_IPV4_HOME_ADDRESS,
                )
            chosen = wanted
        else:
            if self.ipv4_pool is None:
                raise PbuRejected(
                    BindingStatus.NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE,
                    "no IPv4 pool configured",
                    IPv4HomeAddressReplyStatus.DYNAMIC_IPV4_HOME_ADDRESS_ASSIGNMENT_NOT_AVAILABLE,
                )
            try:
                chosen = self.ipv4_pool.allocate(mn_id)
            except PoolExhausted as exc:
                raise PbuRejected(
                    BindingStatus.INSUFFICIENT_RESOURCES,
                    str(exc),
                    IPv4HomeAddressReplyStatus.DYNAMIC_IPV4_HOME_ADDRESS_ASSIGNMENT_NOT_AVAILABLE,
                ) from None
        if wanted is not None and wanted != chosen:
            raise PbuRejected(
                BindingStatus.NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS,
                f"requested {wanted}, node has {chosen}",
                IPv4HomeAddressReplyStatus.INCORRECT_IPV4_HOME_ADDRESS,
            )
        self.hold(chosen, mn_id)
        return chosen

    def restore(self, prefixes: Iterable[str], mn_id: bytes) -> tuple[HomeNetworkPrefixOption, ...]:
        """Hold a persisted session's prefixes again; their HNP options."""
        options = []
        for text in prefixes:
            value, length = ipv6_prefix_value(text)
            options.append(HomeNetworkPrefixOption(value.to_bytes(16, "big"), length))
            if self.prefix_pool is not None:
                self.prefix_pool.claim_value(value, length, mn_id)
        return tuple(options)

    def _may_reclaim(self, block: str, mn_id: bytes) -> bool:
        static = self._static_holders.get(block)
        if static is not None:
            return static == mn_id
        for pool in (self.prefix_pool, self.ipv4_pool):
            if pool is not None and pool.contains(block):
                if ipaddress.ip_network(block).prefixlen != pool.block_length:
                    return False  # not one of the pool's blocks
                if pool.holder(block) not in (None, mn_id):
                    return False
                return self.honour_requested or pool.last_block_of(mn_id) == block
        return False

    def hold(self, block: str, mn_id: bytes) -> None:
        for pool in (self.prefix_pool, self.ipv4_pool):
            if pool is not None and pool.contains(block):
                pool.claim(block, mn_id)

    def release(self, block: str, mn_id: bytes) -> None:
        """``mn_id`` no longer needs ``block``; a profile's static block stays its node's."""
        if self._static_holders.get(block) == mn_id:
            return
        self._release_from_pool(block, mn_id)

    def _release_from_pool(self, block: str, mn_id: bytes) -> None:
        for pool in (self.prefix_pool, self.ipv4_pool):
            if pool is not None and pool.contains(block):
                pool.release(block, mn_id)

    def release_session(self, entry: BindingEntry) -> None:
        for block in (*entry.prefixes, entry.ipv4_home_address):
            if block is not None:
                self.release(block, entry.mn_id)


def static_blocks(nodes: Iterable[MobileNodePolicy]) -> dict[str, bytes]:
    """The profiles' static prefixes and IPv4 home addresses (canonical) -> their node;
    ValueError if two nodes have one block."""
    holders: dict[str, bytes] = {}
    for node in nodes:
        for block in (node.home_network_prefix, node.ipv4_home_address):
            if block is None:
                continue
            other = holders.setdefault(canonical_block(block), node.mn_id)
            if other != node.mn_id:
                raise ValueError(f"{block} is assigned to two mobile nodes")
    return holders


def check_prefix_set(entry: BindingEntry, pbu: ReceivedPbu) -> None:
    """A refresh or handover PBU names the entry's prefixes or none (§5.3.3, 159)."""
    requested = {prefix_text(o) for o in pbu.prefixes if o.prefix != ZERO16 or o.prefix_length}
    if requested and requested != set(entry.prefixes):
        raise PbuRejected(
            BindingStatus.BCE_PBU_PREFIX_SET_DO_NOT_MATCH,
            f"PBU prefixes {sorted(requested)} differ from the BCE's {list(entry.prefixes)}",
        )


def check_peer_may_serve(peer: MagPeer, prefixes: Iterable[str], ipv4: str | None) -> None:
    """A MAG with ``allowed_prefixes`` serves only blocks inside them."""
    if not peer.allowed_prefixes:
        return
    allowed = [ipaddress.ip_network(n) for n in peer.allowed_prefixes]
    for block in prefixes:
        net = ipaddress.ip_network(block)
        if not any(net.version == a.version and net.subnet_of(a) for a in allowed):  # type: ignore[arg-type]
            raise PbuRejected(
                BindingStatus.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
                f"MAG {peer.name} may not serve {block}",
            )
    if ipv4 is not None:
        net4 = ipaddress.ip_network(ipv4)
        if not any(net4.version == a.version and net4.subnet_of(a) for a in allowed):  # type: ignore[arg-type]
            raise PbuRejected(
                BindingStatus.NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS,
                f"MAG {peer.name} may not serve {ipv4}",
                IPv4HomeAddressReplyStatus.ADMINISTRATIVELY_PROHIBITED,
            )


def canonical_block(block: str) -> str:
    """A prefix or address in the one spelling the pools and the cache use (/32 -> address)."""
    if "/" in block:
        net = ipaddress.ip_network(block, strict=False)
        if net.version == 4 and net.prefixlen == 32:
            return str(net.network_address)
        return str(net)
    return str(ipaddress.ip_address(block))


@functools.lru_cache(maxsize=65536)
def prefix_text(option: HomeNetworkPrefixOption) -> str:
    return format_ipv6_network(option.prefix, option.prefix_length)
