"""Prometheus metrics: derived from audit records, exposition format, the HTTP endpoint."""

from __future__ import annotations

import asyncio
import re

import pytest

from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.metrics import Metrics, parse_listen, serve_metrics
from tests.mag_lma_pair import make_pair
from tests.metrics_text import sample


def _value(text: str, series: str) -> float:
    """``name{label="value",...}``: its sample, read by prometheus-client's parser."""
    name, _, rest = series.partition("{")
    labels = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    value = sample(text, name, **labels)
    assert value is not None, f"{series} missing from:\n{text}"
    return value


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
    text = page.split(b"\r\n\r\n", 1)[1].decode()
    assert sample(text, "netlmm_bindings", daemon="mag", node="mag1") == 7
    assert sample(text, "netlmm_ready", daemon="mag", node="mag1") == 1
    assert missing.startswith(b"HTTP/1.1 404")


def test_full_precision_process_series_build_info_and_zero_counters() -> None:
    """Issue 24 (6): 12,345,678 survives exactly (six significant digits did not); the
    process and build-information series are there; label-free counters start at 0."""
    metrics = Metrics("lma", "lma1")
    text = metrics.render()
    assert sample(text, "netlmm_handovers_total", daemon="lma") == 0
    assert sample(text, "process_cpu_seconds_total") is not None
    assert sample(text, "python_info") == 1
    assert sample(text, "netlmm_build_info", daemon="lma") == 1
    metrics._inc("netlmm_handovers_total", 12_345_677)
    metrics.callbacks["netlmm_store_commits_total"] = lambda: 98_765_432
    text = metrics.render()
    assert sample(text, "netlmm_handovers_total", daemon="lma") == 12_345_677
    assert sample(text, "netlmm_store_commits_total", daemon="lma") == 98_765_432
    started = sample(text, "netlmm_start_time_seconds", daemon="lma")
    assert started == metrics.gauges[("netlmm_start_time_seconds", ())]  # not rounded to 1.4 h


def test_the_shipped_alert_rules_name_only_series_the_daemons_export() -> None:
    """deploy/prometheus/netlmm-alerts.yml: every netlmm_* series it uses exists."""
    from netlmm_aaa.metrics import _HELP
    from tests.conftest import REPO

    rules = (REPO / "deploy" / "prometheus" / "netlmm-alerts.yml").read_text()
    used = set(re.findall(r"\b(netlmm_[a-z0-9_]+?)(?:_bucket)?\b", rules))
    assert used and used <= set(_HELP), used - set(_HELP)
