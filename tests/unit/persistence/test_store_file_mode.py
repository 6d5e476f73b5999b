"""A new SQLite store is private (0600) whatever the umask: it records who was where and when.
An existing file's mode (an operator's 0640 for auditors) is kept."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from netlmm_aaa.persistence import migrate
from netlmm_aaa.persistence.database import make_engine


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_store_files_are_private_and_existing_modes_are_kept(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a permissive umask: SQLite alone would create 0644
    try:
        upgraded = tmp_path / "upgraded.db"
        migrate.upgrade(f"sqlite:///{upgraded}")
        assert _mode(upgraded) == 0o600
        opened = tmp_path / "opened.db"
        engine = make_engine(f"sqlite:///{opened}")
        with engine.connect() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            connection.commit()
        engine.dispose()
        assert _mode(opened) == 0o600
        shared = tmp_path / "shared.db"
        shared.touch()
        shared.chmod(0o640)
        migrate.upgrade(f"sqlite:///{shared}")
        assert _mode(shared) == 0o640
    finally:
        os.umask(old)
