"""Running the Alembic migrations from code (``netlmm-aaa db upgrade`` and the daemons)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from netlmm_aaa.persistence.database import create_private_sqlite_file


def migrations_directory() -> Path:
    """Where the migrations are: the repository's ``migrations/`` (packaged as
    ``netlmm_aaa.migrations`` in a wheel)."""
    here = Path(__file__).resolve().parent.parent.parent / "migrations"
    if (here / "env.py").is_file():
        return here
    return Path(str(resources.files("netlmm_aaa.migrations")))


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_directory()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (a new SQLite file is created private)."""
    create_private_sqlite_file(url)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Revert the migrations down to ``revision`` (``base`` for nothing)."""
    command.downgrade(alembic_config(url), revision)


def schema_is_current(engine: Engine) -> tuple[bool, str | None, str]:
    """(current?, the database's revision, the code's head revision)."""
    script = ScriptDirectory.from_config(
        alembic_config(engine.url.render_as_string(hide_password=False))
    )
    head = script.get_current_head() or ""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current == head, current, head
