"""CI-sized runs of the fuzz entry points (the 1,000,000-input runs are in the README):
the RADIUS accounting decoder and the hostapd line parser raise only their typed errors."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.fuzz import fuzz_hostapd_events, fuzz_radius_accounting

pytestmark = pytest.mark.hardening


def test_radius_accounting_decoder_fuzz() -> None:
    outcomes = Counter(
        fuzz_radius_accounting.check_one(data)
        for data in fuzz_radius_accounting.inputs(seed=1813, count=100_000)
    )
    # Reached deep: some mutants decode, and the checks past the authenticator fire.
    assert outcomes["decoded"] > 1_000
    for reason in ("bad_authenticator", "attribute_overrun", "duplicate_attribute",
                   "integer_length", "bad_length"):  # fmt: skip
        assert outcomes[reason] > 0, outcomes


def test_hostapd_line_parser_fuzz() -> None:
    outcomes = Counter(
        fuzz_hostapd_events.check_one(data)
        for data in fuzz_hostapd_events.inputs(seed=8021, count=20_000)
    )
    assert outcomes["event"] > 100
    assert outcomes["rejected"] > 100
    assert outcomes["ignored"] > 100
