"""The wheel carries every package of netlmm_aaa/ (the list in pyproject.toml is written by hand
because migrations/ ships as netlmm_aaa.migrations), and no test bed."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_under_netlmm_aaa_is_listed_and_the_testbed_is_not() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "netlmm_aaa").rglob("__init__.py")
    }
    assert found, "no packages found under netlmm_aaa/"
    assert found - listed == set(), "packages missing from pyproject.toml"
    assert {"netlmm_aaa.migrations", "netlmm_aaa.migrations.versions"} <= listed
    assert not any(name.startswith("testbed") for name in listed)
