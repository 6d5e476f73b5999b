"""Mobility options (RFC 6275 §6.2 and the PMIPv6 RFCs) as typed, immutable values.

Each option is a ``NamedTuple`` whose equality also compares the class, so that, for example, a
Handoff Indicator of 4 never equals an Access Technology Type of 4. (``NamedTuple`` rather than a
frozen dataclass: the codec builds several of these per packet, and a tuple is built about three
times faster; see ``bench/codec.py``.)

Addresses and prefixes are kept as packed ``bytes`` exactly as on the wire; the ``from_*``
constructors and the properties convert to and from :mod:`ipaddress` objects. Padding (Pad1, PadN)
is not an option value: the encoder inserts it to satisfy the alignment rules and the decoder skips
it. An option type the codec does not know is kept as :class:`UnknownOption` and re-encoded as is.
"""

from __future__ import annotations

import ipaddress
from typing import Any, NamedTuple

from netlmm_aaa.core.addresses import ipv6_network, pack_ipv4, pack_ipv6
from netlmm_aaa.core.codes import MobilityOptionType

#: Seconds between 1970-01-01 and the 48.16 fixed-point epoch of RFC 5213 §8.8 (the same epoch).
_TIMESTAMP_FRACTION = 65536


class BindingRefreshAdviceOption(NamedTuple):
    """Binding Refresh Advice (type 2, RFC 6275 §6.2.4)."""

    refresh_interval: int
    """Suggested refresh interval, in units of 4 seconds (16 bits)."""


class MobileNodeIdentifierOption(NamedTuple):
    """Mobile Node Identifier (type 8, RFC 4283): the MN-ID, normally an NAI."""

    identifier: bytes
    """The identifier octets (UTF-8 NAI for subtype 1). Empty only in a PBA with status 160."""
    subtype: int = 1
    """Subtype; 1 is the Network Access Identifier."""

    @classmethod
    def from_nai(cls, nai: str) -> MobileNodeIdentifierOption:
        """Build the option for a Network Access Identifier such as ``alice@example.org``."""
        return cls(nai.encode("utf-8"), 1)

    @property
    def nai(self) -> str:
        """The identifier as text (undecodable octets replaced)."""
        return self.identifier.decode("utf-8", "replace")


class HomeNetworkPrefixOption(NamedTuple):
    """Home Network Prefix (type 22, RFC 5213 §8.3, alignment 8n+4)."""

    prefix: bytes
    """The prefix, 16 packed octets. All zero with length 0 asks the LMA to allocate one."""
    prefix_length: int
    """Prefix length in bits (0-128)."""

    @classmethod
    def from_network(cls, network: str | ipaddress.IPv6Network) -> HomeNetworkPrefixOption:
        """Build the option from ``"2001:db8:1::/64"`` or an :class:`~ipaddress.IPv6Network`."""
        if isinstance(network, str):
            return cls(*ipv6_network(network))
        net = ipaddress.IPv6Network(network)
        return cls(net.network_address.packed, net.prefixlen)

    @property
    def network(self) -> ipaddress.IPv6Network:
        """The prefix as an :class:`~ipaddress.IPv6Network` (host bits cleared)."""
        return ipaddress.IPv6Network((self.prefix, self.prefix_length), strict=False)


class HandoffIndicatorOption(NamedTuple):
    """Handoff Indicator (type 23, RFC 5213 §8.4)."""

    indicator: int
    """A :class:`~netlmm_aaa.core.codes.HandoffIndicator` (or the raw value if unknown)."""


class AccessTechnologyTypeOption(NamedTuple):
    """Access Technology Type (type 24, RFC 5213 §8.5)."""

    access_technology: int
    """An :class:`~netlmm_aaa.core.codes.AccessTechnologyType` (or the raw value if unknown)."""


