"""Logging for the daemons: text or JSON lines, and every audit record as a structured log
line (``netlmm_aaa.audit``) carrying the MN-ID, the MAG/NAS/peer and session identifiers.

Routine records (successful registrations, accepted accounting) log at DEBUG, so that a busy
LMA does not spend its time writing logs; handovers and state changes at INFO; refusals,
rejections and failures at WARNING.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import Any

from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.printable import printable

audit_log = logging.getLogger("netlmm_aaa.audit")

_ROUTINE = frozenset(
    {
        AuditKind.PBU,
        AuditKind.PBA,
        AuditKind.ACCOUNTING,
        AuditKind.ACCOUNTING_DUPLICATE,
        AuditKind.STATION_ATTACHED,
        AuditKind.STATION_REGISTERED,
        AuditKind.STATION_DETACHED,
        AuditKind.STATION_DEREGISTERED,
        AuditKind.BINDING_CREATED,
        AuditKind.BINDING_DEREGISTERED,
        AuditKind.BINDING_REVIVED,
        AuditKind.BRI_SENT,
        AuditKind.BRA_RECEIVED,
        AuditKind.PEER_REACHABLE,
        AuditKind.HEARTBEAT_ANSWERED,
        AuditKind.HEARTBEAT_RESPONSE,
    }
)
_TROUBLE = frozenset(
    {
        AuditKind.ACCOUNTING_REJECTED,
        AuditKind.STATION_REJECTED,
        AuditKind.MAC_IDENTITY_CONFLICT,
        AuditKind.MALFORMED_PACKET,
        AuditKind.HOOK_EVENT_REJECTED,
        AuditKind.HEARTBEAT_FROM_UNKNOWN_PEER,
        AuditKind.UNEXPECTED_MESSAGE,
        AuditKind.PBA_DROPPED,
        AuditKind.BRI_UNMATCHED,
        AuditKind.BRA_UNMATCHED,
        AuditKind.BRI_UNANSWERED,
        AuditKind.REVOCATION_FAILED,
        AuditKind.PEER_UNREACHABLE,
        AuditKind.DATAPLANE_ERROR,
        AuditKind.BINDING_ROUTES_FAILED,
        AuditKind.CONFIG_RELOAD_REFUSED,
        AuditKind.PBU_UNANSWERED,
        AuditKind.REGISTRATION_REJECTED,
        AuditKind.REFRESH_REJECTED,
        AuditKind.BINDING_ERROR_RECEIVED,
    }
)
# Fields worth a column in a log line (the rest stay in the audit store).
_KEYS = ("status", "sequence", "session_id", "mac", "reason", "from_mag", "to_mag",
         "prefixes", "ipv4", "rtt_ms", "event_to_ack_ms", "route_switch_ms", "detail")  # fmt: skip


def _level(record: RecordAudit) -> int:
    status = record.fields.get("status")
    if record.kind in _TROUBLE or (
        record.kind in (AuditKind.PBU, AuditKind.PBA) and isinstance(status, int) and status >= 128
    ):
        return logging.WARNING
    return logging.DEBUG if record.kind in _ROUTINE else logging.INFO


def log_audit(records: Iterable[RecordAudit]) -> None:
    """A store observer: one log line per audit record."""
    for record in records:
        level = _level(record)
        if not audit_log.isEnabledFor(level):
            continue
        extra: dict[str, Any] = {"event": record.kind}
        if record.mn_id is not None:
            extra["mn_id"] = record.mn_id.decode("utf-8", "backslashreplace")
        if record.peer is not None:
            extra["peer"] = record.peer
        for key in _KEYS:
            if record.fields.get(key) is not None:
                extra[key] = record.fields[key]
        text = " ".join(f"{k}={_short(v)}" for k, v in extra.items() if k != "event")
        audit_log.log(level, "%s %s", record.kind, text, extra={"fields": extra})


def _short(value: Any) -> str:
    """A value of a text log line: escaped (a claimed identity cannot forge a line or hide a
    character), quoted when it holds a space."""
    if isinstance(value, list | tuple):
        return ",".join(printable(str(v)) for v in value)
    text = printable(str(value))
    return json.dumps(text, ensure_ascii=False) if " " in text or not text else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and the record's structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def setup_logging(verbose: bool = False, fmt: str = "text") -> None:
    """Configure the root logger for a daemon (stderr; journald adds its own timestamps)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
