"""The LMA's deadlines: one heap of (deadline, order, kind, key).

Entries are never removed: a deadline that moved leaves a stale entry behind, and whoever owns
the kind says whether an entry is still current (its recorded deadline equals the entry's).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable
from enum import Enum, auto


class Timer(Enum):
    """What a deadline is for."""

    BINDING = auto()
    """A binding's lifetime, or its hold after de-registration (key: MN-ID)."""
    PENDING_HANDOVER = auto()
    """The HI=4 wait for the old MAG's de-registration (key: MN-ID)."""
    AAA_WAIT = auto()
    """A PBU waiting for the AAA to place its node at its MAG (key: MN-ID)."""
    BRI_RETRANSMIT = auto()
    """An unanswered Binding Revocation Indication (key: MN-ID)."""
    HEARTBEAT = auto()
    """The next Heartbeat to a peer (key: its address)."""


IsCurrent = Callable[[float, Timer, Hashable], bool]


class TimerHeap:
    """Deadlines on the monotonic clock, earliest first."""

    __slots__ = ("_count", "_heap", "_is_current")

    def __init__(self, is_current: IsCurrent) -> None:
        self._heap: list[tuple[float, int, Timer, Hashable]] = []
        self._count = 0
        self._is_current = is_current

    def push(self, deadline: float, kind: Timer, key: Hashable) -> None:
        self._count += 1
        heapq.heappush(self._heap, (deadline, self._count, kind, key))

    def next_deadline(self) -> float | None:
        """The earliest current deadline, or None (stale entries on top are dropped)."""
        heap = self._heap
        while heap:
            deadline, _, kind, key = heap[0]
            if self._is_current(deadline, kind, key):
                return deadline
            heapq.heappop(heap)
        return None

    def pop_due(self, monotonic: float) -> tuple[Timer, Hashable] | None:
        """The next current timer due at ``monotonic``, removed; None when none is due."""
        heap = self._heap
        while heap and heap[0][0] <= monotonic:
            deadline, _, kind, key = heapq.heappop(heap)
            if self._is_current(deadline, kind, key):
                return kind, key
        return None
