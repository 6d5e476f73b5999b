"""The benches' percentile: the sample at rank ``q * n`` of the sorted values (nearest rank,
no interpolation), NaN for no values."""

from __future__ import annotations


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
