"""Source-address validation and uplink marking on the MAG's access links (BCP 38; RFC 5213
§6.10.5), on nftables.

Per access interface, a ``netdev`` ingress chain drops every packet whose source address is not
its sender's own: an IPv6 source other than ``::`` / link-local must be in a home network prefix
registered for that very MAC, an IPv4 source other than 0.0.0.0 must be the IPv4 home address
registered for that MAC. So an authenticated station cannot send from another station's prefix
(prefix theft), an unauthenticated one (hostapd ``driver=wired`` forwards its frames) cannot
send from any routable address, and neither reaches the tunnel or the MAG's routing. ND, RS,
DHCP and ARP keep working.

The pairs live in two maps (``ether_addr . ipv6_addr`` with prefix intervals,
``ether_addr . ipv4_addr``) whose value is the packet mark the chain sets: the number of the
uplink table the station's traffic takes (one ``iif <link> fwmark <table> lookup <table>`` rule
per link and table leads there), or :data:`NO_UPLINK` while its downlink is only prepared. One
map lookup per packet replaces a source rule per station, which the kernel walks in a list on
every routing decision and on every rule added.

Programmed through :class:`~netlmm_aaa.dataplane.nftables.Nftables` (libnftables in-process, so
a registering station does not wait for a program to start). The kernel needs nf_tables with
the netdev family (Linux 5.6+ for concatenated intervals).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from netlmm_aaa.core.actions import StationBinding
from netlmm_aaa.dataplane.nftables import Nftables
from netlmm_aaa.dataplane.port import DataPlaneError

TABLE = "netlmm_mag"
#: The mark of a station whose downlink is only prepared: its packets pass (its first answer
#: comes from its home address) but no rule leads them into the tunnel. Not 0 (the mark of a
#: packet no map names, which is dropped), not a table number we use (100 and up for the LMAs,
#: 0x4E4C0000 and up for GRE stations).
NO_UPLINK = 0x4E4D_0000


def _chain(interface: str) -> str:
    return "in_" + re.sub(r"[^A-Za-z0-9_]", "_", interface)


class IngressFilter:
    """The nftables table ``netdev netlmm_mag`` of one MAG (in ``netns`` when given)."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self._nft = Nftables(netns)
        self._marks: dict[tuple[str, str], int] = {}
        """What the maps hold: (map, ``mac . address``) -> mark. We are their only writer and
        a transaction changes all or nothing, so this follows every one that succeeded."""

    def start(self) -> None:
        """A fresh, empty table (a previous run's pairs are gone: stations register again)."""
        self._nft.run(f"table netdev {TABLE} {{}}\ndelete table netdev {TABLE}\n"
                      f"table netdev {TABLE} {{\n"
                      "  map stations6 { type ether_addr . ipv6_addr : mark; flags interval; }\n"
                      "  map stations4 { type ether_addr . ipv4_addr : mark; }\n"
                      "}\n",
                      missing="ingress filtering needs the nft program (Debian package "
                      "nftables); install it or set [mag] ingress_filter = false")  # fmt: skip
        self._marks.clear()

    def prepare(self, interface: str) -> None:
        """Validate and mark sources on ``interface`` from now on. A packet from a routable
        source is marked from the maps; one no map names keeps mark 0 and is dropped. (The
        drop tests the mark rather than looking the pair up again: Linux 6.1 refuses a map
        as the set of a membership test.)"""
        chain = _chain(interface)
        routable = {"ip6": "ip6 saddr != { ::, fe80::/10 }", "ip": "ip saddr != 0.0.0.0"}
        rules = [f"add chain netdev {TABLE} {chain} {{ type filter hook ingress device "
                 f'"{interface}" priority 0; policy accept; }}']  # fmt: skip
        for family, name in (("ip6", "stations6"), ("ip", "stations4")):
            match = f"add rule netdev {TABLE} {chain} {routable[family]}"
            rules += [
                f"{match} meta mark set 0",
                f"{match} meta mark set ether saddr . {family} saddr map @{name}",
                f"{match} meta mark 0 counter drop",
            ]
        self._nft.run("\n".join(rules) + "\n")

    @staticmethod
    def _elements(station: StationBinding) -> list[tuple[str, str]]:
        pairs = [("stations6", f"{station.mac} . {prefix}")
                 for prefix in station.home_network_prefixes]  # fmt: skip
        if station.ipv4_home_address:
            pairs.append(("stations4", f"{station.mac} . {station.ipv4_home_address}"))
        return pairs

    def update(self, changes: Sequence[tuple[StationBinding, int | None]]) -> list[str | None]:
        """Give each station's pairs its mark (an int) or remove them (None), in order, in one
        nftables transaction; returns each change's error (None: done). No MAC may appear
        twice. Removing pairs that are not there is fine: the station may never have been
        allowed.

        One transaction for many stations because nft fetches the maps it touches on every
        run: a run per station costs more the more stations are registered. A transaction is
        all or nothing, so when it fails the changes are made one by one, and only the failing
        ones report an error."""
        plans = [self._plan(station, mark) for station, mark in changes]
        if self._apply(plans) is None:
            return [None] * len(changes)
        return [self._apply([plan]) for plan in plans]

    def _apply(self, plans: list[tuple[str, dict[tuple[str, str], int | None]]]) -> str | None:
        """Run the plans' scripts as one transaction; nft's error, or None once done (and
        recorded in what the maps hold)."""
        script = "".join(lines for lines, _ in plans)
        if script:
            try:
                self._nft.run(script)
            except DataPlaneError as exc:
                return str(exc)
        for _, after in plans:
            self._settle(after)
        return None

    def _plan(self, station: StationBinding,
              mark: int | None) -> tuple[str, dict[tuple[str, str], int | None]]:  # fmt: skip
        """The script that brings the station's pairs to ``mark``, and what they hold after
        it. A map element's value cannot be changed by adding it again: it is replaced."""
        lines: list[str] = []
        after: dict[tuple[str, str], int | None] = {}
        for element in self._elements(station):
            name, pair = element
            held = self._marks.get(element)
            if held is not None and held != mark:
                lines.append(f"delete element netdev {TABLE} {name} {{ {pair} }}\n")
                after[element] = None
            if mark is not None and held != mark:
                lines.append(f"add element netdev {TABLE} {name} {{ {pair} : {mark} }}\n")
                after[element] = mark
        return "".join(lines), after

    def _settle(self, after: dict[tuple[str, str], int | None]) -> None:
        for element, mark in after.items():
            if mark is None:
                self._marks.pop(element, None)
            else:
                self._marks[element] = mark

    def dropped(self, interface: str) -> int:
        """Packets dropped on ``interface`` so far (both rules)."""
        out = self._nft.output("list", "chain", "netdev", TABLE, _chain(interface))
        return sum(int(n) for n in re.findall(r"counter packets (\d+)", out))
