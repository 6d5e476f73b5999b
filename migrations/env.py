"""Alembic environment: the URL comes from the caller (``netlmm-aaa db upgrade --db URL``, the
daemons, or ``alembic -x url=...``), never from a checked-in file."""

from __future__ import annotations

import warnings

from alembic import context
from sqlalchemy import pool

from netlmm_aaa.persistence.database import make_engine
from netlmm_aaa.persistence.models import Base

config = context.config
target_metadata = Base.metadata

# Indexes on expressions (ix_station_events_visit): SQLAlchemy cannot reflect them from SQLite
# and Alembic's comparison of models and database skips them there, each with a warning; their
# migrations create them.
for _skipped in ("Skipped unsupported reflection of expression-based index",
                 "autogenerate skipping metadata-specified expression-based index"):  # fmt: skip
    warnings.filterwarnings("ignore", message=_skipped)


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("no database URL: pass --db URL (or alembic -x url=URL)")
    return url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = _url()
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=url.startswith("sqlite"),
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
