"""The configuration reference (``docs/configuration.md``), generated from the schema so that
it cannot drift: every key of every table, its type, its default and its meaning (the attribute
docstring under the field in config/mag.py and config/lma.py).

python -m netlmm_aaa.config.reference > docs/configuration.md
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import re
import sys
from enum import Enum
from typing import Any

from netlmm_aaa.config import lma, mag
from netlmm_aaa.config.schema import TableDoc, describe, setting_check, setting_key


@dataclasses.dataclass(frozen=True, slots=True)
class KeyDoc:
    """One row of the reference."""

    key: str
    type: str
    default: str
    meaning: str


def attribute_docstrings(cls: type[Any]) -> dict[str, str]:
    """The string written under each field of ``cls`` in its source, by field name."""
    module = sys.modules[cls.__module__]
    tree = ast.parse(inspect.getsource(module))
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ClassDef) and node.name == cls.__name__):
            continue
        body = node.body
        for here, after in itertools.pairwise(body):
            if (
                isinstance(here, ast.AnnAssign)
                and isinstance(here.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                found[here.target.id] = inspect.cleandoc(after.value.value)
    return found


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return _toml(value.value)
    if isinstance(value, str):
        return f'"{value}"' if value else '""'
    if isinstance(value, float):
        return f"{value:g}" if value != int(value) else f"{int(value)}"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def _toml_words(text: str) -> str:
    """The docstrings speak Python (reST literals, None, True); the reference speaks TOML."""
    text = text.replace("``", "`")
    for python, toml in (("None", "unset"), ("True", "true"), ("False", "false")):
        text = re.sub(rf"\b{python}\b", toml, text)
    return text


def keys(table: TableDoc) -> list[KeyDoc]:
    """The rows of one table, in declaration order."""
    meanings: dict[str, str] = {}
    for source in (*reversed(table.meanings_from), table.cls):
        meanings.update(attribute_docstrings(source))
    rows: list[KeyDoc] = []
    for field in dataclasses.fields(table.cls):
        check = setting_check(field)
        if check is None:
            continue
        if field.default is dataclasses.MISSING:
            default = "required"
        elif field.default is None:
            default = "unset"
        else:
            default = f"`{_toml(field.default)}`"
        meaning = _toml_words(" ".join(meanings.get(field.name, "").split()))
        rows.append(KeyDoc(setting_key(field), describe(check), default, meaning))
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table(table: TableDoc) -> list[str]:
    title = f"[[{table.path}]]" if table.array else f"[{table.path}]"
    about = " ".join(inspect.cleandoc(table.cls.__doc__ or "").split())
    about = re.sub(r"^``\[\[?[\w.]+\]\]?``:\s*", "", about)
    about = _toml_words(about[:1].upper() + about[1:])
    lines = ["", f"### `{title}`", "", about, "", "| key | type | default | meaning |",
             "|---|---|---|---|"]  # fmt: skip
    for row in keys(table):
        lines.append(
            f"| `{row.key}` | {_cell(row.type)} | {_cell(row.default)} | {_cell(row.meaning)} |"
        )
    return lines


def reference() -> str:
    """Markdown: both daemons' tables."""
    parts = [
        "# netlmm-aaa configuration reference",
        "",
        "Generated from the configuration schema (`python -m netlmm_aaa.config.reference`); a "
        "test keeps it equal to the code and fails when a key has no meaning written. Each "
        "daemon reads one TOML file (`--config FILE`); an unknown key is an error, not a "
        "default, and `netlmm-aaa config check FILE` reports every problem in one pass, as "
        "`file:line: key.path: what is wrong`. "
        "Addresses and networks are strings; durations in seconds unless a row says otherwise.",
        "",
        "## The MAG: `netlmm-aaa mag --config FILE`",
    ]
    for table in mag.TABLES:
        parts.extend(_table(table))
    parts.extend(["", "## The LMA: `netlmm-aaa lma --config FILE`"])
    for table in lma.TABLES:
        parts.extend(_table(table))
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
