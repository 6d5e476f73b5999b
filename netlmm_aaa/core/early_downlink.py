"""Downlinks prepared from an Access-Accept, ahead of the PBA (sans-IO).

When the AAA server's Access-Accept names a station's home prefix (RFC 6572), the MAG readies the
station's downlink before the station is even reported, so the first packets after the PBA are
not lost. Invariants: what is prepared is withdrawn unless a registration takes it over, that is
when the registration ends without an acknowledgement (rejected, never answered, the station left
meanwhile), or when no registration begins before the deadline; what a registration installs
differently (another prefix, another interface) is withdrawn when it installs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from netlmm_aaa.core.actions import PrepareDownlink, StationBinding, WithdrawDownlink


@dataclass(slots=True)
class _Prepared:
    station: StationBinding
    deadline: float
    registering: bool
    """A registration for the station began: from now on its outcome decides."""


class EarlyDownlinks:
    """The stations whose downlink was prepared ahead of their PBA (by MAC)."""

    def __init__(self) -> None:
        self._prepared: dict[str, _Prepared] = {}

    def __bool__(self) -> bool:
        return bool(self._prepared)

    def deadline(self, mac: str) -> float | None:
        entry = self._prepared.get(mac)
        return entry.deadline if entry is not None else None

    def prepare(self, station: StationBinding, deadline: float) -> PrepareDownlink | None:
        """Prepare ``station``'s downlink until ``deadline`` (monotonic), unless it already is."""
        entry = self._prepared.get(station.mac)
        if entry is not None and entry.station == station:
            return None
        self._prepared[station.mac] = _Prepared(station, deadline, False)
        return PrepareDownlink(station=station)

    def taken_over(self, installed: StationBinding) -> WithdrawDownlink | None:
        """The registration installed ``installed``: what was prepared and is not part of it
        goes."""
        entry = self._prepared.pop(installed.mac, None)
        if entry is None:
            return None
        early = entry.station
        stale = StationBinding(
            mac=early.mac,
            mn_id=early.mn_id,
            interface=early.interface,
            home_network_prefixes=tuple(
                p for p in early.home_network_prefixes if p not in installed.home_network_prefixes
            ),
            ipv4_home_address=(
                early.ipv4_home_address
                if early.ipv4_home_address != installed.ipv4_home_address
                else None
            ),
            lma_address=early.lma_address,
        )
        if stale.interface != installed.interface:
            stale = early
        if stale.home_network_prefixes or stale.ipv4_home_address:
            return WithdrawDownlink(station=stale)
        return None

    def sweep(
        self, registering: Callable[[str], bool | None], now: float
    ) -> list[WithdrawDownlink]:
        """Withdraw what no registration can take over any more. ``registering(mac)``: True
        while the station's registration is under way or in place, False while it leaves,
        None when the MAG has no entry for it."""
        out: list[WithdrawDownlink] = []
        for mac, entry in list(self._prepared.items()):
            state = registering(mac)
            if state:
                entry.registering = True
            elif entry.registering or state is not None or entry.deadline <= now:
                del self._prepared[mac]
                out.append(WithdrawDownlink(station=entry.station))
        return out