class MobileNodeLinkLayerIdentifierOption(NamedTuple):
    """Mobile Node Link-layer Identifier (type 25, RFC 5213 §8.6)."""

    link_layer_identifier: bytes
    """The identifier: a 6-octet MAC for 802.3/802.11 (other lengths are accepted)."""

    @classmethod
    def from_mac(cls, mac: str) -> MobileNodeLinkLayerIdentifierOption:
        """Build the option from ``"02:00:00:00:01:01"`` (also accepts ``-`` separators)."""
        return cls(bytes.fromhex(mac.replace(":", "").replace("-", "")))


class LinkLocalAddressOption(NamedTuple):
    """Link-local Address (type 26, RFC 5213 §8.7, alignment 8n+6)."""

    address: bytes
    """The MAG's link-local address, 16 packed octets."""

    @classmethod
    def from_address(cls, address: str | ipaddress.IPv6Address) -> LinkLocalAddressOption:
        """Build the option from a textual or :class:`~ipaddress.IPv6Address` address."""
        if isinstance(address, str):
            return cls(pack_ipv6(address))
        return cls(ipaddress.IPv6Address(address).packed)


class TimestampOption(NamedTuple):
    """Timestamp (type 27, RFC 5213 §8.8, alignment 8n+2).

    The value is 64 bits: 48 bits of seconds since 1970-01-01 UTC and 16 bits of 1/65536 second.
    """

    timestamp: int
    """The raw 64-bit 48.16 fixed-point value."""

    @classmethod
    def from_seconds(cls, seconds: float) -> TimestampOption:
        """Build the option from POSIX seconds (``time.time()`` or the core's ``Now.utc``)."""
        return cls(round(seconds * _TIMESTAMP_FRACTION) & 0xFFFF_FFFF_FFFF_FFFF)

    @property
    def seconds(self) -> float:
        """The timestamp as POSIX seconds."""
        return self.timestamp / _TIMESTAMP_FRACTION


class RestartCounterOption(NamedTuple):
    """Restart Counter (type 28, RFC 5847 §3.4, alignment 4n+2)."""

    counter: int
    """The sender's restart counter (32 bits)."""


class GreKeyOption(NamedTuple):
    """GRE Key (type 33, RFC 5845 §6.1, alignment 4n)."""

    key: int | None = None
    """The GRE Key Identifier (32 bits), or ``None`` for the 2-octet form that carries no key."""


class IPv4HomeAddressRequestOption(NamedTuple):
    """IPv4 Home Address Request (type 36, RFC 5844 §3.3.1, alignment 4n)."""

    address: bytes = bytes(4)
    """The requested address, 4 packed octets; 0.0.0.0 asks the LMA to allocate one."""
    prefix_length: int = 0
    """Prefix length of the home network (6 bits, 0-32)."""

    @classmethod
    def from_address(
        cls, address: str | ipaddress.IPv4Address, prefix_length: int = 0
    ) -> IPv4HomeAddressRequestOption:
        """Build the option from a textual or :class:`~ipaddress.IPv4Address` address."""
        if isinstance(address, str):
            return cls(pack_ipv4(address), prefix_length)
        return cls(ipaddress.IPv4Address(address).packed, prefix_length)

    @property
    def ipv4_address(self) -> ipaddress.IPv4Address:
        """The address as an :class:`~ipaddress.IPv4Address`."""
        return ipaddress.IPv4Address(self.address)


class IPv4HomeAddressReplyOption(NamedTuple):
    """IPv4 Home Address Reply (type 37, RFC 5844 §3.3.2, alignment 4n)."""

    status: int
    """An :class:`~netlmm_aaa.core.codes.IPv4HomeAddressReplyStatus` (or the raw value)."""
    address: bytes
    """The assigned address, 4 packed octets."""
    prefix_length: int
    """Prefix length of the home network (6 bits, 0-32)."""

    @property
    def ipv4_address(self) -> ipaddress.IPv4Address:
        """The address as an :class:`~ipaddress.IPv4Address`."""
        return ipaddress.IPv4Address(self.address)


