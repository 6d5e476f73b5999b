"""A private PostgreSQL server for tests and benches: ``initdb`` + ``pg_ctl`` from the Debian
binaries, run as the ``postgres`` user, Unix socket only (no TCP), removed afterwards."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path


class PostgresqlUnavailable(RuntimeError):
    """What is missing to start the private server (the message says what to install)."""


def server_binaries() -> str | None:
    """The newest ``/usr/lib/postgresql/*/bin`` with ``pg_ctl``, if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return str(Path(found[-1]).parent) if found else None


def check_available() -> str:
    """The binaries' directory, or PostgresqlUnavailable naming the missing piece."""
    bindir = server_binaries()
    if bindir is None:
        raise PostgresqlUnavailable(
            "PostgreSQL server binaries not installed (Debian 'postgresql'; .ci/setup installs it)"
        )
    if os.geteuid() != 0:
        raise PostgresqlUnavailable(
            "starting the private PostgreSQL server needs root (to run it as 'postgres')"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise PostgresqlUnavailable("psycopg is not installed (the 'test' extra)") from None
    return bindir


@contextlib.contextmanager
def private_server(*, settings: tuple[str, ...] = ()) -> Iterator[str]:
    """Start a server; yields the base URL with ``%s`` where the database name goes.
    ``settings`` are extra ``-c name=value`` server options."""
    bindir = check_available()
    root = Path(tempfile.mkdtemp(prefix="netlmm-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    shutil.chown(root, "postgres")
    shutil.chown(sock, "postgres")
    os.chmod(root, 0o755)

    def as_postgres(*argv: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True,
                       capture_output=True, timeout=120)  # fmt: skip

    port = "55432"
    options = f"-k {sock} -p {port} -c listen_addresses='' -c fsync=on"
    options += "".join(f" -c {s}" for s in settings)
    (root / "options").write_text(options)
    try:
        as_postgres(f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres")
        as_postgres(f"{bindir}/pg_ctl", "-D", str(data), "-w", "-l", str(root / "log"),
                    "-o", options, "start")  # fmt: skip
        yield f"postgresql+psycopg://postgres@/%s?host={sock}&port={port}"
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", f"{bindir}/pg_ctl", "-D", str(data), "-m",
             "immediate", "stop"], capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def create_database(base_url: str, prefix: str = "t") -> str:
    """Create an empty database on the private server and return its URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    host = base_url.split("host=")[1].split("&")[0]
    port = base_url.split("port=")[1]
    with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres",
                         autocommit=True) as conn:  # fmt: skip
        conn.execute(f'CREATE DATABASE "{name}"')
    return base_url % name


def _control(url: str, *argv: str) -> None:
    bindir = check_available()
    root = Path(url.split("host=")[1].split("&")[0]).parent
    if argv[-1] == "start":
        argv = ("-l", str(root / "log"), "-o", (root / "options").read_text(), *argv)
    subprocess.run(
        ["runuser", "-u", "postgres", "--", f"{bindir}/pg_ctl", "-D", str(root / "data"), "-w",
         *argv], check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def stop_server(url: str) -> None:
    """Stop the private server behind ``url`` (fast shutdown: clients are disconnected)."""
    _control(url, "-m", "fast", "stop")


def start_server(url: str) -> None:
    """Start the private server behind ``url`` again (after :func:`stop_server`)."""
    _control(url, "start")
