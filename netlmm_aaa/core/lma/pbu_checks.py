"""RFC 5213 §5.3.1 steps 3-13: whether a PBU may be processed, and what it does to which entry.

Each failed check is a :class:`PbuRejected` carrying the status the PBA must give (and, for
IPv4 problems, the IPv4 Home Address Reply status). It is a typed verdict about the peer's
request: the anchor answers it and moves nothing.
"""

from __future__ import annotations

from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.codes import BindingStatus, BindingUpdateFlag, HandoffIndicator
from netlmm_aaa.core.errors import NetlmmError
from netlmm_aaa.core.lma.binding_cache import (
    BindingEntry,
    BindingInput,
    BindingState,
    ReceivedPbu,
)
from netlmm_aaa.core.lma_policy import LmaPolicy, MobileNodePolicy, TunnelMode, UnknownMobileNodes
from netlmm_aaa.core.sequence_numbers import sequence_newer

TS_ONE_SECOND = 65536
# Flag tests on plain ints: an IntFlag's own ``&`` costs a microsecond.
P_FLAG = int(BindingUpdateFlag.P)
_F_FLAG = int(BindingUpdateFlag.F)


class PbuRejected(NetlmmError):
    """A PBU check failed: answer with this status (and optionally an IPv4 HoA Reply status)."""

    def __init__(self, status: int, reason: str, ipv4_status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.ipv4_status = ipv4_status


def classify_pbu(
    pbu: ReceivedPbu,
    now: Now,
    policy: LmaPolicy,
    nodes: dict[bytes, MobileNodePolicy],
    bindings: dict[bytes, BindingEntry],
) -> tuple[BindingEntry, BindingInput]:
    """Steps 3-13 in the RFC's order; raises :class:`PbuRejected`, or says what the PBU does
    to which entry (a new, unlisted entry for a node without one)."""
    message = pbu.message
    if not int(message.flags) & P_FLAG:
        raise PbuRejected(BindingStatus.ADMINISTRATIVELY_PROHIBITED, "P flag clear: not a proxy BU")
    if pbu.mn_id is None or not pbu.mn_id.identifier:
        raise PbuRejected(BindingStatus.MISSING_MN_IDENTIFIER_OPTION, "no MN-ID option")
    mn_id = pbu.mn_id.identifier
    peer = pbu.peer
    if peer is None:
        raise PbuRejected(
            BindingStatus.MAG_NOT_AUTHORIZED_FOR_PROXY_REG, "source is not a MAG peer"
        )
    node = nodes.get(mn_id)
    if node is not None and node.allowed_mags is not None and peer.name not in node.allowed_mags:
        raise PbuRejected(
            BindingStatus.MAG_NOT_AUTHORIZED_FOR_PROXY_REG,
            f"MAG {peer.name} may not register this node",
        )
    if node is None and policy.unknown_mobile_nodes is UnknownMobileNodes.REJECT:
        raise PbuRejected(BindingStatus.NOT_LMA_FOR_THIS_MOBILE_NODE, "no policy profile")
    if node is not None and not node.proxy_mobility:
        raise PbuRejected(BindingStatus.PROXY_REG_NOT_ENABLED, "proxy mobility not enabled")
    entry = bindings.get(mn_id)
    # Step 9: replay protection.
    if pbu.timestamp is not None:
        stamp = pbu.timestamp.timestamp
        skew = stamp / TS_ONE_SECOND - now.utc
        if (
            not policy.mobile_node_generated_timestamp
            and abs(skew) > policy.timestamp_validity_window
        ):
            raise PbuRejected(BindingStatus.TIMESTAMP_MISMATCH, f"timestamp off by {skew:+.3f} s")
        if entry is not None and entry.last_timestamp is not None and stamp <= entry.last_timestamp:
            raise PbuRejected(
                BindingStatus.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED,
                "timestamp not newer than the last accepted one",
            )
    elif policy.require_timestamp:
        raise PbuRejected(BindingStatus.TIMESTAMP_MISMATCH, "no Timestamp option")
    elif (
        entry is not None
        and (last := entry.sequence_from(peer.name)) is not None
        and not sequence_newer(message.sequence, last)
    ):
        # Sequence numbers are kept per MAG: MAGs do not share counters (RFC 5213 §5.5 assumes
        # context transfer), yet a replay from a MAG that served the node before must not move
        # the binding back. An equal number may revive a held binding: the OPMIP MAG reuses its
        # de-registration's number.
        reviving = (
            entry.state is BindingState.DEREGISTERED
            and message.sequence == last
            and message.lifetime > 0
        )
        if not reviving:
            raise PbuRejected(
                BindingStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW,
                f"sequence {message.sequence} not newer than {last} from {peer.name}",
            )
    # Steps 10-12: mandatory options.
    if not pbu.prefixes:
        raise PbuRejected(BindingStatus.MISSING_HOME_NETWORK_PREFIX_OPTION, "no HNP option")
    if pbu.hi is None:
        raise PbuRejected(BindingStatus.MISSING_HANDOFF_INDICATOR_OPTION, "no HI option")
    if pbu.att is None:
        raise PbuRejected(BindingStatus.MISSING_ACCESS_TECH_TYPE_OPTION, "no ATT option")
    # Step 13: transport features, then the binding cache.
    if int(message.flags) & _F_FLAG and not policy.accept_forced_udp_encapsulation:
        raise PbuRejected(BindingStatus.ADMINISTRATIVELY_PROHIBITED, "F flag (UDP encapsulation)")
    if (
        policy.tunnel_mode is TunnelMode.GRE
        and (pbu.gre_key is None or pbu.gre_key.key is None)
        and message.lifetime
    ):
        raise PbuRejected(
            BindingStatus.GRE_KEY_OPTION_REQUIRED, "GRE tunnelling needs the MAG's downlink GRE key"
        )
    if message.lifetime == 0:
        if entry is None:
            return BindingEntry(mn_id), BindingInput.STRAY_DEREGISTRATION
        if entry.state is BindingState.ACTIVE and entry.peer is peer:
            return entry, BindingInput.DEREGISTRATION
        return entry, BindingInput.STRAY_DEREGISTRATION
    if entry is None:
        return BindingEntry(mn_id), BindingInput.REGISTRATION
    if entry.state is BindingState.DEREGISTERED:
        return entry, BindingInput.REGISTRATION
    if entry.peer is peer:
        return entry, BindingInput.REFRESH
    if pbu.hi.indicator == HandoffIndicator.UNKNOWN and policy.max_delay_before_new_bce_assign > 0:
        return entry, BindingInput.HANDOVER_UNKNOWN
    return entry, BindingInput.HANDOVER
