"""Two MAG cores and an LMA core joined by a fake network (h11's connection-pair idea).

``exchange()`` delivers every SendMessage of one core to the other as a MobilityMessageReceived,
through the real codec (encode with checksum, decode with verification), for a bounded number of
rounds; ``drop`` lets a test lose messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netlmm_aaa.core.actions import SendMessage
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.events import MobilityMessageReceived, StationAttached, TimerFired
from netlmm_aaa.core.lma import LocalMobilityAnchor
from netlmm_aaa.core.mobile_access_gateway import MagPolicy, MobileAccessGateway
from netlmm_aaa.wire.mobility_header import decode_mobility_header, encode_mobility_header
from tests.lma_support import LMAA, MAG1_ADDR, MAG2_ADDR, T0, make_lma

MN_MAC = "02:88:00:00:aa:01"
ALICE = b"alice@example.org"


@dataclass
class Pair:
    lma: LocalMobilityAnchor
    mags: dict[str, MobileAccessGateway]
    now: Now = T0
    log: list[tuple[str, Any]] = field(default_factory=list)
    drop: Callable[[str, SendMessage], bool] = lambda who, send: False
    hop: float = 0.0
    """Seconds each delivery round takes (0: messages arrive in the same instant)."""

    def deliver(self, who: str, actions: list[Any]) -> list[tuple[str, Any]]:
        """Actions of ``who`` -> their effects; returns (who, action) for non-message actions."""
        pending = [(who, a) for a in actions]
        effects: list[tuple[str, Any]] = []
        for _ in range(50):
            if not pending:
                return effects
            nxt: list[tuple[str, Any]] = []
            if self.hop:
                self.now = self.now.after(self.hop)
            for source, action in pending:
                self.log.append((source, action))
                if type(action) is not SendMessage:
                    effects.append((source, action))
                    continue
                if self.drop(source, action):
                    continue
                src_addr = (
                    LMAA if source == "lma" else {"mag1": MAG1_ADDR, "mag2": MAG2_ADDR}[source]
                )
                mh = encode_mobility_header(
                    action.message, source=src_addr, destination=action.destination
                )
                message = decode_mobility_header(
                    mh, source=src_addr, destination=action.destination
                )
                event = MobilityMessageReceived(
                    message=message, source=src_addr, destination=action.destination
                )
                target = (
                    "lma"
                    if action.destination == LMAA
                    else ("mag1" if action.destination == MAG1_ADDR else "mag2")
                )
                core = self.lma if target == "lma" else self.mags[target]
                nxt.extend((target, a) for a in core.handle(event, self.now))  # type: ignore[arg-type]
            pending = nxt
        raise AssertionError("messages kept bouncing for 50 rounds")

    def attach(
        self, mag: str, mac: str = MN_MAC, mn_id: bytes = ALICE, **profile: Any
    ) -> list[tuple[str, Any]]:
        event = StationAttached(mac=mac, mn_id=mn_id, interface="acc0", **profile)
        return self.deliver(mag, self.mags[mag].handle(event, self.now))

    def tick(self, seconds: float) -> list[tuple[str, Any]]:
        self.now = self.now.after(seconds)
        effects = self.deliver("lma", self.lma.handle(TimerFired(), self.now))
        for name, mag in self.mags.items():
            effects += self.deliver(name, mag.handle(TimerFired(), self.now))
        return effects


def make_pair(lma_changes: dict[str, Any] | None = None, **mag_changes: Any) -> Pair:
    lma = make_lma(**(lma_changes or {}))
    mags = {
        name: MobileAccessGateway(
            MagPolicy(name=name, proxy_coa=addr, lma_address=LMAA, **mag_changes)
        )
        for name, addr in (("mag1", MAG1_ADDR), ("mag2", MAG2_ADDR))
    }
    return Pair(lma=lma, mags=mags)
