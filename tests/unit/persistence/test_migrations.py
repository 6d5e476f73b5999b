"""Alembic: upgrade to head, models and migrations do not drift, downgrade works."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import inspect

from netlmm_aaa.persistence import migrate
from netlmm_aaa.persistence.database import make_engine
from tests.databases import database_url, postgresql_server  # noqa: F401


def test_upgrade_check_downgrade(database_url: str) -> None:  # noqa: F811
    engine = make_engine(database_url)
    current, revision, head = migrate.schema_is_current(engine)
    assert current
    assert revision == head
    assert {"lma_bindings", "node_state", "audit_events"} <= set(inspect(engine).get_table_names())
    command.check(migrate.alembic_config(database_url))  # raises if models and migrations drift
    migrate.downgrade(database_url, "base")
    assert not {"lma_bindings", "audit_events"} & set(inspect(engine).get_table_names())
    current, revision, _ = migrate.schema_is_current(engine)
    assert (current, revision) == (False, None)
    migrate.upgrade(database_url)
    engine.dispose()


def test_empty_database_is_reported_as_not_current(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert migrate.schema_is_current(engine)[:2] == (False, None)
