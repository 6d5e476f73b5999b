"""``station_events.nas``: the NAS whose accounting an event (a refusal above all) came from.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

A refused station event names the identity it claimed (``mn_id``), the MAC and the reason; an
auditor also needs the NAS that sent it, to tell a misconfigured controller from an attack.
Events from hostapd's control interface have no NAS (NULL).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("station_events", sa.Column("nas", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("station_events", "nas")