class IPv4DefaultRouterAddressOption(NamedTuple):
    """IPv4 Default-Router Address (type 38, RFC 5844 §3.3.3, alignment 4n)."""

    address: bytes
    """The default router the MN should use, 4 packed octets."""

    @property
    def ipv4_address(self) -> ipaddress.IPv4Address:
        """The address as an :class:`~ipaddress.IPv4Address`."""
        return ipaddress.IPv4Address(self.address)


class IPv4DhcpSupportModeOption(NamedTuple):
    """IPv4 DHCP Support Mode (type 39, RFC 5844 §3.3.4)."""

    server: bool
    """The S flag: True when the MAG is the DHCP server, False when it is a DHCP relay."""


class UnknownOption(NamedTuple):
    """An option type this codec does not interpret, kept so it can be logged and re-encoded."""

    option_type: int
    """The option's Type octet."""
    data: bytes
    """The option's data, after Type and Length."""


MobilityOption = (
    BindingRefreshAdviceOption
    | MobileNodeIdentifierOption
    | HomeNetworkPrefixOption
    | HandoffIndicatorOption
    | AccessTechnologyTypeOption
    | MobileNodeLinkLayerIdentifierOption
    | LinkLocalAddressOption
    | TimestampOption
    | RestartCounterOption
    | GreKeyOption
    | IPv4HomeAddressRequestOption
    | IPv4HomeAddressReplyOption
    | IPv4DefaultRouterAddressOption
    | IPv4DhcpSupportModeOption
    | UnknownOption
)
"""Any decoded mobility option."""

#: The Type octet of each option class (UnknownOption carries its own).
OPTION_TYPES: dict[type[Any], MobilityOptionType] = {
    BindingRefreshAdviceOption: MobilityOptionType.BINDING_REFRESH_ADVICE,
    MobileNodeIdentifierOption: MobilityOptionType.MOBILE_NODE_IDENTIFIER,
    HomeNetworkPrefixOption: MobilityOptionType.HOME_NETWORK_PREFIX,
    HandoffIndicatorOption: MobilityOptionType.HANDOFF_INDICATOR,
    AccessTechnologyTypeOption: MobilityOptionType.ACCESS_TECHNOLOGY_TYPE,
    MobileNodeLinkLayerIdentifierOption: MobilityOptionType.MOBILE_NODE_LINK_LAYER_IDENTIFIER,
    LinkLocalAddressOption: MobilityOptionType.LINK_LOCAL_ADDRESS,
    TimestampOption: MobilityOptionType.TIMESTAMP,
    RestartCounterOption: MobilityOptionType.RESTART_COUNTER,
    GreKeyOption: MobilityOptionType.GRE_KEY,
    IPv4HomeAddressRequestOption: MobilityOptionType.IPV4_HOME_ADDRESS_REQUEST,
    IPv4HomeAddressReplyOption: MobilityOptionType.IPV4_HOME_ADDRESS_REPLY,
    IPv4DefaultRouterAddressOption: MobilityOptionType.IPV4_DEFAULT_ROUTER_ADDRESS,
    IPv4DhcpSupportModeOption: MobilityOptionType.IPV4_DHCP_SUPPORT_MODE,
}


def option_type_of(option: MobilityOption) -> int:
    """The Type octet ``option`` is encoded with."""
    if type(option) is UnknownOption:
        return option.option_type
    return OPTION_TYPES[type(option)]


def _typed_eq(self: tuple[Any, ...], other: object) -> bool:
    return type(self) is type(other) and tuple.__eq__(self, other)


def _typed_ne(self: tuple[Any, ...], other: object) -> bool:
    return not _typed_eq(self, other)


def make_type_strict(*classes: type[tuple[Any, ...]]) -> None:
    """Make equality of these NamedTuple classes take the class into account.

    The tuple hash is kept: equal values still hash equal, and values of two classes that happen to
    hash alike simply do not compare equal.
    """
    for cls in classes:
        setattr(cls, "__eq__", _typed_eq)  # noqa: B010
        setattr(cls, "__ne__", _typed_ne)  # noqa: B010


make_type_strict(*OPTION_TYPES, UnknownOption)
