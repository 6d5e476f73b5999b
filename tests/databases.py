"""Database fixtures: a temporary SQLite file, and a private PostgreSQL server started from the
Debian binaries (initdb + pg_ctl as the 'postgres' user, Unix socket only, removed afterwards)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from netlmm_aaa.persistence import migrate
from testbed.postgresql import (
    PostgresqlUnavailable,
    check_available,
    create_database,
    private_server,
)


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[str]:
    """Base URL of a private PostgreSQL server (one per test session)."""
    try:
        check_available()
    except PostgresqlUnavailable as exc:
        pytest.skip(str(exc))
    with private_server() as url:
        yield url


def fresh_postgresql_database(base_url: str) -> str:
    """Create an empty database on the private server and return its URL."""
    return create_database(base_url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database of each supported kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'netlmm.db'}"
    else:
        url = fresh_postgresql_database(request.getfixturevalue("postgresql_server"))
    migrate.upgrade(url)
    return url
