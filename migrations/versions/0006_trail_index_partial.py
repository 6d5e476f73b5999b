"""The per-node index of ``station_events`` covers only the events a location trail reads.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

``ix_station_events_mn_id_at`` was on every station event. Its keys are random (one insertion
point per mobile node), so on a large audit trail every group commit rewrote a page of it per
row, and half of those rows were ``attached`` events, which no trail reads. It is now a partial
index on the trail's events (``registered`` and what ends a stay); ``location_trail`` and
``report trail`` name those events so that both databases use it. The view's rows are the same.
The upgrade rebuilds the index (10 s for a 10-million-row SQLite store here); writers wait.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TRAIL_PREDICATE = (
    "event IN ('registered', 'detached', 'deregistered', 'revoked', 'replaced',"
    " 'refresh_rejected', 'pbu_unanswered')"
)

_OLD_UNTIL = """                WHERE x.mn_id = e.mn_id
                  AND (x.at > e.at"""
_NEW_UNTIL = f"""                WHERE x.mn_id = e.mn_id
                  AND x.{TRAIL_PREDICATE}
                  AND (x.at > e.at"""


def _views() -> dict[str, str]:
    path = Path(__file__).with_name("0003_report_tables_and_views.py")
    spec = importlib.util.spec_from_file_location("netlmm_migration_0003", path)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    views: dict[str, str] = module.VIEWS
    return views


def _recreate_trail_views(location_trail: str) -> None:
    # ap_transitions reads location_trail (PostgreSQL will not drop a view another one uses).
    op.execute("DROP VIEW ap_transitions")
    op.execute("DROP VIEW location_trail")
    op.execute(f"CREATE VIEW location_trail AS {location_trail}")
    op.execute(f"CREATE VIEW ap_transitions AS {_views()['ap_transitions']}")


def upgrade() -> None:
    op.drop_index("ix_station_events_mn_id_at", table_name="station_events")
    op.create_index(
        "ix_station_events_mn_id_at", "station_events", ["mn_id", "at"],
        sqlite_where=sa.text(TRAIL_PREDICATE), postgresql_where=sa.text(TRAIL_PREDICATE),
    )  # fmt: skip
    view = _views()["location_trail"]
    assert _OLD_UNTIL in view
    _recreate_trail_views(view.replace(_OLD_UNTIL, _NEW_UNTIL))


def downgrade() -> None:
    _recreate_trail_views(_views()["location_trail"])
    op.drop_index("ix_station_events_mn_id_at", table_name="station_events")
    op.create_index("ix_station_events_mn_id_at", "station_events", ["mn_id", "at"])
