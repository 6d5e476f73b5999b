"""Typed, append-only report tables and the documented SQL views (docs/sql-reports.md).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

The views are plain SQL that SQLite (3.30+) and PostgreSQL both run; they are part of the public
interface: change them only in a later migration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _id() -> sa.Column[int]:
    return sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
        nullable=False,
    )  # fmt: skip


def _at() -> sa.Column[object]:
    return sa.Column("at", sa.DateTime(timezone=True), nullable=False)


def _node() -> sa.Column[str]:
    return sa.Column("node", sa.String(length=64), nullable=False)


VIEWS: dict[str, str] = {
    # Every record of every table in one chronological stream (for auditors).
    "audit_trail": """
        SELECT at, node, kind, mn_id, peer AS subject FROM audit_events
        UNION ALL SELECT at, node, 'accounting_' || outcome, mn_id, nas FROM accounting_records
        UNION ALL SELECT at, node, 'station_' || event, mn_id, mac FROM station_events
        UNION ALL SELECT at, node, lower(message) || '_' || direction, mn_id, peer FROM signaling
        UNION ALL SELECT at, node, 'binding_' || change, mn_id, mag FROM binding_changes
        UNION ALL SELECT at, node, 'handover', mn_id, to_mag FROM handovers
    """,
    # Where each MN was: one row per registration at a MAG, until its next registration at
    # any MAG, or its detachment (revocation, lost binding) at that MAG.
    "location_trail": """
        SELECT mn_id, node AS mag, COALESCE(ap, interface) AS ap, ssid, mac, prefixes,
               ipv4_home_address, at AS since,
               (SELECT MIN(x.at) FROM station_events x
                WHERE x.mn_id = e.mn_id
                  AND (x.at > e.at OR (x.at = e.at AND x.id > e.id))
                  AND (x.event = 'registered'
                       OR (x.node = e.node AND x.event IN ('detached', 'deregistered',
                           'revoked', 'replaced', 'refresh_rejected', 'pbu_unanswered')))
               ) AS until
        FROM station_events e
        WHERE event = 'registered'
    """,
    # Handovers with the per-step timings: the new MAG's side (event -> PBU -> PBA) joined on
    # (MAG, MN, sequence); the LMA's side (PBU in -> routes moved).
    "handover_timings": """
        SELECT h.id, h.at, h.node AS lma, h.mn_id, h.from_mag, h.to_mag, h.handoff_indicator,
               s.event_to_ack_ms - s.rtt_ms AS event_to_pbu_ms,
               s.rtt_ms AS pbu_to_pba_ms,
               h.route_switch_ms,
               COALESCE(s.event_to_ack_ms, h.route_switch_ms) AS total_ms
        FROM handovers h
        LEFT JOIN signaling s
          ON s.node = h.to_mag AND s.mn_id = h.mn_id AND s.sequence = h.sequence
         AND s.message = 'PBU' AND s.direction = 'sent'
    """,
    # Moves between access points (from the MAGs' registrations).
    "ap_transitions": """
        SELECT mn_id, at, from_mag, from_ap, mag AS to_mag, ap AS to_ap FROM (
            SELECT mn_id, since AS at, mag, ap,
                   LAG(mag) OVER (PARTITION BY mn_id ORDER BY since) AS from_mag,
                   LAG(ap) OVER (PARTITION BY mn_id ORDER BY since) AS from_ap
            FROM location_trail
        ) t
        WHERE from_ap IS NOT NULL AND (from_ap <> ap OR from_mag <> mag)
    """,
    # Per access point: registrations and distinct MNs.
    "ap_load": """
        SELECT node AS mag, COALESCE(ap, interface) AS ap, ssid,
               COUNT(*) AS registrations, COUNT(DISTINCT mn_id) AS mobile_nodes,
               MIN(at) AS first_at, MAX(at) AS last_at
        FROM station_events WHERE event = 'registered'
        GROUP BY node, COALESCE(ap, interface), ssid
    """,
    # Everything refused or suspicious, with a reason and where it came from.
    "rejections": """
        SELECT at, node, 'accounting' AS source, COALESCE(reason, 'rejected') AS reason,
               nas AS origin, mn_id, detail
        FROM accounting_records WHERE outcome = 'rejected'
        UNION ALL
        SELECT at, node, 'station', COALESCE(reason, event), mac, mn_id, NULL
        FROM station_events WHERE event IN ('rejected', 'conflict', 'registration_rejected')
        UNION ALL
        SELECT at, node, 'signaling', COALESCE(reason, 'status ' || CAST(status AS TEXT)), peer,
               mn_id, NULL
        FROM signaling WHERE message = 'PBU' AND direction = 'received' AND status >= 128
        UNION ALL
        SELECT at, node, 'packet', kind, peer, mn_id, NULL
        FROM audit_events
        WHERE kind IN ('malformed_packet', 'heartbeat_from_unknown_peer', 'unexpected_message',
                       'pba_dropped', 'bri_unmatched', 'bra_unmatched', 'hook_event_rejected')
    """,
}


def upgrade() -> None:
    op.create_table(
        "accounting_records",
        _id(), _at(), _node(),
        sa.Column("nas", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("status_type", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.String(length=253), nullable=True),
        sa.Column("mn_id", sa.Text(), nullable=True),
        sa.Column("mac", sa.String(length=64), nullable=True),
        sa.Column("ap", sa.String(length=64), nullable=True),
        sa.Column("ssid", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounting_records")),
    )  # fmt: skip
    op.create_index("ix_accounting_records_at", "accounting_records", ["at"])
    op.create_index("ix_accounting_records_outcome_at", "accounting_records", ["outcome", "at"])
    op.create_table(
        "station_events",
        _id(), _at(), _node(),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("mn_id", sa.Text(), nullable=True),
        sa.Column("mac", sa.String(length=17), nullable=True),
        sa.Column("interface", sa.String(length=64), nullable=True),
        sa.Column("ap", sa.String(length=64), nullable=True),
        sa.Column("ssid", sa.String(length=64), nullable=True),
        sa.Column("prefixes", sa.Text(), nullable=True),
        sa.Column("ipv4_home_address", sa.String(length=15), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_events")),
    )  # fmt: skip
    op.create_index("ix_station_events_mn_id_at", "station_events", ["mn_id", "at"])
    op.create_index("ix_station_events_at", "station_events", ["at"])
    op.create_table(
        "signaling",
        _id(), _at(), _node(),
        sa.Column("peer", sa.String(length=64), nullable=True),
        sa.Column("message", sa.String(length=8), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("mn_id", sa.Text(), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("handoff_indicator", sa.Integer(), nullable=True),
        sa.Column("lifetime", sa.Integer(), nullable=True),
        sa.Column("rtt_ms", sa.Float(), nullable=True),
        sa.Column("event_to_ack_ms", sa.Float(), nullable=True),
        sa.Column("retransmissions", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signaling")),
    )  # fmt: skip
    op.create_index("ix_signaling_at", "signaling", ["at"])
    # (node, sequence): each MAG's sequence numbers grow, so inserts append (cheap), and the
    # handover_timings join finds a MAG's PBU by it.
    op.create_index("ix_signaling_node_sequence", "signaling", ["node", "sequence"])
    op.create_table(
        "binding_changes",
        _id(), _at(), _node(),
        sa.Column("change", sa.String(length=32), nullable=False),
        sa.Column("mn_id", sa.Text(), nullable=True),
        sa.Column("mag", sa.String(length=64), nullable=True),
        sa.Column("prefixes", sa.Text(), nullable=True),
        sa.Column("ipv4_home_address", sa.String(length=15), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_binding_changes")),
    )  # fmt: skip
    op.create_index("ix_binding_changes_at", "binding_changes", ["at"])
    op.create_table(
        "handovers",
        _id(), _at(), _node(),
        sa.Column("mn_id", sa.Text(), nullable=True),
        sa.Column("from_mag", sa.String(length=64), nullable=False),
        sa.Column("to_mag", sa.String(length=64), nullable=False),
        sa.Column("handoff_indicator", sa.Integer(), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=True),
        sa.Column("prefixes", sa.Text(), nullable=True),
        sa.Column("route_switch_ms", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handovers")),
    )  # fmt: skip
    op.create_index("ix_handovers_at", "handovers", ["at"])
    op.create_table(
        "report_rollup",
        sa.Column("period", sa.String(length=13), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("key1", sa.String(length=64), nullable=False),
        sa.Column("key2", sa.String(length=64), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("maximum", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("period", "metric", "key1", "key2", "bucket",
                                name=op.f("pk_report_rollup")),
    )  # fmt: skip
    for name, body in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {body}")


def downgrade() -> None:
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW {name}")
    for table in ("report_rollup", "handovers", "binding_changes", "signaling",
                  "station_events", "accounting_records"):  # fmt: skip
        op.drop_table(table)
