"""Source-address validation on the MAG's access links (BCP 38; RFC 5213 §6.10.5), on nftables.

Per access interface, a ``netdev`` ingress chain drops every packet whose source address is not
its sender's own: an IPv6 source other than ``::`` / link-local must be in a home network prefix
registered for that very MAC, an IPv4 source other than 0.0.0.0 must be the IPv4 home address
registered for that MAC. So an authenticated station cannot send from another station's prefix
(prefix theft), an unauthenticated one (hostapd ``driver=wired`` forwards its frames) cannot
send from any routable address, and neither reaches the tunnel or the MAG's routing. ND, RS,
DHCP and ARP keep working. The pairs live in two sets (``ether_addr . ipv6_addr`` with prefix
intervals, ``ether_addr . ipv4_addr``) updated per registered station.

Programmed through :class:`~netlmm_aaa.dataplane.nftables.Nftables` (libnftables in-process, so
a registering station does not wait for a program to start). The kernel needs nf_tables with
the netdev family (Linux 5.6+ for concatenated intervals).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from netlmm_aaa.core.actions import StationBinding
from netlmm_aaa.dataplane.nftables import Nftables

TABLE = "netlmm_mag"


def _chain(interface: str) -> str:
    return "in_" + re.sub(r"[^A-Za-z0-9_]", "_", interface)


class IngressFilter:
    """The nftables table ``netdev netlmm_mag`` of one MAG (in ``netns`` when given)."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self._nft = Nftables(netns)

    def start(self) -> None:
        """A fresh, empty table (a previous run's pairs are gone: stations register again)."""
        self._nft.run(f"table netdev {TABLE} {{}}\ndelete table netdev {TABLE}\n"
                      f"table netdev {TABLE} {{\n"
                      "  set stations6 { type ether_addr . ipv6_addr; flags interval; }\n"
                      "  set stations4 { type ether_addr . ipv4_addr; }\n"
                      "}\n",
                      missing="ingress filtering needs the nft program (Debian package "
                      "nftables); install it or set [mag] ingress_filter = false")  # fmt: skip

    def prepare(self, interface: str) -> None:
        """Validate sources on ``interface`` from now on."""
        chain = _chain(interface)
        self._nft.run(
            f"add chain netdev {TABLE} {chain} {{ type filter hook ingress device "
            f'"{interface}" priority 0; policy accept; }}\n'
            f"add rule netdev {TABLE} {chain} ip6 saddr != {{ ::, fe80::/10 }} "
            "ether saddr . ip6 saddr != @stations6 counter drop\n"
            f"add rule netdev {TABLE} {chain} ip saddr != 0.0.0.0 "
            "ether saddr . ip saddr != @stations4 counter drop\n"
        )

    @staticmethod
    def _elements(station: StationBinding) -> list[str]:
        lines = [f"element netdev {TABLE} stations6 {{ {station.mac} . {prefix} }}"
                 for prefix in station.home_network_prefixes]  # fmt: skip
        if station.ipv4_home_address:
            lines.append(f"element netdev {TABLE} stations4 "
                         f"{{ {station.mac} . {station.ipv4_home_address} }}")  # fmt: skip
        return lines

    def update(self, changes: Sequence[tuple[StationBinding, bool]]) -> list[str | None]:
        """Allow (True) or revoke (False) each station's pairs, in order, in one nftables
        transaction; returns each change's error (None: done). Revoking missing pairs is fine:
        the station may never have been allowed.

        One transaction for many stations because nft fetches the sets it touches on every
        run: a run per station costs more the more stations are registered. A transaction is
        all or nothing, so when it fails the changes are made one by one, and only the failing
        ones report an error."""
        script = "".join(self._script(station, allow) for station, allow in changes)
        if not script or self._nft.run(script, check=False):
            return [None] * len(changes)
        return [self._one(station, allow) for station, allow in changes]

    def _script(self, station: StationBinding, allow: bool) -> str:
        verb = "add" if allow else "delete"
        return "".join(f"{verb} {line}\n" for line in self._elements(station))

    def _one(self, station: StationBinding, allow: bool) -> str | None:
        if not allow:
            for line in self._elements(station):
                self._nft.run(f"delete {line}\n", check=False)
            return None
        script = self._script(station, True)
        if not script or self._nft.run(script, check=False):
            return None
        return f"nft: {self._nft.last_error or 'failed'}"

    def dropped(self, interface: str) -> int:
        """Packets dropped on ``interface`` so far (both rules)."""
        out = self._nft.output("list", "chain", "netdev", TABLE, _chain(interface))
        return sum(int(n) for n in re.findall(r"counter packets (\d+)", out))
