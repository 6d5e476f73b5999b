"""The Proxy Binding Acknowledgement answering one PBU, with its options in the order RFC 5213
§5.3.6 lists them, and the audit record of the exchange."""

from __future__ import annotations

import functools

from netlmm_aaa.core.actions import LmaAction, RecordAudit, reply_to
from netlmm_aaa.core.addresses import pack_ipv4
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.codes import (
    BindingAcknowledgementFlag,
    BindingStatus,
    BindingUpdateFlag,
    IPv4HomeAddressReplyStatus,
)
from netlmm_aaa.core.lma.binding_cache import ZERO16, BindingEntry, ReceivedPbu
from netlmm_aaa.core.lma.pbu_checks import P_FLAG, PbuRejected
from netlmm_aaa.core.lma_policy import LmaPolicy, TunnelMode
from netlmm_aaa.core.messages import LIFETIME_UNIT_SECONDS, ProxyBindingAcknowledgement
from netlmm_aaa.core.options import (
    AccessTechnologyTypeOption,
    GreKeyOption,
    HandoffIndicatorOption,
    HomeNetworkPrefixOption,
    IPv4DefaultRouterAddressOption,
    IPv4HomeAddressReplyOption,
    LinkLocalAddressOption,
    MobileNodeIdentifierOption,
    MobilityOption,
    TimestampOption,
)

_TIMESTAMP_STATUSES = frozenset(
    {BindingStatus.TIMESTAMP_MISMATCH, BindingStatus.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED}
)


def answer_pbu(
    policy: LmaPolicy,
    pbu: ReceivedPbu,
    status: int,
    lifetime: int,
    entry: BindingEntry | None,
    now: Now,
    actions: list[LmaAction],
    reason: str | None = None,
    ipv4_status: int | None = None,
) -> None:
    """Append the PBA for ``pbu`` and its audit record. ``entry``: the binding it created or
    refreshed (its prefixes, keys and IPv4 HoA are reported), None for a rejection or a stray
    de-registration. A status below 128 may still change here: GRE Key where GRE is not in
    use (RFC 5845: 137), T flag in GRE mode (138)."""
    message = pbu.message
    accepted = status < 128
    options: list[MobilityOption] = [
        pbu.mn_id if pbu.mn_id is not None else MobileNodeIdentifierOption(b"")
    ]
    if accepted and entry is not None and entry.hnp_options:
        options.extend(entry.hnp_options)
    elif pbu.prefixes:
        options.extend(pbu.prefixes)
    else:
        options.append(HomeNetworkPrefixOption(ZERO16, 0))
    options.append(pbu.hi if pbu.hi is not None else HandoffIndicatorOption(0))
    options.append(pbu.att if pbu.att is not None else AccessTechnologyTypeOption(0))
    if status in _TIMESTAMP_STATUSES:  # our clock, so the MAG can correct its own
        options.append(TimestampOption.from_seconds(now.utc))
    elif pbu.timestamp is not None:
        options.append(pbu.timestamp)
    if pbu.ll_id is not None:
        options.append(pbu.ll_id)
    if pbu.lla is not None:
        if accepted and entry is not None and pbu.lla.address == ZERO16:
            options.append(LinkLocalAddressOption(entry.link_local_address))
        else:
            options.append(pbu.lla)
    gre_mode = policy.tunnel_mode is TunnelMode.GRE
    if accepted and pbu.gre_key is not None and not gre_mode:
        status = BindingStatus.GRE_KEY_OPTION_NOT_REQUIRED
    elif accepted and gre_mode and entry is not None and message.lifetime:
        options.append(GreKeyOption(entry.gre_key_uplink))
        if int(message.flags) & BindingUpdateFlag.T:
            status = BindingStatus.GRE_TUNNELING_BUT_TLV_HEADER_NOT_SUPPORTED
    if pbu.ipv4_request is not None:
        if accepted and entry is not None and entry.ipv4_home_address is not None:
            options.append(
                IPv4HomeAddressReplyOption(
                    IPv4HomeAddressReplyStatus.SUCCESS,
                    v4_packed(entry.ipv4_home_address),
                    policy.ipv4_prefix_length,
                )
            )
            if policy.ipv4_default_router:
                options.append(
                    IPv4DefaultRouterAddressOption(v4_packed(policy.ipv4_default_router))
                )
        elif not accepted:
            options.append(
                IPv4HomeAddressReplyOption(
                    ipv4_status or IPv4HomeAddressReplyStatus.FAILURE_REASON_UNSPECIFIED,
                    pbu.ipv4_request.address,
                    pbu.ipv4_request.prefix_length,
                )
            )
    flags = BindingAcknowledgementFlag.P if int(message.flags) & P_FLAG else 0
    pba = ProxyBindingAcknowledgement(
        status, message.sequence, lifetime // LIFETIME_UNIT_SECONDS, flags, tuple(options)
    )
    event = pbu.event
    actions.append(reply_to(event, pba))
    actions.append(
        RecordAudit(
            kind=AuditKind.PBU,
            utc=now.utc,
            mn_id=pbu.mn_id.identifier if pbu.mn_id is not None else None,
            peer=pbu.peer.name if pbu.peer is not None else event.source,
            fields={
                "status": int(status),
                "sequence": message.sequence,
                "lifetime": lifetime,
                "handoff_indicator": int(pbu.hi.indicator) if pbu.hi else None,
                "transport": event.transport.value,
                "reason": reason,
            },
        )
    )


def refuse_pbu(
    policy: LmaPolicy, pbu: ReceivedPbu, reject: PbuRejected, now: Now, actions: list[LmaAction]
) -> None:
    """Append the PBA that refuses ``pbu`` with ``reject``'s status, and its audit record."""
    answer_pbu(policy, pbu, reject.status, 0, None, now, actions, reject.reason, reject.ipv4_status)


@functools.lru_cache(maxsize=65536)
def v4_packed(address: str) -> bytes:
    """An IPv4 address's four octets (cached: several per PBU, ipaddress parsing is slow)."""
    return pack_ipv4(address)
