"""Where a key path (``mag.nas[1].address``, as the configuration errors name them) is written
in a TOML file, so that ``config check`` can print ``file:line: problem``.

tomllib keeps no positions; this reads the ``[table]`` / ``[[array]]`` headers and ``key =``
lines the way a person writes a daemon's file. Keys it cannot place (dotted keys, inline
tables, a line inside a multi-line string) fall back to their table's header, or to no line.
"""

from __future__ import annotations

import re

_ARRAY = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_.\-]+)\s*\]\]")
_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-]+)\s*\]")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")
_PATH = re.compile(r"^([A-Za-z0-9_\-]+(?:\[\d+\])?(?:\.[A-Za-z0-9_\-]+(?:\[\d+\])?)*)[:\s]")


def key_lines(text: str) -> dict[str, int]:
    """The 1-based line of every table and key, by path (``mag``, ``mag.nas[0]``,
    ``mag.nas[0].address``)."""
    lines: dict[str, int] = {}
    arrays: dict[str, int] = {}
    current = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if match := _ARRAY.match(line):
            name = match.group(1)
            arrays[name] = arrays.get(name, -1) + 1
            # A new element starts afresh: arrays nested under it count from zero again.
            for nested in [a for a in arrays if a.startswith(f"{name}.")]:
                del arrays[nested]
            current = f"{name}[{arrays[name]}]"
            lines.setdefault(name, number)
        elif match := _TABLE.match(line):
            current = match.group(1)
        elif (match := _KEY.match(line)) and current:
            lines.setdefault(f"{current}.{match.group(1)}", number)
            continue
        else:
            continue
        lines.setdefault(current, number)
    return lines


def line_of(message: str, lines: dict[str, int]) -> int | None:
    """The line of the key path a problem message starts with, or of the nearest table above
    it that is written; None when neither is."""
    match = _PATH.match(message)
    if match is None:
        return None
    path = match.group(1)
    while path:
        if path in lines:
            return lines[path]
        if path.endswith("]"):
            path = path[: path.rindex("[")]
        elif "." in path:
            path = path.rsplit(".", 1)[0]
        else:
            break
    return None
