"""Durations as operators write them on the command line and in configuration files: a whole
number and a unit letter (``90m``, ``24h``, ``7d``, ``12w``)."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, units: str = "smhdw") -> timedelta | None:
    """``text`` (surrounding blanks ignored) as a duration in one of ``units``; None when it
    is not one."""
    match = _DURATION.match(text.strip())
    if match is None or match.group(2) not in units:
        return None
    return timedelta(seconds=int(match.group(1)) * _SECONDS[match.group(2)])
