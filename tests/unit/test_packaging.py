"""The wheel carries the migrations, so `netlmm-aaa db upgrade` works from an installed package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_wheel_contains_the_package_and_its_migrations(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    [wheel] = list(tmp_path.glob("netlmm_aaa-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "netlmm_aaa/py.typed" in names
    assert "netlmm_aaa/migrations/env.py" in names
    assert "netlmm_aaa/migrations/script.py.mako" in names
    assert any(n.startswith("netlmm_aaa/migrations/versions/0001_") for n in names)
    assert "netlmm_aaa/wire/mobility_header.py" in names
