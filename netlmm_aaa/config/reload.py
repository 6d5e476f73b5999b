"""What a reload (SIGHUP) may change in a running daemon, and what takes a restart.

A reload is all or nothing: a new file that is invalid, or that changes anything outside the
reloadable parts, is refused with the reason and the running configuration stays exactly the
old file's. Reloadable, because they change who may talk to us and how, never a binding:
- MAG: the ``[[mag.nas]]`` tables (secrets, identities, rate limits, MAB), which LMA serves
  which realm (``[[mag.lma_selection]]``, ``lma_heartbeats``; a new LMA is decapsulated from
  first; one leaves only while no station is registered there: the core refuses otherwise)
  and the authentication relay's server secret and ``profile_ttl``;
- LMA: the ``[[lma.mag]]`` peers (the data plane decapsulates from new ones first; a MAG's
  rules may change at any time, its addresses or its entry only while it serves no node: the
  core refuses the reload otherwise), the ``[lma.timers]`` (but ``heartbeat_interval``) and
  ``[lma.policy]`` rules, the node profiles (``[[lma.mobile_node]]`` and the
  mobile_node_policies table, read again; a static block another node's binding holds refuses
  the reload), the ``[[lma.aaa.nas]]`` tables and ``lma.aaa.wait``. (The pools shape the
  blocks sessions hold: a restart.)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from netlmm_aaa.config import lma
from netlmm_aaa.config.lma import LmaConfig
from netlmm_aaa.config.mag import MagConfig
from netlmm_aaa.config.schema import setting_key
from netlmm_aaa.core.lma import LocalMobilityAnchor

_MAG_RELOADABLE = frozenset({"nases", "lma_selection", "quiet_lmas", "lma_heartbeats"})
_MAG_TABLES = {"nases": "nas", "hostapd": "hostapd"}
_LMA_POLICY_RELOADABLE = LocalMobilityAnchor.RELOADABLE


def _changed(old: Any, new: Any, skip: frozenset[str]) -> list[str]:
    """Fields of two dataclasses that differ, by TOML key (table name for sub-tables)."""
    names = []
    for field in dataclasses.fields(old):
        if field.name in skip or getattr(old, field.name) == getattr(new, field.name):
            continue
        names.append(setting_key(field) if field.metadata else field.name)
    return names


def mag_restart_needed(old: MagConfig, new: MagConfig) -> list[str]:
    """The key paths whose change a running MAG cannot take (empty: the reload may go on)."""
    skip = _MAG_RELOADABLE | {"radius_relay"}
    fixed = [f"mag.{_MAG_TABLES.get(name, name)}" for name in _changed(old, new, skip)]
    if bool(old.nases) != bool(new.nases):
        fixed.append("mag.nas (the accounting listener starts with the MAG or not at all)")
    if (old.radius_relay is None) != (new.radius_relay is None):
        fixed.append("mag.radius_relay")
    elif old.radius_relay is not None and new.radius_relay is not None:
        fixed += [
            f"mag.radius_relay.{key}"
            for key in _changed(
                old.radius_relay, new.radius_relay, frozenset({"server_secret", "profile_ttl"})
            )
        ]
    return fixed


def lma_restart_needed(old: LmaConfig, new: LmaConfig) -> list[str]:
    """The key paths whose change a running LMA cannot take (empty: the reload may go on)."""
    fixed = [f"lma.{name}" for name in _changed(old, new, frozenset({"policy", "aaa"}))]
    # The policy's fields by the key that sets them; the others follow [lma] and [lma.aaa].
    paths = {"peers": "lma.mag"}
    for table in lma.TABLES:
        if table.path in ("lma.pools", "lma.timers", "lma.policy"):
            paths.update(
                {f.name: f"{table.path}.{setting_key(f)}" for f in dataclasses.fields(table.cls)}
            )
    skip = _LMA_POLICY_RELOADABLE | {"peers", "mobile_nodes"}
    fixed += [paths[name] for name in _changed(old.policy, new.policy, skip) if name in paths]
    if (old.aaa is None) != (new.aaa is None):
        fixed.append("lma.aaa")
    elif old.aaa is not None and new.aaa is not None:
        skip = frozenset({"nases", "wait"})
        fixed += [f"lma.aaa.{key}" for key in _changed(old.aaa, new.aaa, skip)]
    return fixed
