"""Dropped input is aggregated: one audit record per origin, reason and interval (R1, L4)."""

from __future__ import annotations

import pytest

from netlmm_aaa.core.security_events import OVERFLOW_ORIGIN, SecurityEvents
from tests.lma_support import T0

pytestmark = pytest.mark.hardening


def test_a_flood_becomes_one_record_per_origin_and_reason() -> None:
    events = SecurityEvents(interval=1.0)
    for i in range(10_000):
        events.note("accounting_rejected", "10.0.0.9", "bad_authenticator", f"#{i}", T0.after(i / 20_000))
    events.note("accounting_rejected", "10.0.0.7", "unknown_nas", "x", T0.after(0.2))
    assert events.drain(T0.after(0.5)) == []  # the interval is not over
    assert events.deadline() == T0.monotonic + 1.0
    records = events.drain(T0.after(1.0))
    assert [(r.peer, r.fields["reason"], r.fields["count"]) for r in records] == [
        ("10.0.0.9", "bad_authenticator", 10_000),
        ("10.0.0.7", "unknown_nas", 1),
    ]
    assert records[0].utc == T0.utc and records[0].fields["detail"] == "#0"
    assert records[0].fields["last"] == round(T0.utc + 9_999 / 20_000, 3)
    assert events.drain(T0.after(5)) == [] and events.deadline() is None
    assert events.noted == 10_001


def test_spoofed_sources_cannot_grow_memory() -> None:
    events = SecurityEvents(max_keys=100)
    for i in range(5_000):
        events.note("accounting_rejected", f"198.51.100.{i}", "unknown_nas", "", T0)
    records = events.drain(T0, force=True)
    assert len(records) == 101
    overflow = [r for r in records if r.peer == OVERFLOW_ORIGIN]
    assert overflow[0].fields["count"] == 4_900
    assert sum(r.fields["count"] for r in records) == 5_000
