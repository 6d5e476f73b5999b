"""docs/cli.md is the command's own help, regenerated: it may not drift from the code."""

from __future__ import annotations

from netlmm_aaa.cli_reference import reference
from tests.conftest import REPO


def test_cli_reference_is_current() -> None:
    current = (REPO / "docs" / "cli.md").read_text()
    assert current == reference(), (
        "docs/cli.md is stale: COLUMNS=100 python -m netlmm_aaa.cli_reference > docs/cli.md"
    )
    for command in ("lma bindings", "lma revoke", "report trail", "report html", "config check"):
        assert f"## `netlmm-aaa {command}`" in current
