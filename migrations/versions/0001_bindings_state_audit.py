"""LMA bindings, node state and the audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lma_bindings",
        sa.Column("lma", sa.String(length=64), nullable=False),
        sa.Column("mn_id_raw", sa.LargeBinary(length=255), nullable=False),
        sa.Column("mn_id", sa.Text(), nullable=False),
        sa.Column("home_network_prefixes", sa.Text(), nullable=False),
        sa.Column("ipv4_home_address", sa.String(length=15), nullable=True),
        sa.Column("mag", sa.String(length=64), nullable=False),
        sa.Column("proxy_coa", sa.String(length=45), nullable=False),
        sa.Column("signalling_address", sa.String(length=45), nullable=False),
        sa.Column("transport", sa.String(length=8), nullable=False),
        sa.Column("link_layer_identifier", sa.String(length=64), nullable=False),
        sa.Column("access_technology", sa.Integer(), nullable=False),
        sa.Column("lifetime", sa.Integer(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_handover_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
        sa.Column("last_timestamp", sa.BigInteger(), nullable=True),
        sa.Column("gre_key_downlink", sa.BigInteger(), nullable=True),
        sa.Column("gre_key_uplink", sa.BigInteger(), nullable=True),
        sa.Column("deregistered", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("lma", "mn_id_raw", name=op.f("pk_lma_bindings")),
    )
    op.create_index(op.f("ix_lma_bindings_mn_id"), "lma_bindings", ["mn_id"], unique=False)
    op.create_table(
        "node_state",
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("node", "key", name=op.f("pk_node_state")),
    )
    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("mn_id", sa.Text(), nullable=True),
        sa.Column("peer", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_kind_at", "audit_events", ["kind", "at"], unique=False)
    op.create_index("ix_audit_events_mn_id_at", "audit_events", ["mn_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_events_mn_id_at", table_name="audit_events")
    op.drop_index("ix_audit_events_kind_at", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_table("node_state")
    op.drop_index(op.f("ix_lma_bindings_mn_id"), table_name="lma_bindings")
    op.drop_table("lma_bindings")
