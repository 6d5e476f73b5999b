"""``radacct``: one index of open sessions, by MAG and station, instead of two.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

0010 kept two partial indexes of the open sessions (``acctstoptime IS NULL``): (node, nasname)
for a NAS's Accounting-On/Off, (node, callingstationid) for the addresses a registration fills
in. Both can serve ``node = $1``; on a young table (no statistics yet) their costs tie, and
PostgreSQL's cached generic plan for the addresses statement took (node, nasname), scanning
every open session of the MAG for each registration: on a fresh PostgreSQL store the writer fell
to a few thousand rows per second until the first ANALYZE. The Accounting-On/Off statement (rare;
it closes most of those sessions anyway) now reads the (node, callingstationid) index by its
leading column, and every write maintains one index fewer.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_radacct_open_node_nasname", table_name="radacct")


def downgrade() -> None:
    op.create_index(
        "ix_radacct_open_node_nasname", "radacct", ["node", "nasname"],
        sqlite_where=sa.text("acctstoptime IS NULL"), postgresql_where=sa.text("acctstoptime IS NULL"),
    )  # fmt: skip
