"""``report_rollup``: latency histograms and message counts per period (the handover
histogram per UTC hour, everything else per UTC day), so that reports over months read
thousands of rows instead of millions. Derived data (the facts stay in the report tables),
updated in the same transaction as the facts."""

from __future__ import annotations

import time
from typing import Any

from netlmm_aaa.core.audit_kinds import AuditKind

ROLLUP_KINDS: frozenset[AuditKind] = frozenset({
    AuditKind.HANDOVER, AuditKind.PBA, AuditKind.PBU, AuditKind.BRI_SENT,
    AuditKind.BRA_RECEIVED, AuditKind.BRI_UNANSWERED, AuditKind.HEARTBEAT_ANSWERED,
    AuditKind.HEARTBEAT_RESPONSE, AuditKind.HEARTBEAT_FROM_UNKNOWN_PEER,
    AuditKind.UNEXPECTED_MESSAGE, AuditKind.MALFORMED_PACKET,
})  # fmt: skip
_SIGNALING_LABELS: dict[str, str] = {  # looked up by the text the writer receives
    AuditKind.BRI_SENT: "BRI sent", AuditKind.BRA_RECEIVED: "BRA received",
    AuditKind.BRI_UNANSWERED: "BRI unanswered", AuditKind.HEARTBEAT_ANSWERED: "HB received",
    AuditKind.HEARTBEAT_RESPONSE: "HB sent",
}  # fmt: skip
HOURLY_METRICS = frozenset({"route_switch"})
"""Metrics kept per hour (``YYYY-MM-DD HH``); the others per day (``YYYY-MM-DD``)."""
_HOURS: dict[int, str] = {}


def rollup_hour(utc: float) -> str:
    """The hour key ``YYYY-MM-DD HH`` (UTC); its first 10 characters are the day key."""
    hour = int(utc // 3600)
    text = _HOURS.get(hour)
    if text is None:
        if len(_HOURS) > 65536:
            _HOURS.clear()
        text = _HOURS[hour] = time.strftime("%Y-%m-%d %H", time.gmtime(hour * 3600))
    return text


def rollup_bucket(value: Any, per_ms: int = 10) -> int:
    """Latency buckets, nearest (0.1 ms by default; the per-pair histogram uses 1 ms), -1 for
    no value: the same rounding as the reports' SQL."""
    return -1 if value is None else int(value * per_ms + 0.5)


def _add(rollup: dict[Any, list[Any]], key: tuple[Any, ...], value: Any, amount: Any = 0) -> None:
    """Count one sample under ``key``: a latency ``value`` (summed, maximum kept) or, when
    ``value`` is None, ``amount`` (summed: e.g. retransmissions)."""
    added = amount if value is None else value
    entry = rollup.get(key)
    if entry is None:
        rollup[key] = [1, added, value]
        return
    entry[0] += 1
    entry[1] += added
    if value is not None and (entry[2] is None or value > entry[2]):
        entry[2] = value


def roll(
    rollup: dict[Any, list[Any]], node: str, utc: float, kind: str, peer: Any, f: dict[str, Any]
) -> None:
    hour = rollup_hour(utc)
    day = hour[:10]
    if kind == "handover":
        value = f.get("route_switch_ms")
        _add(rollup, (hour, "route_switch", "", "", rollup_bucket(value)), value)
        pair = (f.get("from_mag") or "?", f.get("to_mag") or peer or "?")
        _add(rollup, (day, "pair", *pair, rollup_bucket(value, 1)), value)
    elif kind == "pba":
        status = f.get("status")
        retransmissions = f.get("retransmissions") or 0
        _add(rollup, (day, "signaling", node, "PBU sent", 0), None, retransmissions)
        if isinstance(status, int) and status < 128:
            value = f.get("event_to_ack_ms")
            _add(rollup, (day, "registration", node, "", rollup_bucket(value)), value)
            value = f.get("rtt_ms")
            _add(rollup, (day, "pbu_rtt", node, "", rollup_bucket(value)), value)
    elif kind == "pbu":
        _add(rollup, (day, "signaling", node, "PBU received", 0), None, 0)
        if f.get("reason") == "source is not a MAG peer":
            _add(rollup, (day, "strangers", node, "", 0), None, 0)
    elif kind in _SIGNALING_LABELS:
        label = _SIGNALING_LABELS[kind]
        _add(rollup, (day, "signaling", node, label, 0), None, 0)
    else:  # mobility packets from strangers
        _add(rollup, (day, "strangers", node, "", 0), None, 0)
