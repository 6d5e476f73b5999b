"""Prometheus metrics: derived from audit records, exposition format, the HTTP endpoint."""

from __future__ import annotations

import asyncio
import re

import pytest

from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.metrics import Metrics, parse_listen, serve_metrics
from tests.mag_lma_pair import make_pair


def _value(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{series} missing from:\n{text}"
    return float(match.group(1))


def test_metrics_follow_the_audit_records_of_real_cores() -> None:
    pair = make_pair()
    pair.hop = 0.002
    pair.attach("mag1")
    pair.now = pair.now.after(10)
    pair.attach("mag2")
    lma, mag2 = Metrics("lma", "lma1"), Metrics("mag", "mag2")
    for who, action in pair.log:
        if type(action) is RecordAudit:
            if who == "lma":
                lma.observe([action])
            elif who == "mag2":
                mag2.observe([action])
    lma.observe([RecordAudit(kind="handover", utc=0, fields={"route_switch_ms": 0.7})])
    mag2.observe([
        RecordAudit(kind="accounting_rejected", utc=0, peer="192.0.2.9",
                    fields={"reason": "bad_authenticator"}),
        RecordAudit(kind="accounting", utc=0, peer="nas", fields={"status": 1}),
    ])  # fmt: skip
    text = lma.render()
    base = 'daemon="lma",node="lma1"'
    assert _value(text, f'netlmm_pbu_total{{{base},role="lma",status="0"}}') == 2
    assert _value(text, f"netlmm_handovers_total{{{base}}}") == 2
    assert _value(text, f'netlmm_handover_route_switch_seconds_bucket{{{base},le="0.001"}}') == 1
    assert _value(text, f'netlmm_handover_route_switch_seconds_bucket{{{base},le="+Inf"}}') == 1
    assert "# TYPE netlmm_handover_route_switch_seconds histogram" in text
    text = mag2.render()
    base = 'daemon="mag",node="mag2"'
    assert _value(text, f'netlmm_pbu_total{{{base},role="mag",status="0"}}') == 1
    # event -> PBA took 4 ms: in the 5 ms bucket, not the 2 ms one.
    assert _value(text, f'netlmm_registration_latency_seconds_bucket{{{base},le="0.002"}}') == 0
    assert _value(text, f'netlmm_registration_latency_seconds_bucket{{{base},le="0.005"}}') == 1
    assert _value(text, f'netlmm_station_events_total{{{base},event="registered"}}') == 1
    assert _value(
        text,
        f'netlmm_accounting_requests_total{{{base},outcome="rejected",reason="bad_authenticator"}}',
    ) == 1
    assert _value(text, f"netlmm_ready{{{base}}}") == 0


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:9813") == ("127.0.0.1", 9813)
    assert parse_listen("[::1]:9813") == ("::1", 9813)
    assert parse_listen(":9813") == ("::", 9813)
    for bad in ("9813", "127.0.0.1:", "127.0.0.1:99999", "host:port"):
        with pytest.raises(ValueError):
            parse_listen(bad)


def test_endpoint_serves_metrics_and_readiness() -> None:
    async def scenario() -> tuple[bytes, bytes, bytes, bytes]:
        metrics = Metrics("mag", "mag1")
        metrics.callbacks["netlmm_bindings"] = lambda: 7
        server = await serve_metrics(metrics, "127.0.0.1:0")
        port = server.sockets[0].getsockname()[1]

        async def get(path: str) -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            data = await reader.read()
            writer.close()
            return data

        try:
            not_ready = await get("/ready")
            metrics.set_ready()
            return not_ready, await get("/ready"), await get("/metrics"), await get("/nope")
        finally:
            server.close()

    not_ready, ready, page, missing = asyncio.run(scenario())
    assert not_ready.startswith(b"HTTP/1.1 503") and ready.startswith(b"HTTP/1.1 200")
    assert page.startswith(b"HTTP/1.1 200") and b"text/plain; version=0.0.4" in page
    assert b'netlmm_bindings{daemon="mag",node="mag1"} 7' in page
    assert b'netlmm_ready{daemon="mag",node="mag1"} 1' in page
    assert missing.startswith(b"HTTP/1.1 404")
