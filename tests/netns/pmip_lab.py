"""The PMIPv6 test bed lives in the package (the demo uses it too)."""

from __future__ import annotations

from testbed.pmip import (
    CN_V4,
    CN_V6,
    HNP,
    LMA_V4,
    LMAA,
    MAG_ADDR,
    MAG_V4,
    MN_V4,
    MN_V6,
    REPO,
    ROUTER_V4,
    PmipLab,
)

__all__ = [
    "CN_V4", "CN_V6", "HNP", "LMAA", "LMA_V4", "MAG_ADDR", "MAG_V4", "MN_V4", "MN_V6", "REPO",
    "ROUTER_V4", "PmipLab",
]  # fmt: skip
