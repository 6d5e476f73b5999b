"""Engines: SQLite by default (embedded, WAL), PostgreSQL by URL."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url

#: A new SQLite store is readable by its owner only: it holds who was where and when. (SQLite
#: gives its -wal and -shm files the database file's mode.) An operator may widen it, e.g. to
#: 0640 for an auditors' group; an existing file's mode is left as it is.
SQLITE_FILE_MODE = 0o600


def create_private_sqlite_file(url: str) -> None:
    """Create the file of a SQLite ``url`` with :data:`SQLITE_FILE_MODE` if it does not exist
    yet (before SQLite would create it with the umask's mode); other URLs: nothing."""
    parsed = make_url(url)
    path = parsed.database
    if not parsed.drivername.startswith("sqlite") or not path or path == ":memory:":
        return
    if path.startswith("file:") or parsed.query.get("uri"):
        return  # a URI filename: SQLite's own syntax, left to it
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, SQLITE_FILE_MODE))


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys (and a new file
    is private, :func:`create_private_sqlite_file`)."""
    if url.startswith("sqlite"):
        create_private_sqlite_file(url)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: a WAL commit is on disk before it returns, so what an answer promises (an
            # accounting ACK, a PBA) survives a power loss; NORMAL could lose the last commits.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # 64 MiB of page cache (the default 2 MiB thrashes the indexes of a large audit
            # trail) and memory-mapped reads.
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.execute("PRAGMA mmap_size=268435456")
            # The store's background checkpointer keeps the WAL short without making commits
            # wait for checkpoint I/O; the writer itself checkpoints only as a safety net (256 MiB).
            cursor.execute("PRAGMA wal_autocheckpoint=65536")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def sqlite_path(engine: Engine) -> str | None:
    """The file of a SQLite engine (None for other databases and in-memory SQLite)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    return database if database and database != ":memory:" else None
