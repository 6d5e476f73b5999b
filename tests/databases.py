"""Database fixtures: a temporary SQLite file, and a private PostgreSQL server started from the
Debian binaries (initdb + pg_ctl as the 'postgres' user, Unix socket only, removed afterwards)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from netlmm_aaa.persistence import migrate


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return str(Path(found[-1]).parent) if found else None


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[str]:
    """Base URL of a private PostgreSQL server (one per test session)."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries not installed (Debian 'postgresql'; .ci/run installs it)"
        )
    if os.geteuid() != 0:
        pytest.skip("starting the private PostgreSQL server needs root (to run it as 'postgres')")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (test extra)")
    root = Path(tempfile.mkdtemp(prefix="netlmm-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    shutil.chown(root, "postgres")
    shutil.chown(sock, "postgres")
    os.chmod(root, 0o755)

    def as_postgres(*argv: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True,
                       capture_output=True, timeout=120)  # fmt: skip

    as_postgres(f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres")
    port = "55432"
    as_postgres(
        f"{bindir}/pg_ctl", "-D", str(data), "-w", "-l", str(root / "log"),
        "-o", f"-k {sock} -p {port} -c listen_addresses='' -c fsync=on", "start",
    )  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@/%s?host={sock}&port={port}"
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", f"{bindir}/pg_ctl", "-D", str(data), "-m",
             "immediate", "stop"], capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def fresh_postgresql_database(base_url: str) -> str:
    """Create an empty database on the private server and return its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    host = base_url.split("host=")[1].split("&")[0]
    port = base_url.split("port=")[1]
    with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres",
                         autocommit=True) as conn:  # fmt: skip
        conn.execute(f'CREATE DATABASE "{name}"')
    return base_url % name


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database of each supported kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'netlmm.db'}"
    else:
        url = fresh_postgresql_database(request.getfixturevalue("postgresql_server"))
    migrate.upgrade(url)
    return url
