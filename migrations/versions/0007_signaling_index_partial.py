"""The ``(node, sequence)`` index of ``signaling`` covers only the MAGs' own PBUs.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27

``ix_signaling_node_sequence`` serves one look-up: ``handover_timings`` finds the new MAG's
PBU (``message = 'PBU' AND direction = 'sent'``) by MAG and sequence number. It was on every
signaling row, and at an LMA the PBUs it answers carry the sequence numbers of all its MAGs
interleaved, so each row landed at a random place in the index and every group commit rewrote
a page of it per row (a third of the rows of an LMA's trail are signaling). It is now partial
on the rows the view reads; the view names the same condition in its join, so both databases
use it. The upgrade rebuilds the index (a few seconds for a 10-million-row SQLite store).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MAG_PBU_PREDICATE = "message = 'PBU' AND direction = 'sent'"


def upgrade() -> None:
    op.drop_index("ix_signaling_node_sequence", table_name="signaling")
    op.create_index(
        "ix_signaling_node_sequence", "signaling", ["node", "sequence"],
        sqlite_where=sa.text(MAG_PBU_PREDICATE), postgresql_where=sa.text(MAG_PBU_PREDICATE),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_signaling_node_sequence", table_name="signaling")
    op.create_index("ix_signaling_node_sequence", "signaling", ["node", "sequence"])
