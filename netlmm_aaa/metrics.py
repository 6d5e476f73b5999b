"""Prometheus metrics of a daemon, derived from the same audit records the SQL store gets (so
the two never disagree), served on ``GET /metrics`` (text exposition format 0.0.4).

The exposition is prometheus-client's: values at full precision (a counter of 12,345,678 is
exactly that, never rounded to six digits), the standard ``process_*`` and ``python_info``
series, ``netlmm_build_info`` with the version running, and the label-free counters present
at 0 from the start (``rate()`` needs the first sample)."""

from __future__ import annotations

import asyncio
import logging
import platform
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from typing import Any

from prometheus_client import (
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.metrics_core import Metric

from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.core.audit_kinds import AuditKind

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

_HELP = {
    "netlmm_build_info": ("gauge", "1, labelled with the netlmm-aaa version and Python running"),
    "netlmm_ready": ("gauge", "1 once the daemon has started and serves"),
    "netlmm_start_time_seconds": ("gauge", "Unix time the daemon started"),
    "netlmm_dataplane_info": (
        "gauge", "1, labelled with the tunnel backend and forwarding mode in use"),
    "netlmm_bindings": ("gauge", "LMA: binding cache entries; MAG: registered stations"),
    "netlmm_audit_records_total": ("counter", "audit records written, by kind"),
    "netlmm_pbu_total": ("counter", "PBU exchanges by role and PBA status"),
    "netlmm_pbu_retransmissions_total": ("counter", "PBU retransmissions by the MAG"),
    "netlmm_handovers_total": ("counter", "bindings moved between MAGs (LMA)"),
    "netlmm_accounting_requests_total": ("counter", "RADIUS Accounting-Requests by outcome"),
    "netlmm_station_events_total": ("counter", "station events at the MAG"),
    "netlmm_peer_up": ("gauge", "heartbeat state of a peer (1 reachable, 0 not)"),
    "netlmm_store_commits_total": ("counter", "audit store transactions committed"),
    "netlmm_upstream_backlog": ("gauge", "accepted accounting the upstream has not answered"),
    "netlmm_store_failures_total": ("counter", "audit store commits that failed (retried)"),
    "netlmm_handover_route_switch_seconds": (
        "histogram", "LMA: PBU taken to kernel routes moved, per handover"),
    "netlmm_registration_latency_seconds": (
        "histogram", "MAG: authenticated-station event to PBA received"),
    "netlmm_pbu_rtt_seconds": ("histogram", "MAG: PBU first sent to PBA received"),
}  # fmt: skip

_STATION_KINDS = {
    AuditKind.STATION_ATTACHED: "attached",
    AuditKind.STATION_DETACHED: "detached",
    AuditKind.STATION_REJECTED: "rejected",
    AuditKind.STATION_REGISTERED: "registered",
    AuditKind.STATION_DEREGISTERED: "deregistered",
    AuditKind.MAC_IDENTITY_CONFLICT: "conflict",
    AuditKind.PBU_UNANSWERED: "pbu_unanswered",
    AuditKind.BINDING_REVOKED: "revoked",
}

_ACCOUNTING_KINDS = (
    AuditKind.ACCOUNTING,
    AuditKind.ACCOUNTING_DUPLICATE,
    AuditKind.ACCOUNTING_REJECTED,
)


_ZERO_COUNTERS = ("netlmm_pbu_retransmissions_total", "netlmm_handovers_total")
"""Counters without labels, exported at 0 until they move."""


def _version() -> str:
    try:
        return metadata.version("netlmm-aaa")
    except metadata.PackageNotFoundError:  # run from a checkout without installing
        return "unknown"


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, seconds: float) -> None:
        for i, edge in enumerate(LATENCY_BUCKETS):
            if seconds <= edge:
                self.counts[i] += 1
                break
        else:
            self.counts[-1] += 1
        self.total += seconds
        self.n += 1


