"""The MAG's side of one PBU/PBA exchange (sans-IO): the PBU it sends for a binding update list
entry, what a PBA must echo, and what it grants (RFC 5213 §6.9, RFC 5844, RFC 5845)."""

from __future__ import annotations

from dataclasses import dataclass

from netlmm_aaa.core.addresses import format_ipv4, format_ipv6_network
from netlmm_aaa.core.binding_update_list import BulEntry
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.codes import BindingAcknowledgementFlag
from netlmm_aaa.core.mag_policy import MagPolicy
from netlmm_aaa.core.messages import (
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    lifetime_to_units,
)
from netlmm_aaa.core.options import (
    AccessTechnologyTypeOption,
    GreKeyOption,
    HandoffIndicatorOption,
    HomeNetworkPrefixOption,
    IPv4HomeAddressReplyOption,
    IPv4HomeAddressRequestOption,
    MobileNodeIdentifierOption,
    MobileNodeLinkLayerIdentifierOption,
    MobilityOption,
    TimestampOption,
)
from netlmm_aaa.core.sequence_numbers import next_sequence

_ZERO_HNP = HomeNetworkPrefixOption(bytes(16), 0)


class PbuBuilder:
    """Builds this MAG's PBUs: one sequence number space, strictly increasing timestamps."""

    def __init__(self, policy: MagPolicy) -> None:
        self.policy = policy
        self._sequence = 0
        self._last_timestamp = 0

    def build(self, entry: BulEntry, hi: int, lifetime: int, now: Now) -> ProxyBindingUpdate:
        """A PBU for ``entry`` with Handoff Indicator ``hi`` asking for ``lifetime`` seconds
        (0: de-registration), with the next sequence number."""
        self._sequence = next_sequence(self._sequence)
        return ProxyBindingUpdate(
            self._sequence, lifetime_to_units(lifetime), options=self._options(entry, hi, now)
        )

    def _options(self, entry: BulEntry, hi: int, now: Now) -> tuple[MobilityOption, ...]:
        options: list[MobilityOption] = [MobileNodeIdentifierOption(entry.mn_id)]
        if entry.hnps:
            options.extend(HomeNetworkPrefixOption.from_network(p) for p in entry.hnps)
        elif entry.profile_hnp:
            options.append(HomeNetworkPrefixOption.from_network(entry.profile_hnp))
        else:
            options.append(_ZERO_HNP)
        options.append(HandoffIndicatorOption(hi))
        options.append(AccessTechnologyTypeOption(self.policy.access_technology))
        options.append(MobileNodeLinkLayerIdentifierOption.from_mac(entry.mac))
        if self.policy.use_timestamps:
            # Strictly increasing even within one clock tick: the LMA refuses a timestamp that
            # is not newer than the last one it accepted for the node (157).
            stamp = max(TimestampOption.from_seconds(now.utc).timestamp, self._last_timestamp + 1)
            self._last_timestamp = stamp
            options.append(TimestampOption(stamp))
        if self.policy.ipv4:
            address = entry.ipv4 or entry.profile_ipv4
            options.append(
                IPv4HomeAddressRequestOption.from_address(address)
                if address
                else IPv4HomeAddressRequestOption()
            )
        if entry.gre_downlink is not None:
            options.append(GreKeyOption(entry.gre_downlink))
        return tuple(options)


@dataclass(frozen=True, slots=True)
class Grant:
    """What an accepted PBA gives the station."""

    hnps: tuple[str, ...]
    uplink_key: int | None
    """GRE mode: the key our packets toward the LMA carry (RFC 5845)."""
    ipv4: str | None
    """The IPv4 home address, when the IPv4 Home Address Reply accepted the request."""
    ipv4_prefix_length: int | None


def read_grant(pba: ProxyBindingAcknowledgement) -> Grant:
    hnps = tuple(
        format_ipv6_network(o.prefix, o.prefix_length)
        for o in pba.options
        if type(o) is HomeNetworkPrefixOption
    )
    uplink = next((o.key for o in pba.options if type(o) is GreKeyOption), None)
    reply4 = next((o for o in pba.options if type(o) is IPv4HomeAddressReplyOption), None)
    if reply4 is None or reply4.status >= 128:
        return Grant(hnps, uplink, None, None)
    length = reply4.prefix_length if 0 < reply4.prefix_length <= 32 else None
    return Grant(hnps, uplink, format_ipv4(reply4.address), length)


def unusable_grant(
    pba: ProxyBindingAcknowledgement, gre: bool, prefix_lengths: tuple[int, int]
) -> str | None:
    """Why an accepted PBA grants nothing the MAG may program and advertise, or None: a Home
    Network Prefix of ``::/0`` or of a length outside ``prefix_lengths`` (RFC 5213 §5.3.6: the
    LMA assigns a prefix, it does not echo ALL_ZERO), neither a prefix nor an IPv4 home
    address, or in GRE mode no uplink key (RFC 5845 §3)."""
    low, high = prefix_lengths
    prefixes = [o for o in pba.options if type(o) is HomeNetworkPrefixOption]
    for option in prefixes:
        if option.prefix_length == 0 or not any(option.prefix):
            shown = format_ipv6_network(option.prefix, option.prefix_length)
            return f"no usable home network prefix: {shown}"
        if not low <= option.prefix_length <= high:
            shown = format_ipv6_network(option.prefix, option.prefix_length)
            return f"home network prefix {shown}: length outside {low}..{high}"
    if not prefixes and read_grant(pba).ipv4 is None:
        return "neither a home network prefix nor an IPv4 home address"
    if gre and not any(type(o) is GreKeyOption for o in pba.options):
        return "GRE mode: no uplink GRE key"
    return None


def pba_problem(
    entry: BulEntry | None, pba: ProxyBindingAcknowledgement, source: str
) -> str | None:
    """Why a PBA from ``source`` does not answer ``entry``'s outstanding PBU (§6.9.1.2), if
    it does not: the sequence number, the sender, the P flag and the echoed options."""
    if entry is None or entry.outstanding is None:
        return "no outstanding PBU with this sequence number"
    if source != entry.lma:
        return f"from {source}, not the LMA {entry.lma}"
    if not int(pba.flags) & BindingAcknowledgementFlag.P:
        return "P flag clear"
    return echo_mismatch(entry.outstanding, pba)


def handoff_indicator(pbu: ProxyBindingUpdate) -> int | None:
    return next((int(o.indicator) for o in pbu.options if type(o) is HandoffIndicatorOption), None)


def echo_mismatch(pbu: ProxyBindingUpdate, pba: ProxyBindingAcknowledgement) -> str | None:
    """RFC 5213 §6.9.1.2: the PBA must echo the PBU's MN-ID, HI, ATT and LL-ID."""
    for kind in (
        MobileNodeIdentifierOption,
        HandoffIndicatorOption,
        AccessTechnologyTypeOption,
        MobileNodeLinkLayerIdentifierOption,
    ):
        sent = next((o for o in pbu.options if type(o) is kind), None)
        got = next((o for o in pba.options if type(o) is kind), None)
        if sent is not None and got is not None and sent != got:
            return f"{kind.__name__} differs from the PBU's"
        if sent is not None and got is None and kind is MobileNodeIdentifierOption:
            return "no MN-ID echoed"
    return None
