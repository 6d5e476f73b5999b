"""JSON-ready descriptions of mobility messages and options (for ``netlmm-aaa decode`` and logs).

Field names follow the RFCs; enum values are given as numbers with a ``*_name`` beside them, so a
report reads the same as a pcap and an unknown code point is still shown.
"""

from __future__ import annotations

import ipaddress
from enum import IntEnum, IntFlag
from typing import Any

from netlmm_aaa.core.codes import (
    AccessTechnologyType,
    BindingAcknowledgementFlag,
    BindingStatus,
    BindingUpdateFlag,
    HandoffIndicator,
    IPv4HomeAddressReplyStatus,
    RevocationFlag,
    RevocationStatus,
    RevocationTrigger,
    UpdateNotificationReason,
    UpdateNotificationStatus,
)
from netlmm_aaa.core.messages import (
    MESSAGE_SHORT_NAMES,
    BindingError,
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    Heartbeat,
    MobilityMessage,
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
    MobilityOption,
    RestartCounterOption,
    TimestampOption,
    UnknownOption,
    option_type_of,
)

#: Short option names, as shown by ``netlmm-aaa decode``.
OPTION_NAMES: dict[type[Any], str] = {
    BindingRefreshAdviceOption: "Binding-Refresh-Advice",
    MobileNodeIdentifierOption: "MN-ID",
    HomeNetworkPrefixOption: "HNP",
    HandoffIndicatorOption: "HI",
    AccessTechnologyTypeOption: "ATT",
    MobileNodeLinkLayerIdentifierOption: "MN-LL-ID",
    LinkLocalAddressOption: "LLA",
    TimestampOption: "Timestamp",
    RestartCounterOption: "Restart-Counter",
    GreKeyOption: "GRE-Key",
    IPv4HomeAddressRequestOption: "IPv4-HoA-Request",
    IPv4HomeAddressReplyOption: "IPv4-HoA-Reply",
    IPv4DefaultRouterAddressOption: "IPv4-Default-Router",
    IPv4DhcpSupportModeOption: "IPv4-DHCP-Support-Mode",
    UnknownOption: "Unknown",
}


def _code(value: int, enum: type[IntEnum]) -> dict[str, Any]:
    try:
        return {"value": int(value), "name": enum(value).name}
    except ValueError:
        return {"value": int(value), "name": None}


def _flags(value: int, flag: type[IntFlag]) -> list[str]:
    return [m.name for m in flag if m.name is not None and value & m.value]


def _mac_or_hex(octets: bytes) -> str:
    if len(octets) == 6:
        return ":".join(f"{b:02x}" for b in octets)
    return octets.hex()


def describe_option(option: MobilityOption) -> dict[str, Any]:
    """A JSON-ready dict: ``type`` (number), ``name`` and the decoded fields."""
    out: dict[str, Any] = {"type": option_type_of(option), "name": OPTION_NAMES[type(option)]}
    match option:
        case MobileNodeIdentifierOption():
            out["subtype"] = option.subtype
            try:
                out["identifier"] = option.identifier.decode("utf-8")
            except UnicodeDecodeError:
                out["identifier_hex"] = option.identifier.hex()
        case HomeNetworkPrefixOption():
            out["prefix"] = str(ipaddress.IPv6Address(option.prefix))
            out["prefix_length"] = option.prefix_length
        case HandoffIndicatorOption():
            out["handoff_indicator"] = _code(option.indicator, HandoffIndicator)
        case AccessTechnologyTypeOption():
            out["access_technology_type"] = _code(option.access_technology, AccessTechnologyType)
        case MobileNodeLinkLayerIdentifierOption():
            out["link_layer_identifier"] = _mac_or_hex(option.link_layer_identifier)
        case LinkLocalAddressOption():
            out["address"] = str(ipaddress.IPv6Address(option.address))
        case TimestampOption():
            out["timestamp"] = option.timestamp
            out["seconds"] = option.seconds
        case RestartCounterOption():
            out["restart_counter"] = option.counter
        case GreKeyOption():
            out["gre_key"] = option.key
        case IPv4HomeAddressRequestOption():
            out["address"] = str(ipaddress.IPv4Address(option.address))
            out["prefix_length"] = option.prefix_length
        case IPv4HomeAddressReplyOption():
            out["status"] = _code(option.status, IPv4HomeAddressReplyStatus)
            out["address"] = str(ipaddress.IPv4Address(option.address))
            out["prefix_length"] = option.prefix_length
        case IPv4DefaultRouterAddressOption():
            out["address"] = str(ipaddress.IPv4Address(option.address))
        case IPv4DhcpSupportModeOption():
            out["server"] = option.server
        case BindingRefreshAdviceOption():
            out["refresh_interval"] = option.refresh_interval
        case UnknownOption():
            out["data"] = option.data.hex()
    return out


def describe_message(message: MobilityMessage) -> dict[str, Any]:
    """A JSON-ready dict: ``type`` (short name), ``sequence``, ``flags`` and so on, ``options``."""
    out: dict[str, Any] = {"type": MESSAGE_SHORT_NAMES[type(message)]}
    match message:
        case ProxyBindingUpdate():
            out["sequence"] = message.sequence
            out["flags"] = _flags(message.flags, BindingUpdateFlag)
            out["lifetime"] = message.lifetime
            out["lifetime_seconds"] = message.lifetime_seconds
        case ProxyBindingAcknowledgement():
            out["sequence"] = message.sequence
            out["flags"] = _flags(message.flags, BindingAcknowledgementFlag)
            out["status"] = int(message.status)
            out["status_name"] = _code(message.status, BindingStatus)["name"]
            out["lifetime"] = message.lifetime
            out["lifetime_seconds"] = message.lifetime_seconds
        case Heartbeat():
            out["sequence"] = message.sequence
            out["flags"] = [
                n for n, v in (("U", message.unsolicited), ("R", message.response)) if v
            ]
        case BindingRevocationIndication():
            out["sequence"] = message.sequence
            out["flags"] = _flags(message.flags, RevocationFlag)
            out["trigger"] = int(message.trigger)
            out["trigger_name"] = _code(message.trigger, RevocationTrigger)["name"]
        case BindingRevocationAcknowledgement():
            out["sequence"] = message.sequence
            out["flags"] = _flags(message.flags, RevocationFlag)
            out["status"] = int(message.status)
            out["status_name"] = _code(message.status, RevocationStatus)["name"]
        case UpdateNotification():
            out["sequence"] = message.sequence
            out["flags"] = [
                n for n, v in (("A", message.ack_requested), ("D", message.retransmission)) if v
            ]
            out["reason"] = int(message.reason)
            out["reason_name"] = _code(message.reason, UpdateNotificationReason)["name"]
        case UpdateNotificationAcknowledgement():
            out["sequence"] = message.sequence
            out["flags"] = []
            out["status"] = int(message.status)
            out["status_name"] = _code(message.status, UpdateNotificationStatus)["name"]
        case BindingError():
            out["sequence"] = None
            out["flags"] = []
            out["status"] = int(message.status)
            out["home_address"] = str(ipaddress.IPv6Address(message.home_address))
    out["options"] = [describe_option(o) for o in message.options]
    return out
