"""The ``rejections`` view also lists the MAG's RADIUS relay and DHCPv4 refusals.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

``radius_relay_rejected`` (an Access-Request from an unknown address or with a bad
Message-Authenticator, an answer that does not verify) and ``dhcp_refused`` (a DHCP request from
a station with no registered binding) are aggregated like the other dropped packets, with their
count in ``audit_events.details``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_OLD_KINDS = "'pba_dropped', 'bri_unmatched', 'bra_unmatched', 'hook_event_rejected')"
_NEW_KINDS = (
    "'pba_dropped', 'bri_unmatched', 'bra_unmatched', 'hook_event_rejected',\n"
    "                       'radius_relay_rejected', 'dhcp_refused')"
)


def _previous() -> ModuleType:
    path = Path(__file__).with_name("0004_aggregated_rejections.py")
    spec = importlib.util.spec_from_file_location("netlmm_migration_0004", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _count() -> str:
    if op.get_bind().dialect.name == "postgresql":
        return "COALESCE(CAST(details->>'count' AS INTEGER), 1)"
    return "COALESCE(CAST(json_extract(details, '$.count') AS INTEGER), 1)"


def upgrade() -> None:
    view = _previous()._rejections(_count())
    assert _OLD_KINDS in view
    op.execute("DROP VIEW rejections")
    op.execute(f"CREATE VIEW rejections AS {view.replace(_OLD_KINDS, _NEW_KINDS)}")


def downgrade() -> None:
    op.execute("DROP VIEW rejections")
    op.execute(f"CREATE VIEW rejections AS {_previous()._rejections(_count())}")