class Metrics:
    """Counters, gauges and histograms of one daemon (``role`` is ``lma`` or ``mag``)."""

    def __init__(self, role: str, node: str) -> None:
        self.role = role
        self.node = node
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self.gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.histograms: dict[str, _Histogram] = defaultdict(_Histogram)
        self.callbacks: dict[str, Callable[[], float]] = {}
        self._keys: dict[tuple[Any, ...], tuple[str, tuple[tuple[str, str], ...]]] = {}
        self.gauges[("netlmm_ready", ())] = 0
        self.gauges[("netlmm_start_time_seconds", ())] = time.time()
        build = (("python", platform.python_version()), ("version", _version()))
        self.gauges[("netlmm_build_info", build)] = 1
        for name in _ZERO_COUNTERS:
            self.counters[(name, ())] = 0
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Families(self))
        for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR):  # process_*, python_info
            self.registry.register(standard)

    def _inc(self, name: str, amount: float = 1, **labels: Any) -> None:
        # The counter's key (its labels sorted, as text) is made once per distinct call:
        # every audit record counts here, and building it each time was most of the cost.
        raw = (name, *labels.items())
        key = self._keys.get(raw)
        if key is None:
            key = self._keys[raw] = (name, tuple(sorted((k, str(v)) for k, v in labels.items())))
        self.counters[key] += amount

    def set_ready(self) -> None:
        self.gauges[("netlmm_ready", ())] = 1

    def set_dataplane(self, backend: str, mode: str) -> None:
        """Export which tunnel backend and forwarding mode the data plane runs."""
        self.gauges[("netlmm_dataplane_info", (("backend", backend), ("mode", mode)))] = 1

    def observe(self, records: Iterable[RecordAudit]) -> None:
        """Account for audit records (called with everything the daemon submits to its store)."""
        for record in records:
            kind, fields = record.kind, record.fields
            self._inc("netlmm_audit_records_total", kind=kind)
            if kind == AuditKind.PBU:
                self._inc("netlmm_pbu_total", role="lma", status=fields.get("status"))
            elif kind == AuditKind.PBA:
                self._inc("netlmm_pbu_total", role="mag", status=fields.get("status"))
                if fields.get("retransmissions"):
                    self._inc("netlmm_pbu_retransmissions_total", fields["retransmissions"])
                if fields.get("rtt_ms") is not None:
                    self.histograms["netlmm_pbu_rtt_seconds"].observe(fields["rtt_ms"] / 1000)
                if fields.get("event_to_ack_ms") is not None:
                    self.histograms["netlmm_registration_latency_seconds"].observe(
                        fields["event_to_ack_ms"] / 1000
                    )
            elif kind == AuditKind.HANDOVER:
                self._inc("netlmm_handovers_total")
                if fields.get("route_switch_ms") is not None:
                    self.histograms["netlmm_handover_route_switch_seconds"].observe(
                        fields["route_switch_ms"] / 1000
                    )
            elif kind in _ACCOUNTING_KINDS:
                outcome = {"accounting": "accepted", "accounting_duplicate": "duplicate"}.get(
                    kind, "rejected"
                )
                # rejections arrive aggregated: one record per origin/reason with a count
                self._inc("netlmm_accounting_requests_total", fields.get("count", 1),
                          outcome=outcome, reason=fields.get("reason") or "")  # fmt: skip
            elif kind in (AuditKind.PEER_REACHABLE, AuditKind.PEER_UNREACHABLE):
                self.gauges[("netlmm_peer_up", (("peer", str(record.peer)),))] = float(
                    kind == AuditKind.PEER_REACHABLE
                )
            if self.role == "mag" and kind in _STATION_KINDS:
                self._inc("netlmm_station_events_total", event=_STATION_KINDS[kind])

    def render(self) -> str:
        """The Prometheus text exposition."""
        for name, fn in self.callbacks.items():
            try:
                self.gauges[(name, ())] = float(fn())
            except Exception:  # a gauge callback must never break the endpoint
                log.exception("metrics: gauge %s", name)
        return generate_latest(self.registry).decode()


class _Families:
    """A prometheus-client collector over :class:`Metrics`' own tables."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        base = {"daemon": m.role, "node": m.node}
        families: dict[str, Metric] = {}

        def family(name: str) -> Metric:
            found = families.get(name)
            if found is None:
                kind, text = _HELP.get(name, ("untyped", name))
                stem = name[: -len("_total")] if kind == "counter" else name
                found = families[name] = Metric(stem, text, kind)
            return found

        for (name, extra), value in sorted(m.gauges.items()):
            family(name).add_sample(name, {**base, **dict(extra)}, value)
        for (name, extra), value in sorted(m.counters.items()):
            family(name).add_sample(name, {**base, **dict(extra)}, value)
        for name, h in sorted(m.histograms.items()):
            histogram = family(name)
            cumulative = 0
            for edge, count in zip((*LATENCY_BUCKETS, "+Inf"), h.counts, strict=True):
                cumulative += count
                le = edge if isinstance(edge, str) else f"{edge:g}"
                histogram.add_sample(f"{name}_bucket", {**base, "le": le}, cumulative)
            histogram.add_sample(f"{name}_sum", base, h.total)
            histogram.add_sample(f"{name}_count", base, h.n)
        for name in sorted(families):
            yield families[name]


def parse_listen(value: str) -> tuple[str, int]:
    """``127.0.0.1:9813``, ``[::1]:9813`` or ``:9813`` (all addresses) -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    host = host.strip("[]") or "::"
    return host, int(port)


async def serve_metrics(metrics: Metrics, listen: str) -> asyncio.AbstractServer:
    """Serve ``GET /metrics`` (and ``GET /ready``: 200 once ready, else 503)."""
    host, port = parse_listen(listen)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            line = request.split(b"\r\n", 1)[0].decode("latin-1").split()
            path = line[1] if len(line) >= 2 else ""
            if line[:1] != ["GET"]:
                status, body = "405 Method Not Allowed", "GET only\n"
            elif path == "/metrics":
                status, body = "200 OK", metrics.render()
            elif path == "/ready":
                ready = metrics.gauges[("netlmm_ready", ())] == 1
                status, body = ("200 OK", "ready\n") if ready else ("503 Unavailable", "starting\n")
            else:
                status, body = "404 Not Found", "try /metrics\n"
            data = body.encode()
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                + data
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
