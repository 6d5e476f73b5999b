"""docs/configuration.md is the schema, regenerated: every key of every table has a type, a
default and a meaning written, and the file may not drift from the code."""

from __future__ import annotations

import tomllib
from typing import Any

from netlmm_aaa.config import lma, mag
from netlmm_aaa.config.reference import keys, reference
from tests.conftest import REPO


def test_configuration_reference_is_current() -> None:
    current = (REPO / "docs" / "configuration.md").read_text()
    assert current == reference(), (
        "docs/configuration.md is stale: "
        "python -m netlmm_aaa.config.reference > docs/configuration.md"
    )


def test_every_key_has_a_meaning() -> None:
    undocumented = [f"{table.path}.{row.key}" for module in (mag, lma) for table in module.TABLES
                    for row in keys(table) if not row.meaning]  # fmt: skip
    assert undocumented == [], "write a docstring under these settings: " + ", ".join(undocumented)


def _key_paths(table: dict[str, Any], path: str) -> set[str]:
    """Every key of a parsed TOML document as ``table.key`` (arrays of tables without index)."""
    found: set[str] = set()
    for key, value in table.items():
        if isinstance(value, dict):
            found |= _key_paths(value, f"{path}.{key}")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                found |= _key_paths(item, f"{path}.{key}")
        else:
            found.add(f"{path}.{key}")
    return found


def test_every_key_the_shipped_examples_use_is_in_the_reference() -> None:
    documented = {f"{table.path}.{row.key}" for module in (mag, lma) for table in module.TABLES
                  for row in keys(table)}  # fmt: skip
    examples = [*(REPO / "examples").glob("*.toml"), *(REPO / "examples" / "site").glob("*.toml")]
    assert len(examples) >= 6
    used: set[str] = set()
    for example in examples:
        document = tomllib.loads(example.read_text())
        for top, table in document.items():
            used |= _key_paths(table, top)
    assert used - documented == set()
    assert len(used & documented) > 40  # the examples exercise most of the schema
