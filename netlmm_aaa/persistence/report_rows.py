"""Audit records as table rows: which kind lands in which typed report table (see models.py)
or in ``audit_events``, and each table's row builder. A builder gets (node, at, mn_id, peer,
fields) and returns the row tuple in its table's column order; the writing node is always the
second column."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.station_intake import split_called_station_id


def mn_id_text(mn_id: bytes) -> str:
    """An MN-ID as text for humans and SQL reports (NAIs are UTF-8)."""
    return mn_id.decode("utf-8", "backslashreplace")


def mac_text(octets: bytes) -> str:
    return ":".join(f"{b:02x}" for b in octets)


Row = tuple[Any, ...]
_Builder = Callable[[str, Any, str | None, str | None, dict[str, Any]], Row]

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {  # the typed report tables' columns, in row order
    "accounting_records": (
        "at", "node", "nas", "outcome", "reason", "status_type", "session_id", "mn_id", "mac",
        "ap", "ssid", "detail", "packets",
    ),
    "station_events": (
        "at", "node", "event", "mn_id", "mac", "interface", "ap", "ssid", "prefixes",
        "ipv4_home_address", "reason", "nas",
    ),
    "signaling": (
        "at", "node", "peer", "message", "direction", "mn_id", "sequence", "status",
        "handoff_indicator", "lifetime", "rtt_ms", "event_to_ack_ms", "retransmissions", "reason",
    ),
    "binding_changes": (
        "at", "node", "change", "mn_id", "mag", "prefixes", "ipv4_home_address",
    ),
    "handovers": (
        "at", "node", "mn_id", "from_mag", "to_mag", "handoff_indicator", "sequence", "prefixes",
        "route_switch_ms",
    ),
}  # fmt: skip


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _joined(value: Any) -> str | None:
    if value is None:
        return None
    return ",".join(value) if type(value) in (list, tuple) else str(value)


def _accounting(outcome: str) -> _Builder:
    def build(node: str, at: Any, mn: str | None, peer: str | None, f: dict[str, Any]) -> Row:
        ap, ssid = split_called_station_id(f.get("called_station_id"))
        return (
            at, node, peer or "?", outcome, f.get("reason"), f.get("status"),
            f.get("session_id"), mn, f.get("mac"), ap, ssid, f.get("detail"), f.get("count", 1),
        )  # fmt: skip

    return build


def _station(event: str) -> _Builder:
    def build(node: str, at: Any, mn: str | None, peer: str | None, f: dict[str, Any]) -> Row:
        reason = f.get("reason")
        if reason is None and f.get("attached_as") is not None:
            reason = f"MAC already attached as {f['attached_as']}"
        if reason is None and f.get("trigger") is not None:
            reason = f"revocation trigger {f['trigger']}"
        return (
            at, node, event, mn, f.get("mac"), f.get("interface"), f.get("ap"), f.get("ssid"),
            _joined(f.get("prefixes")), f.get("ipv4"), _text(reason), f.get("nas"),
        )  # fmt: skip

    return build


def _signaling(message: str, direction: str) -> _Builder:
    def build(node: str, at: Any, mn: str | None, peer: str | None, f: dict[str, Any]) -> Row:
        return (
            at, node, peer, message, direction, mn, f.get("sequence"), f.get("status"),
            f.get("handoff_indicator"), f.get("lifetime"), f.get("rtt_ms"),
            f.get("event_to_ack_ms"), f.get("retransmissions"), _text(f.get("reason")),
        )  # fmt: skip

    return build


def _binding(change: str) -> _Builder:
    def build(node: str, at: Any, mn: str | None, peer: str | None, f: dict[str, Any]) -> Row:
        return (at, node, change, mn, peer, _joined(f.get("prefixes")), f.get("ipv4"))

    return build


def _handover(node: str, at: Any, mn: str | None, peer: str | None, f: dict[str, Any]) -> Row:
    return (
        at, node, mn, f.get("from_mag") or "?", f.get("to_mag") or peer or "?",
        f.get("handoff_indicator"), f.get("sequence"), _joined(f.get("prefixes")),
        f.get("route_switch_ms"),
    )  # fmt: skip


REPORT_KINDS: dict[AuditKind, tuple[str, _Builder]] = {
    AuditKind.ACCOUNTING: ("accounting_records", _accounting("accepted")),
    AuditKind.ACCOUNTING_DUPLICATE: ("accounting_records", _accounting("duplicate")),
    AuditKind.ACCOUNTING_REJECTED: ("accounting_records", _accounting("rejected")),
    AuditKind.STATION_ATTACHED: ("station_events", _station("attached")),
    AuditKind.STATION_DETACHED: ("station_events", _station("detached")),
    AuditKind.STATION_REJECTED: ("station_events", _station("rejected")),
    AuditKind.STATION_REGISTERED: ("station_events", _station("registered")),
    AuditKind.STATION_REPLACED: ("station_events", _station("replaced")),
    AuditKind.STATION_MOVED: ("station_events", _station("moved")),
    AuditKind.STATION_DEREGISTERED: ("station_events", _station("deregistered")),
    AuditKind.MAC_IDENTITY_CONFLICT: ("station_events", _station("conflict")),
    AuditKind.REGISTRATION_REJECTED: ("station_events", _station("registration_rejected")),
    AuditKind.REFRESH_REJECTED: ("station_events", _station("refresh_rejected")),
    AuditKind.PBU_UNANSWERED: ("station_events", _station("pbu_unanswered")),
    AuditKind.BINDING_REVOKED: ("station_events", _station("revoked")),  # at a MAG; LMA below
    AuditKind.PBA: ("signaling", _signaling("PBU", "sent")),
    AuditKind.PBU: ("signaling", _signaling("PBU", "received")),
    AuditKind.BRI_SENT: ("signaling", _signaling("BRI", "sent")),
    AuditKind.BRA_RECEIVED: ("signaling", _signaling("BRA", "received")),
    AuditKind.BRI_UNANSWERED: ("signaling", _signaling("BRI", "unanswered")),
    AuditKind.HEARTBEAT_ANSWERED: ("signaling", _signaling("HB", "received")),
    AuditKind.HEARTBEAT_RESPONSE: ("signaling", _signaling("HB", "sent")),
    AuditKind.BINDING_CREATED: ("binding_changes", _binding("created")),
    AuditKind.BINDING_REVIVED: ("binding_changes", _binding("revived")),
    AuditKind.BINDING_DEREGISTERED: ("binding_changes", _binding("deregistered")),
    AuditKind.BINDING_EXPIRED: ("binding_changes", _binding("expired")),
    AuditKind.BINDING_DELETED: ("binding_changes", _binding("deleted")),
    AuditKind.BINDING_RELEASED_PEER_RESTART: (
        "binding_changes", _binding("released_peer_restart")),
    AuditKind.HANDOVER: ("handovers", _handover),
}  # fmt: skip
"""audit kind -> (table, row builder)."""

AUDIT_EVENT_KINDS: frozenset[AuditKind] = frozenset({
    AuditKind.ACCOUNTING_FORWARD_FAILED, AuditKind.AAA_PROFILE, AuditKind.DHCP_ACK,
    AuditKind.DHCP_NAK, AuditKind.DHCP_REFUSED, AuditKind.HOOK_EVENT_REJECTED,
    AuditKind.RADIUS_RELAY_REJECTED, AuditKind.RESTART_ANNOUNCED, AuditKind.LMA_RESTARTED,
    AuditKind.PBA_DROPPED, AuditKind.BRI_UNMATCHED, AuditKind.BRA_UNMATCHED,
    AuditKind.HEARTBEAT_FROM_UNKNOWN_PEER, AuditKind.BINDING_ERROR_RECEIVED,
    AuditKind.UNEXPECTED_MESSAGE, AuditKind.MALFORMED_PACKET,
    AuditKind.BINDING_DROPPED_ON_RESTORE, AuditKind.HANDOVER_DEFERRED,
    AuditKind.HANDOVER_WAIT_EXPIRED, AuditKind.DEREGISTRATION_IGNORED,
    AuditKind.REVOCATION_FAILED, AuditKind.PEER_REACHABLE, AuditKind.PEER_UNREACHABLE,
    AuditKind.PEER_RESTARTED, AuditKind.LMA_STARTED, AuditKind.DATAPLANE_ERROR,
    AuditKind.BINDING_ROUTES_FAILED, AuditKind.RETENTION_PRUNED, AuditKind.CONFIG_RELOADED,
    AuditKind.CONFIG_RELOAD_REFUSED, AuditKind.DISCONNECT_REQUESTED,
})  # fmt: skip
"""Kinds that go to the generic ``audit_events`` table (JSON details), by decision: every
:class:`AuditKind` is in exactly one of this set and :data:`REPORT_KINDS`."""

# The LMA's own revocations are binding changes (the MAG's are station events): the LMA's
# writer passes ``lma=True``.
LMA_OVERRIDES: dict[AuditKind, tuple[str, _Builder]] = {
    AuditKind.BINDING_REVOKED: ("binding_changes", _binding("revoked")),
}

AUDIT_COLUMNS = ("at", "node", "kind", "mn_id", "peer", "details")
NODE_COLUMN = 1
"""The writing node's place in every audit table's row (NOT NULL)."""
