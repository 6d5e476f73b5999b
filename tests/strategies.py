"""Hypothesis strategies for every mobility option and message the codec supports."""

from __future__ import annotations

from hypothesis import strategies as st

from netlmm_aaa.core.codes import (
    BindingAcknowledgementFlag,
    BindingUpdateFlag,
    RevocationFlag,
)
from netlmm_aaa.core.messages import (
    BindingError,
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    Heartbeat,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    UpdateNotification,
    UpdateNotificationAcknowledgement,
)
from netlmm_aaa.core.options import (
    AccessTechnologyTypeOption,
    BindingRefreshAdviceOption,
    GreKeyOption,
    HandoffIndicatorOption,
    HomeNetworkPrefixOption,
    IPv4DefaultRouterAddressOption,
    IPv4DhcpSupportModeOption,
    IPv4HomeAddressReplyOption,
    IPv4HomeAddressRequestOption,
    LinkLocalAddressOption,
    MobileNodeIdentifierOption,
    MobileNodeLinkLayerIdentifierOption,
    RestartCounterOption,
    TimestampOption,
    UnknownOption,
)
from netlmm_aaa.wire.mobility_options import ALIGNMENT

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
u64 = st.integers(0, 0xFFFF_FFFF_FFFF_FFFF)
ipv6 = st.binary(min_size=16, max_size=16)
ipv4 = st.binary(min_size=4, max_size=4)
#: Types the codec decodes itself, plus padding: an UnknownOption must use none of them.
_KNOWN_TYPES = {0, 1, 2, 8} | set(ALIGNMENT) | {23, 24, 25, 39}

OPTION_STRATEGIES = {
    BindingRefreshAdviceOption: st.builds(BindingRefreshAdviceOption, u16),
    MobileNodeIdentifierOption: st.builds(MobileNodeIdentifierOption, st.binary(max_size=254), u8),
    HomeNetworkPrefixOption: st.builds(HomeNetworkPrefixOption, ipv6, st.integers(0, 128)),
    HandoffIndicatorOption: st.builds(HandoffIndicatorOption, u8),
    AccessTechnologyTypeOption: st.builds(AccessTechnologyTypeOption, u8),
    MobileNodeLinkLayerIdentifierOption: st.builds(
        MobileNodeLinkLayerIdentifierOption, st.binary(max_size=251)
    ),
    LinkLocalAddressOption: st.builds(LinkLocalAddressOption, ipv6),
    TimestampOption: st.builds(TimestampOption, u64),
    RestartCounterOption: st.builds(RestartCounterOption, u32),
    GreKeyOption: st.builds(GreKeyOption, st.none() | u32),
    IPv4HomeAddressRequestOption: st.builds(IPv4HomeAddressRequestOption, ipv4, st.integers(0, 32)),
    IPv4HomeAddressReplyOption: st.builds(IPv4HomeAddressReplyOption, u8, ipv4, st.integers(0, 32)),
    IPv4DefaultRouterAddressOption: st.builds(IPv4DefaultRouterAddressOption, ipv4),
    IPv4DhcpSupportModeOption: st.builds(IPv4DhcpSupportModeOption, st.booleans()),
    UnknownOption: st.builds(
        UnknownOption,
        st.integers(2, 255).filter(lambda t: t not in _KNOWN_TYPES),
        st.binary(max_size=64),
    ),
}

any_option = st.one_of(*OPTION_STRATEGIES.values())
#: Small option lists, so that a message stays within Header Len's 2048 octets.
option_lists = st.lists(any_option, max_size=8).map(tuple)

MESSAGE_STRATEGIES = {
    ProxyBindingUpdate: st.builds(
        ProxyBindingUpdate,
        u16,
        u16,
        st.sampled_from([BindingUpdateFlag(w) for w in range(0, 0x10000, 0x40)]),
        option_lists,
    ),
    ProxyBindingAcknowledgement: st.builds(
        ProxyBindingAcknowledgement,
        u8,
        u16,
        u16,
        st.sampled_from([BindingAcknowledgementFlag(w) for w in range(0, 0x100, 0x8)]),
        option_lists,
    ),
    Heartbeat: st.builds(Heartbeat, u32, st.booleans(), st.booleans(), option_lists),
    BindingRevocationIndication: st.builds(
        BindingRevocationIndication,
        u8,
        u16,
        st.sampled_from([RevocationFlag(w) for w in range(0, 0x10000, 0x2000)]),
        option_lists,
    ),
    BindingRevocationAcknowledgement: st.builds(
        BindingRevocationAcknowledgement,
        u8,
        u16,
        st.sampled_from([RevocationFlag(w) for w in range(0, 0x10000, 0x2000)]),
        option_lists,
    ),
    UpdateNotification: st.builds(
        UpdateNotification, u16, u16, st.booleans(), st.booleans(), option_lists
    ),
    UpdateNotificationAcknowledgement: st.builds(
        UpdateNotificationAcknowledgement, u16, u8, option_lists
    ),
    BindingError: st.builds(BindingError, u8, ipv6, option_lists),
}

any_message = st.one_of(*MESSAGE_STRATEGIES.values())
