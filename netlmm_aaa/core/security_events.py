"""Bad input is counted, not written per packet (sans-IO).

A flood of forged or malformed datagrams must not turn into a flood of audit rows (an audit
write per bad packet is itself a denial of service). Each dropped packet is *noted* here under
(kind, origin, reason); once per interval the owner *drains* one audit record per key with the
number of packets, the first and last time and one sample detail. The first packet of a quiet
key is reported at the next drain, so a single forged packet is still on record within one
interval. The number of keys is bounded: past ``max_keys`` distinct origins, further ones are
counted under the origin ``"*"`` (a spoofed-source flood cannot grow memory).
"""

from __future__ import annotations

from dataclasses import dataclass

from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.clock import Now

OVERFLOW_ORIGIN = "*"


@dataclass(slots=True)
class _Tally:
    count: int
    first: float
    last: float
    detail: str


class SecurityEvents:
    """See the module docstring. ``interval`` in seconds."""

    def __init__(self, interval: float = 1.0, max_keys: int = 1024) -> None:
        self.interval = interval
        self.max_keys = max_keys
        self._tallies: dict[tuple[AuditKind, str, str], _Tally] = {}
        self._due: float | None = None
        self.noted = 0
        """Packets noted since start (all keys)."""

    def note(
        self, kind: AuditKind, origin: str, reason: str, detail: str, now: Now, count: int = 1
    ) -> None:
        """``count`` dropped packets (or rejected lines) of ``kind`` from ``origin``."""
        self.noted += count
        key = (kind, origin, reason)
        tally = self._tallies.get(key)
        if tally is None:
            if len(self._tallies) >= self.max_keys:
                key = (kind, OVERFLOW_ORIGIN, reason)
                tally = self._tallies.get(key)
            if tally is None:
                self._tallies[key] = _Tally(count, now.utc, now.utc, detail[:200])
                if self._due is None:
                    self._due = now.monotonic + self.interval
                return
        tally.count += count
        tally.last = now.utc

    def deadline(self) -> float | None:
        """When :meth:`drain` has records to hand out (monotonic), or None."""
        return self._due

    def drain(self, now: Now, *, force: bool = False) -> list[RecordAudit]:
        """The aggregated records, if the interval is over (or ``force``); resets the tallies."""
        if not self._tallies or (not force and self._due is not None and now.monotonic < self._due):
            return []
        out = [
            RecordAudit(
                kind=kind,
                utc=t.first,
                peer=origin,
                fields={
                    "reason": reason,
                    "detail": t.detail,
                    "count": t.count,
                    "last": round(t.last, 3),
                },
            )
            for (kind, origin, reason), t in self._tallies.items()
        ]
        self._tallies.clear()
        self._due = None
        return out
