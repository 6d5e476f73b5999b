"""Engines: SQLite by default (embedded, WAL), PostgreSQL by URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
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
