"""What a configuration reload may change in a running core (sans-IO): the fields of a policy
dataclass that are read afresh at each event, against those that shaped state at start."""

from __future__ import annotations

import dataclasses
from typing import Any

from netlmm_aaa.core.errors import ConfigError


def refuse_fixed_changes(current: Any, new: Any, reloadable: frozenset[str], daemon: str) -> None:
    """ConfigError naming every field of ``new`` that differs from ``current`` outside
    ``reloadable``; nothing when there is none."""
    changed = {
        f.name for f in dataclasses.fields(new) if getattr(new, f.name) != getattr(current, f.name)
    }
    if changed - reloadable:
        fixed = ", ".join(sorted(changed - reloadable))
        raise ConfigError(
            f"{daemon}: {fixed} cannot change while running (restart the {daemon.upper()})"
        )
