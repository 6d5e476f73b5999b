"""The wheel's package list is found, not written by hand (setup.py): every package under
netlmm_aaa/, the migrations as netlmm_aaa.migrations, no test bed. (The installed-wheel test
builds the wheel and runs every subcommand from it.)"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest
import setuptools

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_is_found_and_the_testbed_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: seen.update(kwargs))
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / "setup.py"))
    found = set(seen["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "netlmm_aaa").rglob("__init__.py")
    }
    assert on_disk and on_disk <= found, on_disk - found
    assert {"netlmm_aaa.migrations", "netlmm_aaa.migrations.versions"} <= found
    assert not any(name.startswith(("testbed", "tests", "bench")) for name in found), found
    assert (ROOT / "LICENSE").read_text().startswith("BSD 3-Clause License")
