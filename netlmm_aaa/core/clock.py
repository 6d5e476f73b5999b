"""Time, passed into the core (aioquic style): the core never reads a clock itself."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Now:
    """One instant, stamped once per event by whoever feeds the core."""

    monotonic: float
    """Seconds on a monotonic clock: timers and lifetimes are measured on it."""
    utc: float
    """POSIX seconds (UTC): Timestamp options and the audit trail use it."""

    def after(self, seconds: float) -> Now:
        """The instant ``seconds`` later (for tests and simulations)."""
        return Now(self.monotonic + seconds, self.utc + seconds)
