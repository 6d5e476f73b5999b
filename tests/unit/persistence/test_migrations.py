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


def test_relay_and_dhcp_refusals_are_rejections(database_url: str) -> None:  # noqa: F811
    """Migration 0005: the aggregated relay and DHCP refusals count in ``rejections`` (and so in
    ``report security``); downgrading to 0004 takes them out again."""
    from netlmm_aaa.core.actions import RecordAudit
    from netlmm_aaa.persistence.store import SqlStore

    engine = make_engine(database_url)
    store = SqlStore(engine, "mag1")
    records = [
        RecordAudit(kind="radius_relay_rejected", utc=1_700_000_000, peer="192.0.2.66",
                    fields={"reason": "bad_message_authenticator", "count": 3}),
        RecordAudit(kind="dhcp_refused", utc=1_700_000_001, peer="dhcpv4 acc0",
                    fields={"reason": "no registered binding", "count": 2}),
    ]  # fmt: skip
    query = "SELECT reason, SUM(packets) FROM rejections WHERE source = 'packet' GROUP BY reason"
    try:
        store.submit(audit=records).result(30)
        with engine.connect() as c:
            counts = dict(c.exec_driver_sql(query).all())
        assert counts == {"radius_relay_rejected": 3, "dhcp_refused": 2}
        migrate.downgrade(database_url, "0004")
        with engine.connect() as c:
            assert c.exec_driver_sql(query).all() == []
        migrate.upgrade(database_url)
    finally:
        store.close()
        engine.dispose()
