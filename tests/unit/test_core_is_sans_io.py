"""The core imports no I/O: no sockets, clocks, asyncio, scapy, pyroute2, pyrad or SQLAlchemy."""

from __future__ import annotations

import ast
from pathlib import Path

import netlmm_aaa.core

FORBIDDEN = {
    "asyncio", "socket", "select", "selectors", "time", "datetime", "threading", "subprocess",
    "scapy", "pyroute2", "pyrad", "sqlalchemy", "alembic", "logging.handlers", "random",
}  # fmt: skip


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_modules_import_no_io() -> None:
    core = Path(netlmm_aaa.core.__file__).parent
    files = sorted(core.rglob("*.py"))
    assert len(files) >= 4
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            assert top not in FORBIDDEN, f"{path.name} imports {name}"
            assert name not in FORBIDDEN, f"{path.name} imports {name}"


def test_wire_codecs_import_no_sockets_and_third_party_codecs_only_where_named() -> None:
    wire = Path(netlmm_aaa.core.__file__).parent.parent / "wire"
    # pyrad: RFC 2868 salt encryption in the authentication relay (issue 24).
    allowed = {"scapy_layers.py": {"scapy"}, "radius_accounting.py": {"pyrad"},
               "radius_auth.py": {"pyrad"}}  # fmt: skip
    files = sorted(wire.glob("*.py"))
    assert len(files) >= 8
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            if top in {"scapy", "pyrad"}:
                assert top in allowed.get(path.name, set()), f"{path.name} imports {name}"
            assert top not in {"socket", "asyncio", "sqlalchemy", "pyroute2"}, path.name
