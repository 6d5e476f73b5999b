"""What an audit record says happened: the contract between the cores (and daemons) that
produce records and the store and reports that route and read them (sans-IO).

Every :class:`~.actions.RecordAudit` names one member; the store routes each member either to a
typed report table or, by an explicit list, to ``audit_events`` (a test checks that every member
is routed one way or the other, so a new kind cannot fall silently into the generic table).
"""

from __future__ import annotations

from enum import StrEnum


class AuditKind(StrEnum):
    """Audit record kinds; the value is what the trail stores."""

    # RADIUS accounting (MAG listener, LMA [lma.aaa] listener)
    ACCOUNTING = "accounting"
    ACCOUNTING_DUPLICATE = "accounting_duplicate"
    ACCOUNTING_REJECTED = "accounting_rejected"
    ACCOUNTING_FORWARD_FAILED = "accounting_forward_failed"
    # the MAG's stations
    STATION_ATTACHED = "station_attached"
    STATION_DETACHED = "station_detached"
    STATION_REJECTED = "station_rejected"
    STATION_REGISTERED = "station_registered"
    STATION_REPLACED = "station_replaced"
    STATION_MOVED = "station_moved"
    STATION_DEREGISTERED = "station_deregistered"
    MAC_IDENTITY_CONFLICT = "mac_identity_conflict"
    REGISTRATION_REJECTED = "registration_rejected"
    REFRESH_REJECTED = "refresh_rejected"
    PBU_UNANSWERED = "pbu_unanswered"
    AAA_PROFILE = "aaa_profile"
    DHCP_ACK = "dhcp_ack"
    DHCP_NAK = "dhcp_nak"
    DHCP_REFUSED = "dhcp_refused"
    HOOK_EVENT_REJECTED = "hook_event_rejected"
    RADIUS_RELAY_REJECTED = "radius_relay_rejected"
    RESTART_ANNOUNCED = "restart_announced"
    LMA_RESTARTED = "lma_restarted"
    PBA_DROPPED = "pba_dropped"
    BRI_UNMATCHED = "bri_unmatched"
    # signalling
    PBA = "pba"
    PBU = "pbu"
    BRI_SENT = "bri_sent"
    BRA_RECEIVED = "bra_received"
    BRA_UNMATCHED = "bra_unmatched"
    BRI_UNANSWERED = "bri_unanswered"
    HEARTBEAT_ANSWERED = "heartbeat_answered"
    HEARTBEAT_RESPONSE = "heartbeat_response"
    HEARTBEAT_FROM_UNKNOWN_PEER = "heartbeat_from_unknown_peer"
    BINDING_ERROR_RECEIVED = "binding_error_received"
    UNEXPECTED_MESSAGE = "unexpected_message"
    MALFORMED_PACKET = "malformed_packet"
    # the LMA's binding cache
    BINDING_CREATED = "binding_created"
    BINDING_REVIVED = "binding_revived"
    BINDING_DEREGISTERED = "binding_deregistered"
    BINDING_EXPIRED = "binding_expired"
    BINDING_DELETED = "binding_deleted"
    BINDING_REVOKED = "binding_revoked"
    BINDING_RELEASED_PEER_RESTART = "binding_released_peer_restart"
    BINDING_DROPPED_ON_RESTORE = "binding_dropped_on_restore"
    HANDOVER = "handover"
    HANDOVER_DEFERRED = "handover_deferred"
    HANDOVER_WAIT_EXPIRED = "handover_wait_expired"
    DEREGISTRATION_IGNORED = "deregistration_ignored"
    REVOCATION_FAILED = "revocation_failed"
    PEER_REACHABLE = "peer_reachable"
    PEER_UNREACHABLE = "peer_unreachable"
    PEER_RESTARTED = "peer_restarted"
    # daemons
    LMA_STARTED = "lma_started"
    DATAPLANE_ERROR = "dataplane_error"
    BINDING_ROUTES_FAILED = "binding_routes_failed"
    RETENTION_PRUNED = "retention_pruned"
    CONFIG_RELOADED = "config_reloaded"
    CONFIG_RELOAD_REFUSED = "config_reload_refused"
    DISCONNECT_REQUESTED = "disconnect_requested"
