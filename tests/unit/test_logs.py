"""Structured logs: audit records as log lines with MN-ID/peer/session fields, JSON lines."""

from __future__ import annotations

import io
import json
import logging

from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.logs import JsonFormatter, log_audit


def test_audit_records_become_structured_log_lines() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("netlmm_aaa.audit")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        log_audit([
            RecordAudit(kind="handover", utc=0, mn_id=b"alice@example.org", peer="mag2",
                        fields={"from_mag": "mag1", "to_mag": "mag2", "prefixes": ["2001:db8::/64"]}),
            RecordAudit(kind="accounting", utc=0, mn_id=b"alice@example.org", peer="wlc",
                        fields={"session_id": "S1", "status": 1}),  # routine: DEBUG, not shown
            RecordAudit(kind="accounting_rejected", utc=0, peer="192.0.2.66",
                        fields={"reason": "bad_authenticator", "detail": "x y"}),
            RecordAudit(kind="pbu", utc=0, mn_id=b"eve@example.org", peer="2001:db8::66",
                        fields={"status": 154, "reason": "source is not a MAG peer"}),
        ])  # fmt: skip
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(x["event"], x["level"]) for x in lines] == [
        ("handover", "info"), ("accounting_rejected", "warning"), ("pbu", "warning"),
    ]  # fmt: skip
    assert lines[0]["mn_id"] == "alice@example.org" and lines[0]["from_mag"] == "mag1"
    assert lines[0]["msg"].startswith("handover mn_id=alice@example.org peer=mag2")
    assert lines[1]["reason"] == "bad_authenticator" and lines[1]["peer"] == "192.0.2.66"
    assert lines[2]["status"] == 154 and lines[2]["ts"].endswith("Z")


def test_claimed_identities_are_escaped_in_text_lines_and_tables() -> None:
    """Issue 22 (7): ``alice\\t`` must not look like ``alice``, and a newline in a claimed
    identity must not forge a second log line or table row."""
    from netlmm_aaa.printable import printable
    from netlmm_aaa.reports.output import render
    from netlmm_aaa.reports.queries import Table

    assert printable("alice@example.org") == "alice@example.org"
    assert printable("alice\t") == "alice\\x09"
    assert printable("a\\x09") == "a\\\\x09"  # a literal backslash cannot pass for an escape
    assert printable("bob\nmag=forged\x1b[2J") == "bob\\x0amag=forged\\x1b[2J"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("netlmm_aaa.audit")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        log_audit([RecordAudit(kind="station_rejected", utc=0, mn_id=b"eve\nstation_registered",
                               peer="mag1", fields={"reason": "not_8021x", "mac": "x\ty"})])  # fmt: skip
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    assert stream.getvalue().count("\n") == 1
    assert "mn_id=eve\\x0astation_registered" in stream.getvalue()
    assert "mac=x\\x09y" in stream.getvalue()
    table = render([Table("t", ("mn_id",), [("alice\t",), ("eve\nmallory",)])], "table")
    assert table.splitlines()[-2:] == ["alice\\x09", "eve\\x0amallory"]
