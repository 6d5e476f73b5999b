"""One self-contained HTML report (no external files or scripts): summary figures, a handover
latency histogram, handovers over time, load per access point, security and signaling tables.
Charts are inline SVG, so any browser (or a mail client) shows them."""

from __future__ import annotations

import html
import math
from collections import Counter
from datetime import UTC, datetime

from netlmm_aaa.reports.queries import Histogram, Reports, Table

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#1d2630}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:2em}
.meta{color:#5b6875} .cards{display:flex;gap:1em;flex-wrap:wrap}
.card{border:1px solid #d5dde5;border-radius:6px;padding:.6em 1em;min-width:9em}
.card b{display:block;font-size:1.5em} table{border-collapse:collapse;margin:.5em 0}
td,th{border-bottom:1px solid #e3e8ee;padding:.25em .7em;text-align:left}
th{background:#f3f6f9} svg text{font:11px system-ui,sans-serif;fill:#334}
.bar{fill:#2f74c0} .bar2{fill:#3a9d6e} .axis{stroke:#8895a2}
"""

# Marks the page as rendered once every chart has a laid-out size (a headless browser test
# reads the attribute from the DOM).
_CHECK = """
<script>
window.addEventListener('load', function () {
  var charts = document.querySelectorAll('svg.chart'), ok = charts.length > 0;
  charts.forEach(function (s) {
    var b = s.getBBox();
    if (!(b.width > 0 && b.height > 0)) ok = false;
  });
  document.body.setAttribute('data-rendered', ok ? 'ok' : 'failed');
});
</script>
"""


def _bars(
    title: str, labels: list[str], values: list[float], *, css: str = "bar", unit: str = ""
) -> str:
    """A vertical bar chart as inline SVG."""
    width, height, left, bottom, top = 900, 300, 50, 100, 20
    if not values:
        return f'<p class="meta">{html.escape(title)}: no data in this range.</p>'
    peak = max(values) or 1
    step = (width - left - 10) / len(values)
    parts = [
        f'<svg class="chart" role="img" aria-label="{html.escape(title)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">',
        f'<line class="axis" x1="{left}" y1="{height - bottom}" x2="{width - 10}" '
        f'y2="{height - bottom}"/>',
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}"/>',
        f'<text x="4" y="{top + 4}">{_short(peak)}{unit}</text>',
        f'<text x="4" y="{height - bottom}">0</text>',
    ]
    label_every = max(1, math.ceil(len(values) / 20))
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = (height - bottom - top) * value / peak
        x = left + i * step + 1
        parts.append(
            f'<rect class="{css}" x="{x:.1f}" y="{height - bottom - h:.1f}" '
            f'width="{max(step - 2, 1):.1f}" height="{h:.1f}">'
            f"<title>{html.escape(label)}: {_short(value)}{unit}</title></rect>"
        )
        if i % label_every == 0:
            parts.append(
                f'<text transform="translate({x + step / 2:.1f},{height - bottom + 12}) '
                f'rotate(35)">{html.escape(label[:24])}</text>'
            )
    parts.append("</svg>")
    return "\n".join(parts)


def _short(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape('-' if v is None else str(v))}</td>" for v in row)
        + "</tr>"
        for row in t.rows
    )
    empty = "" if t.rows else f'<tr><td colspan="{len(t.columns)}">none</td></tr>'
    return f"<table><tr>{head}</tr>{body}{empty}</table>"


def latency_bins(histogram: Histogram, bins: int = 30) -> tuple[list[str], list[float]]:
    """About ``bins`` bars (labels: lower edge in ms) up to the p99, and one for the rest."""
    if not histogram.buckets:
        return [], []
    top = histogram.percentile(0.99) or 0.1
    width = max(1, math.ceil(top * 10 / bins))  # in 0.1 ms buckets
    counts: Counter[int] = Counter()
    last = math.ceil(top * 10 / width)
    for bucket, count in histogram.buckets.items():
        counts[min(bucket // width, last)] += count
    labels = [f"{i * width / 10:.1f}" for i in range(last)] + [f">={last * width / 10:.1f}"]
    return labels, [float(counts.get(i, 0)) for i in range(last + 1)]


def build(reports: Reports, database: str) -> str:
    """The whole report as one HTML document."""
    latency = reports.latency()  # read once: the handover tables and the histogram share it
    overall, by_pair, by_hour, by_mag = reports.handovers(latency)
    security = reports.security()
    signaling = reports.signaling()
    aps = reports.aps()[0]
    count = overall.rows[0][0]
    measured, histogram = reports.registration_histogram(latency)
    _, p50, p90, p99, worst = histogram.summary()
    hours = [r[0] for r in by_hour.rows]
    latency_labels, latency_counts = latency_bins(histogram)
    ap_rows = sorted(aps.rows, key=lambda r: -r[3])[:40]
    window = reports.window
    span = (
        f"{window.since:%Y-%m-%d %H:%M} UTC" if window.since else "the beginning",
        f"{window.until:%Y-%m-%d %H:%M} UTC" if window.until else "now",
    )
    rejected = sum(r[3] for r in security[0].rows)
    cards = [
        ("handovers", count),
        ("latency p50", f"{p50} ms" if p50 is not None else "-"),
        ("latency p99", f"{p99} ms" if p99 is not None else "-"),
        ("access points", len(aps.rows)),
        ("rejected events", rejected),
        ("MN mobility messages", signaling[0].rows[0][3]),
    ]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>netlmm-aaa report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>netlmm-aaa: mobility report</h1>",
        f'<p class="meta">From {span[0]} to {span[1]} · database {html.escape(database)} · '
        f"generated {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC</p>",
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{html.escape(str(v))}</b>{k}</div>' for k, v in cards)
        + "</div>",
        f"<h2>Handover latency ({measured}, ms)</h2>",
        f'<p class="meta">p50 {p50} · p90 {p90} · p99 {p99} · max {worst} ms; '
        "RFC 4831 voice budget for the whole handover: 70 ms.</p>",
        _bars("handover latency histogram", latency_labels, latency_counts),
        "<h2>Handovers over time (per hour, UTC)</h2>",
        _bars("handovers per hour", hours, [float(r[1]) for r in by_hour.rows], css="bar2"),
        "<h2>Load per access point (attachments)</h2>",
        _bars(
            "attachments per access point",
            [f"{r[0]} {r[1]}" for r in ap_rows],
            [float(r[3]) for r in ap_rows],
        ),
        _table(aps),
        "<h2>Handovers per MAG pair</h2>",
        _table(by_pair),
        "<h2>Registration latency per MAG</h2>",
        _table(by_mag),
        "<h2>Security</h2>",
        _table(security[0]),
        _table(security[1]),
        *(_table(t) for t in security[2:]),
        "<h2>Signaling</h2>",
        _table(signaling[0]),
        _table(signaling[1]),
        _CHECK,
        "</body></html>",
    ]
    return "\n".join(out)
