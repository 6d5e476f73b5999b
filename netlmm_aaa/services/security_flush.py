"""The daemons' writer of aggregated security records (see core.security_events)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.security_events import SecurityEvents


async def flush_security_events(
    events: SecurityEvents, clock: Callable[[], Now], submit: Callable[[list[RecordAudit]], object]
) -> None:
    """Every interval, hand the aggregated records of dropped input to ``submit`` (the store);
    cancelled at shutdown, after which the owner drains with ``force=True``."""
    while True:
        await asyncio.sleep(events.interval)
        records = events.drain(clock())
        if records:
            submit(records)
