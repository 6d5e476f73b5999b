"""Daemon configuration from TOML, validated at start-up (:mod:`.schema` says how).

Every problem is a :class:`~netlmm_aaa.core.errors.ConfigError` naming the key path and the bad
value, e.g. ``lma.pools.prefix: '2001:db8::/300' is not an IPv6 network``. Unknown keys are errors
too (a typo must not silently fall back to a default).
"""

from __future__ import annotations

from netlmm_aaa.config.lma import LmaAaa, LmaAaaNas, LmaConfig, load_lma_config, parse_lma_config
from netlmm_aaa.config.mag import (
    AccountingUpstream,
    HostapdConfig,
    MagConfig,
    NasConfig,
    RadiusRelay,
    load_mag_config,
    parse_mag_config,
)

__all__ = [
    "AccountingUpstream",
    "HostapdConfig",
    "LmaAaa",
    "LmaAaaNas",
    "LmaConfig",
    "MagConfig",
    "NasConfig",
    "RadiusRelay",
    "load_lma_config",
    "load_mag_config",
    "parse_lma_config",
    "parse_mag_config",
]
