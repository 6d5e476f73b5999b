"""``radacct``: one row per accounting session, in FreeRADIUS rlm_sql's layout.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

Hotspot and WLAN operators' tools (daloRADIUS, openwisp-radius, their own SQL) read sessions
from rlm_sql's ``radacct``: who is online (``acctstoptime IS NULL``), usage per user and day,
top talkers, sessions per NAS. The store keeps this table from the accounting it accepts, with
the same column names and types (``inet`` on PostgreSQL), so those queries run unchanged.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _inet() -> sa.types.TypeEngine[str]:
    return sa.Text().with_variant(postgresql.INET(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "radacct",
        sa.Column(
            "radacctid",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("acctsessionid", sa.Text(), nullable=False),
        sa.Column("acctuniqueid", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=True),
        sa.Column("realm", sa.Text(), nullable=True),
        sa.Column("nasipaddress", _inet(), nullable=False),
        sa.Column("nasportid", sa.Text(), nullable=True),
        sa.Column("nasporttype", sa.Text(), nullable=True),
        sa.Column("acctstarttime", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acctupdatetime", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acctstoptime", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acctinterval", sa.BigInteger(), nullable=True),
        sa.Column("acctsessiontime", sa.BigInteger(), nullable=True),
        sa.Column("acctauthentic", sa.Text(), nullable=True),
        sa.Column("connectinfo_start", sa.Text(), nullable=True),
        sa.Column("connectinfo_stop", sa.Text(), nullable=True),
        sa.Column("acctinputoctets", sa.BigInteger(), nullable=True),
        sa.Column("acctoutputoctets", sa.BigInteger(), nullable=True),
        sa.Column("calledstationid", sa.Text(), nullable=True),
        sa.Column("callingstationid", sa.Text(), nullable=True),
        sa.Column("acctterminatecause", sa.Text(), nullable=True),
        sa.Column("servicetype", sa.Text(), nullable=True),
        sa.Column("framedprotocol", sa.Text(), nullable=True),
        sa.Column("framedipaddress", _inet(), nullable=True),
        sa.Column("framedipv6address", _inet(), nullable=True),
        sa.Column("framedipv6prefix", _inet(), nullable=True),
        sa.Column("framedinterfaceid", sa.Text(), nullable=True),
        sa.Column("delegatedipv6prefix", _inet(), nullable=True),
        sa.Column("class", sa.Text(), nullable=True),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("nasname", sa.String(length=64), nullable=False),
        sa.Column("mn_id", sa.Text(), nullable=True),
        sa.Column("acctinputpackets", sa.BigInteger(), nullable=True),
        sa.Column("acctoutputpackets", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("radacctid", name=op.f("pk_radacct")),
        sa.UniqueConstraint("acctuniqueid", name=op.f("uq_radacct_acctuniqueid")),
    )
    op.create_index(
        "ix_radacct_acctstarttime_username", "radacct", ["acctstarttime", "username"]
    )
    op.create_index(
        "ix_radacct_username_acctstarttime", "radacct", ["username", "acctstarttime"]
    )
    for column in ("nasname", "callingstationid"):
        op.create_index(
            f"ix_radacct_open_node_{column}",
            "radacct",
            ["node", column],
            sqlite_where=sa.text("acctstoptime IS NULL"),
            postgresql_where=sa.text("acctstoptime IS NULL"),
        )


def downgrade() -> None:
    op.drop_index("ix_radacct_open_node_callingstationid", table_name="radacct")
    op.drop_index("ix_radacct_open_node_nasname", table_name="radacct")
    op.drop_index("ix_radacct_username_acctstarttime", table_name="radacct")
    op.drop_index("ix_radacct_acctstarttime_username", table_name="radacct")
    op.drop_table("radacct")
