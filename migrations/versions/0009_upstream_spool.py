"""``upstream_spool``: accepted accounting the upstream accounting server has not answered yet.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

The MAG forwards accepted accounting to the operator's billing server. A record is written
here in the transaction that lets the NAS's answer go, and deleted once the upstream answered,
so a restart or an upstream outage of hours loses nothing (like FreeRADIUS's detail files).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upstream_spool",
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("datagram", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("node", "seq", name=op.f("pk_upstream_spool")),
    )


def downgrade() -> None:
    op.drop_table("upstream_spool")
