"""Aggregated security events: a packet count on rejected accounting, and in ``rejections``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

Bad input is no longer written one row per packet: the daemons write one row per (origin,
reason) and interval with the number of packets. ``accounting_records.packets`` holds it for
rejected accounting (1 for every other row); the ``rejections`` view gains a ``packets`` column
(the LMA's aggregated packet drops keep their count in ``audit_events.details``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _rejections(packets_of_details: str) -> str:
    return f"""
        SELECT at, node, 'accounting' AS source, COALESCE(reason, 'rejected') AS reason,
               nas AS origin, mn_id, detail, packets
        FROM accounting_records WHERE outcome = 'rejected'
        UNION ALL
        SELECT at, node, 'station', COALESCE(reason, event), mac, mn_id, NULL, 1
        FROM station_events WHERE event IN ('rejected', 'conflict', 'registration_rejected')
        UNION ALL
        SELECT at, node, 'signaling', COALESCE(reason, 'status ' || CAST(status AS TEXT)), peer,
               mn_id, NULL, 1
        FROM signaling WHERE message = 'PBU' AND direction = 'received' AND status >= 128
        UNION ALL
        SELECT at, node, 'packet', kind, peer, mn_id, NULL, {packets_of_details}
        FROM audit_events
        WHERE kind IN ('malformed_packet', 'heartbeat_from_unknown_peer', 'unexpected_message',
                       'pba_dropped', 'bri_unmatched', 'bra_unmatched', 'hook_event_rejected')
    """


def upgrade() -> None:
    op.add_column(
        "accounting_records",
        sa.Column("packets", sa.Integer(), server_default=sa.text("1"), nullable=False),
    )
    op.execute("DROP VIEW rejections")
    if op.get_bind().dialect.name == "postgresql":
        count = "COALESCE(CAST(details->>'count' AS INTEGER), 1)"
    else:
        count = "COALESCE(CAST(json_extract(details, '$.count') AS INTEGER), 1)"
    op.execute(f"CREATE VIEW rejections AS {_rejections(count)}")


def downgrade() -> None:
    path = Path(__file__).with_name("0003_report_tables_and_views.py")
    spec = importlib.util.spec_from_file_location("netlmm_migration_0003", path)
    assert spec is not None and spec.loader is not None
    previous = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(previous)
    op.execute("DROP VIEW rejections")
    op.drop_column("accounting_records", "packets")
    op.execute(f"CREATE VIEW rejections AS {previous.VIEWS['rejections']}")
