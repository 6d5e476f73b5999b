"""Benchmark: the audit store at scale, on SQLite and PostgreSQL, in one run.

    python bench/reports.py --rows 10000000 [--databases sqlite,postgresql] [--mobile-nodes 20000]

Fills an empty store with ``--rows`` records shaped like a month of a busy site (``--mags`` MAGs
with ``--aps-per-mag`` APs each, ``--mobile-nodes`` nodes moving between them): per handover the
new MAG's accounting Start, interim update, station attached/registered and PBU exchange, the
LMA's PBU, handover and RFC 5846 revocation, the old MAG's revocation and accounting Stop, plus
retransmitted and forged accounting now and then. Records go through the daemons' own
``SqlStore`` (one per node, group commits; ``fill_rows_per_s``). ``insert_rows_per_s_fresh`` and
``insert_rows_per_s``: what one daemon's store sustains (500,000 records of all kinds submitted
in batches of 20,000, committed by its writer process as in the daemons) on the fresh database
and again on the filled one (at rest: analysed and checkpointed), against the database's raw
bulk insert (DBAPI ``executemany`` of rows of the same shape into a bare table, no indexes) in
the same run. Each is the median of ``--insert-samples`` such samples (one sample moves by a
fifth between runs on a noisy machine); the samples are in ``*_samples``. Records are written
in time order as the daemons write them: the samples continue one synthetic timeline and the
filled month lies before it.

Then it times every report command — ``report handovers`` (every handover of the month:
percentiles overall, per MAG pair, per hour, against its baseline, one plain scan of the
handover rows), ``trail`` (the busiest node), ``aps``, ``security``, ``signaling`` and the
``html`` document (all of them in one) — medians of ``--repeats`` runs. Targets: every report
<= 2 s at 10M rows (``met`` is false when one is over, or skipped with
``--skip-other-reports``), inserts >= 50,000 rows/s. PostgreSQL runs on a private server the
bench starts (root). Final line: JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from netlmm_aaa.core.actions import RecordAudit  # noqa: E402
from netlmm_aaa.persistence import migrate  # noqa: E402
from netlmm_aaa.persistence.database import make_engine  # noqa: E402
from netlmm_aaa.persistence.sample_site import FOLLOW_UP, Site, fill  # noqa: E402
from netlmm_aaa.persistence.store import SqlStore  # noqa: E402
from netlmm_aaa.reports.html import build  # noqa: E402
from netlmm_aaa.reports.queries import Reports  # noqa: E402
from testbed.netns import unwind_on_sigterm  # noqa: E402


def store_insert_rate(url: str, site: Site, rows: int, batch: int = 20_000) -> float:
    """Rows/s one daemon's store sustains on the filled database: realistic records of all
    kinds (one node's view), submitted in group-commit sized batches, until all committed."""
    records: list[RecordAudit] = []
    t = site.clock
    while len(records) < rows:
        for node_records in site.move(t).values():
            records.extend(node_records)
        t += 0.05
    site.clock = t + FOLLOW_UP + 1.0  # after the last record's interim update
    engine = make_engine(url)
    store = SqlStore(engine, "mag-bench", process=True, lma=True)  # as the daemons run it
    # A daemon starts its writer process once; its start-up (a fresh interpreter importing
    # SQLAlchemy, ~1.5 s) is not part of the rate it sustains.
    store.flush(60)
    began = time.perf_counter()
    futures = [store.submit(audit=records[i : i + batch]) for i in range(0, rows, batch)]
    for f in futures:
        f.result(600)
    seconds = time.perf_counter() - began
    store.close()
    engine.dispose()
    return min(rows, len(records)) / seconds


def raw_insert_rate(url: str, rows: int) -> float:
    """Rows/s of the database's plain DBAPI executemany into a bare table (the baseline)."""
    engine = make_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    data = [(f"2026-11-01 10:00:{i % 60:02d}.000000", "mag1", "station_registered",
             f"user{i:06d}@corp.example", "02:00:00:00:00:01", "acc0", "02:aa:00:00:00:01",
             "Corp", "2001:db8::/64", "10.0.0.1", None) for i in range(rows)]  # fmt: skip
    with engine.begin() as c:
        c.exec_driver_sql(
            "CREATE TABLE bench_raw (at TEXT, node TEXT, event TEXT, mn_id TEXT, mac TEXT,"
            " interface TEXT, ap TEXT, ssid TEXT, prefixes TEXT, ipv4 TEXT, reason TEXT)"
        )
    began = time.perf_counter()
    for i in range(0, rows, 50_000):
        with engine.begin() as c:
            c.exec_driver_sql(
                f"INSERT INTO bench_raw VALUES ({', '.join([mark] * 11)})", data[i : i + 50_000]
            )
    seconds = time.perf_counter() - began
    with engine.begin() as c:
        c.exec_driver_sql("DROP TABLE bench_raw")
    engine.dispose()
    return rows / seconds


def timed(fn: Any, repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    migrate.upgrade(url)
    site = Site(args.mobile_nodes, args.mags, args.aps_per_mag)
    # One daemon's store on a fresh database first (these records stay, part of the N).
    samples = max(1, args.insert_samples)
    insert_rows = min(args.rows // samples, 500_000)
    fresh_rates = [store_insert_rate(url, site, insert_rows) for _ in range(samples)]
    filled = fill(url, args.rows - insert_rows * samples, site, args.days, not args.quiet)
    engine = make_engine(url)
    # The month of records is at rest before anything is timed, as a store that old would be:
    # statistics gathered and the bulk fill's write-ahead log checkpointed (otherwise the
    # first writer after it pays for copying the fill's pages back into the database).
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")
            c.exec_driver_sql("CHECKPOINT")
    else:
        with engine.begin() as c:
            c.exec_driver_sql("ANALYZE")
        with engine.connect() as c:
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").all()
    reports = Reports(engine)
    mn = site.nodes[max(range(len(site.nodes)), key=site.moves.__getitem__)]
    handovers_s, tables = timed(reports.handovers, args.repeats)

    def scan() -> Any:  # the baseline: reading the handover rows once, no percentiles
        with engine.connect() as c:
            return c.exec_driver_sql("SELECT COUNT(*), SUM(route_switch_ms) FROM handovers").all()

    scan_s, _ = timed(scan, args.repeats)
    trail_s, trail = timed(lambda: reports.trail(mn), args.repeats)
    extra = {}
    if not args.skip_other_reports:
        for name in ("aps", "security", "signaling"):
            extra[f"{name}_report_s"] = round(timed(getattr(reports, name), args.repeats)[0], 3)
        url_text = engine.url.render_as_string(hide_password=True)
        extra["html_report_s"] = round(timed(lambda: build(reports, url_text), args.repeats)[0], 3)
    engine.dispose()
    # Again on the filled database, after the reports (its records would add to what they read).
    # Each sample of the store is followed by one of the raw baseline, so both see the same
    # phase of a noisy machine.
    rates, baselines = [], []
    for _ in range(samples):
        rates.append(store_insert_rate(url, site, insert_rows))
        baselines.append(raw_insert_rate(url, insert_rows))
    rate, baseline = statistics.median(rates), statistics.median(baselines)
    return {
        "rows": filled["rows"] + insert_rows * samples,
        "handovers": tables[0].rows[0][0],
        "fill_rows_per_s": round(filled["rows"] / filled["store_seconds"]),
        "insert_rows_per_s_fresh": round(statistics.median(fresh_rates)),
        "insert_rows_per_s": round(rate),
        "raw_insert_rows_per_s": round(baseline),
        "insert_ratio": round(rate / baseline, 3),
        "insert_rows_per_s_fresh_samples": [round(r) for r in fresh_rates],
        "insert_rows_per_s_samples": [round(r) for r in rates],
        "raw_insert_rows_per_s_samples": [round(r) for r in baselines],
        "handovers_report_s": round(handovers_s, 3),
        "handovers_scan_s": round(scan_s, 3),
        "handovers_report_vs_scan": round(handovers_s / scan_s, 3) if scan_s else None,
        "trail_report_s": round(trail_s, 3),
        "trail_rows": len(trail[0].rows),
        "handover_p50_ms": tables[0].rows[0][1],
        **extra,
    }


@contextlib.contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="netlmm-bench-") as tmp:
            yield f"sqlite:///{tmp}/audit.db"
        return
    from testbed.postgresql import create_database, private_server

    with private_server(settings=("shared_buffers=512MB", "work_mem=64MB")) as base:
        yield create_database(base, "bench")


def main() -> None:
    # SIGTERM unwinds like Ctrl-C, so the private PostgreSQL server and files are removed.
    unwind_on_sigterm()  # forked pyroute2 helpers must not run our clean-up
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--mobile-nodes", type=int, default=20_000)
    parser.add_argument("--mags", type=int, default=50)
    parser.add_argument("--aps-per-mag", type=int, default=4)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--insert-samples",
        type=int,
        default=3,
        help="samples of 500,000 records per insert figure (median reported)",
    )
    parser.add_argument("--skip-other-reports", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"bench": "reports", "rows_requested": args.rows}
    for kind in args.databases.split(","):
        print(f"{kind}: filling {args.rows:,} rows ...", file=sys.stderr, flush=True)
        with database(kind) as url:
            result[kind] = measure(url, args)
        print(f"{kind}: {result[kind]}", file=sys.stderr, flush=True)
    result["targets"] = {"report_s": 2.0, "insert_rows_per_s": 50_000}
    result["met"] = all(
        all(v <= 2.0 for k, v in r.items() if k.endswith("_report_s"))
        and min(r["insert_rows_per_s"], r["insert_rows_per_s_fresh"]) >= 50_000
        for k, r in result.items() if isinstance(r, dict) and "rows" in r
    ) and not args.skip_other_reports  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
