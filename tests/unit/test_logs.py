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
