"""The daemons' SIGHUP: one reload at a time, the file read again on a worker thread and checked
against what the running daemon can take (config.reload), then applied by the daemon; refused
files are logged and audited, and the running configuration stays."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.errors import ConfigError

log = logging.getLogger(__name__)

C = TypeVar("C")


class ConfigReloads(Generic[C]):
    """``apply(new)`` takes an accepted configuration and returns details for the audit record
    (or raises ConfigError, having changed nothing, to refuse it); ``current()`` is the running
    one."""

    def __init__(
        self,
        path: str | None,
        *,
        load: Callable[[str], C],
        restart_needed: Callable[[C, C], list[str]],
        current: Callable[[], C],
        apply: Callable[[C], Awaitable[dict[str, Any]]],
        submit: Callable[[list[RecordAudit]], object],
        clock: Callable[[], Now],
        peer: str | None = None,
    ) -> None:
        self.path = path
        """The file SIGHUP re-reads (None: reloads are refused)."""
        self._load, self._restart_needed = load, restart_needed
        self._current, self._apply = current, apply
        self._submit, self._clock, self._peer = submit, clock, peer
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Future[bool]] = set()

    def signalled(self) -> None:
        """The SIGHUP handler: a reload, after any one under way."""
        task = asyncio.ensure_future(self.reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reload(self) -> bool:
        """Read, check and apply the file; True when applied."""
        async with self._lock:
            try:
                if self.path is None:
                    raise ConfigError("started without a configuration file")
                new = await asyncio.to_thread(self._load, self.path)
                fixed = self._restart_needed(self._current(), new)
                if fixed:
                    raise ConfigError("needs a restart to change: " + ", ".join(fixed))
                details = await self._apply(new)
            except ConfigError as exc:
                log.error("reload of %s refused (the running configuration stays): %s",
                          self.path, exc)  # fmt: skip
                self._record(AuditKind.CONFIG_RELOAD_REFUSED, {"reason": str(exc)})
                return False
            log.info("reloaded %s %s", self.path, details)
            self._record(AuditKind.CONFIG_RELOADED, details)
            return True

    def _record(self, kind: AuditKind, fields: dict[str, Any]) -> None:
        record = RecordAudit(kind=kind, utc=self._clock().utc, peer=self._peer,
                             fields={"file": self.path, **fields})  # fmt: skip
        self._submit([record])
