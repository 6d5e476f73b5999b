"""Partial indexes of the refusals the security report reads.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

``report security`` (and the ``rejections`` view) read the refused stations of
``station_events`` (``rejected``, ``conflict``, ``registration_rejected``) and the PBUs an LMA
refused (``signaling``: received, status >= 128). Neither had an index: each of the report's
three looks at station refusals and its look at refused PBUs read the whole table (0.3 s each
at 10M records, most of the report's 1.2 s on SQLite). Both indexes hold only those rows, so
a store's inserts of everything else do not pay for them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

REFUSED_STATION = "event IN ('rejected', 'conflict', 'registration_rejected')"
REJECTED_PBU = "message = 'PBU' AND direction = 'received' AND status >= 128"


def upgrade() -> None:
    for name, table, condition in (
        ("ix_station_events_refused", "station_events", REFUSED_STATION),
        ("ix_signaling_rejected_pbu", "signaling", REJECTED_PBU),
    ):
        op.create_index(
            name, table, ["at"],
            sqlite_where=sa.text(condition), postgresql_where=sa.text(condition),
        )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_signaling_rejected_pbu", table_name="signaling")
    op.drop_index("ix_station_events_refused", table_name="station_events")
