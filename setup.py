"""The wheel's package list, found rather than written by hand: every package under netlmm_aaa/
and the Alembic migrations (top-level migrations/, installed as netlmm_aaa.migrations, mapped in
pyproject.toml). Everything else about the build is in pyproject.toml."""

from __future__ import annotations

from setuptools import find_packages, setup

migrations = ["netlmm_aaa.migrations"] + [
    f"netlmm_aaa.migrations.{name}" for name in find_packages("migrations")
]
setup(packages=find_packages(include=["netlmm_aaa", "netlmm_aaa.*"]) + migrations)
