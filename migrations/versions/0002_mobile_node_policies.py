"""Mobile node policy profiles in SQL.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mobile_node_policies",
        sa.Column("mn_id", sa.Text(), nullable=False),
        sa.Column("lma", sa.String(length=64), nullable=True),
        sa.Column("home_network_prefix", sa.String(length=43), nullable=True),
        sa.Column("ipv4_home_address", sa.String(length=15), nullable=True),
        sa.Column("proxy_mobility", sa.Boolean(), nullable=False),
        sa.Column("ipv4_service", sa.Boolean(), nullable=False),
        sa.Column("ipv6_service", sa.Boolean(), nullable=False),
        sa.Column("allowed_mags", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("mn_id", name=op.f("pk_mobile_node_policies")),
    )


def downgrade() -> None:
    op.drop_table("mobile_node_policies")
