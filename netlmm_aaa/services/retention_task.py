"""The daemons' retention: every hour, the store's raw rows older than the configured period
are deleted (persistence.retention), and the run is recorded in the audit trail."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.clock import Now
from netlmm_aaa.persistence.retention import cutoff, prune, prune_details

log = logging.getLogger("netlmm_aaa.retention")

INTERVAL = 3600.0
"""Seconds between runs; the first runs at start."""


async def prune_periodically(
    engine: Engine,
    age: timedelta,
    clock: Callable[[], Now],
    submit: Callable[[list[RecordAudit]], object],
    interval: float = INTERVAL,
) -> None:
    """Prune now and every ``interval``, on a worker thread; cancelled at shutdown. A failed
    run (e.g. the database is away) is logged and tried again at the next interval."""
    while True:
        now = clock()
        before = cutoff(datetime.fromtimestamp(now.utc, UTC), age)
        try:
            deleted = await asyncio.to_thread(prune, engine, before)
        except SQLAlchemyError as exc:
            log.warning("retention: pruning rows before %s failed: %s", before.isoformat(), exc)
        else:
            if any(deleted.values()):
                details = prune_details(before, deleted)
                submit([RecordAudit(kind=AuditKind.RETENTION_PRUNED, utc=now.utc, fields=details)])
                log.info("retention: deleted rows before %s: %s", before.isoformat(), deleted)
        await asyncio.sleep(interval)
