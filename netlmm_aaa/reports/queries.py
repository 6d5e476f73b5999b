"""The report queries. Each returns :class:`Table` objects; they read the typed report tables
and the views of migration 0003 (documented in ``docs/sql-reports.md``).

Latency percentiles use the nearest-rank method over the handovers in the time range.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from netlmm_aaa.durations import parse_duration
from netlmm_aaa.persistence import migrate
from netlmm_aaa.persistence.database import make_engine
from netlmm_aaa.persistence.models import (
    AP_KEY_SQL,
    REFUSED_STATION_SQL,
    SSID_KEY_SQL,
    TRAIL_EVENTS_SQL,
)


class ReportError(Exception):
    """A report cannot run: bad argument, unreachable database, schema too old. The message
    says what to do."""


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[tuple[Any, ...]] = field(default_factory=list)


Latency: TypeAlias = dict[str, dict[tuple[Any, ...], "Histogram"]]
""":meth:`Reports.latency`'s histograms by name, then by key."""


@dataclass(frozen=True)
class Window:
    """The time range of a report (UTC, either end open)."""

    since: datetime | None = None
    until: datetime | None = None


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """``2026-11-27``, ``2026-11-27T10:30``, ``2026-11-27 10:30:00+01:00`` (naive = UTC), or a
    duration back from now: ``90m``, ``24h``, ``7d``."""
    now = now or datetime.now(UTC)
    value = text.strip()
    back = parse_duration(value)
    if back is not None:
        return now - back
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(
            f"cannot read the time {text!r}: use ISO 8601 (2026-11-27, 2026-11-27T10:30) "
            "or a duration back from now (90m, 24h, 7d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def open_database(url: str) -> Engine:
    """An engine on a reachable database whose schema matches the code, else ReportError."""
    try:
        engine = make_engine(url)
    except Exception as exc:  # bad URL, missing driver
        raise ReportError(f"cannot use database URL {url!r}: {exc}") from None
    shown = engine.url.render_as_string(hide_password=True)
    try:
        current, revision, head = migrate.schema_is_current(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(exc.__cause__ or exc).strip().splitlines()[0]
        raise ReportError(f"cannot reach database {shown}: {reason}") from None
    if not current:
        engine.dispose()
        if revision is None:
            raise ReportError(
                f"database {shown} has no netlmm-aaa schema: "
                f"run `netlmm-aaa db upgrade --db {shown}` (or point --db at the daemons' store)"
            )
        raise ReportError(
            f"database {shown} schema is at revision {revision}, this code needs {head}: "
            f"run `netlmm-aaa db upgrade --db {shown}`"
        )
    return engine


class Reports:
    """The reports over one database."""

    def __init__(self, engine: Engine, window: Window = Window()) -> None:
        self.engine = engine
        self.window = window
        self.sqlite = engine.dialect.name == "sqlite"

    # ------------------------------------------------------------------ helpers

    def _bound(self, moment: datetime) -> Any:
        # SQLite keeps times as naive-UTC text, compared as text; PostgreSQL as timestamptz.
        if self.sqlite:
            return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return moment

    def _range(self, column: str = "at") -> tuple[str, dict[str, Any]]:
        clauses, params = [], {}
        if self.window.since is not None:
            clauses.append(f"{column} >= :since")
            params["since"] = self._bound(self.window.since)
        if self.window.until is not None:
            clauses.append(f"{column} < :until")
            params["until"] = self._bound(self.window.until)
        return (" AND ".join(clauses) or "1 = 1"), params

    def _hour(self, column: str) -> str:
        if self.sqlite:
            return f"substr({column}, 1, 13)"
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')"

    def _rows(self, sql: str, params: dict[str, Any]) -> list[Any]:
        from sqlalchemy import text

        with self.engine.connect() as connection:
            return list(connection.execute(text(sql), params))

    def _plain_rows(self, sql: str, params: dict[str, Any]) -> Sequence[Any]:
        """Like :meth:`_rows`, as the driver returns them: no type processing (text and
        numbers only; times would stay the driver's), a third of the cost per row."""
        from sqlalchemy import text

        with self.engine.connect() as connection:
            return connection.execute(text(sql), params).cursor.fetchall()

    @staticmethod
    def _time(value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(UTC)
            shown: str = value.strftime("%Y-%m-%d %H:%M:%S.%f")
            return shown[:23]
        return str(value)[:23]

    # ------------------------------------------------------------------ trail

    def trail(self, mn_id: str) -> list[Table]:
        """Where ``mn_id`` was: MAG/AP/SSID, prefix, from/until, and what ended each stay."""
        where, params = self._range()
        params["mn_id"] = mn_id
        rows = self._rows(
            "SELECT at, event, node, COALESCE(ap, interface), ssid, mac, prefixes,"
            " ipv4_home_address FROM station_events"
            f" WHERE mn_id = :mn_id AND {TRAIL_EVENTS_SQL} AND {where} ORDER BY at, id",
            params,
        )
        table = Table(
            f"Location trail of {mn_id}",
            ["mag", "ap", "ssid", "mac", "prefix", "ipv4", "from", "until", "ended_by"],
        )
        open_row: list[Any] | None = None
        for at, event, node, ap, ssid, mac, prefixes, ipv4 in rows:
            # A registration anywhere ends the current stay; a detachment, revocation or lost
            # binding ends it only at the MAG where the node was.
            ends = event == "registered" or (open_row is not None and node == open_row[0])
            if open_row is not None and ends:
                open_row[7] = self._time(at)
                open_row[8] = f"{event} at {node}" if event != "registered" else f"move to {node}"
                table.rows.append(tuple(open_row))
                open_row = None
            if event == "registered":
                open_row = [node, ap, ssid, mac, prefixes, ipv4, self._time(at), None, None]
        if open_row is not None:
            table.rows.append(tuple(open_row))
        return [table]

    # ------------------------------------------------------------------ handovers

    def _pieces(
        self, unit: timedelta
    ) -> tuple[tuple[str | None, str | None] | None, list[tuple[Any, Any]]]:
        """How to cover the window: whole periods (``unit``: an hour or a day, UTC) from
        ``report_rollup`` (period-key bounds, high end exclusive), and the raw rows of the partial
        periods at its edges."""
        since, until = self.window.since, self.window.until
        low = _ceil(since, unit) if since is not None else None
        high = _floor(until, unit) if until is not None else None
        if low is not None and high is not None and low >= high:
            return None, [(since, until)]  # inside one period (or two partial ones): raw only
        raw = []
        if since is not None and low is not None and since < low:
            raw.append((since, low))
        if until is not None and high is not None and high < until:
            raw.append((high, until))
        form = "%Y-%m-%d %H" if unit == _HOUR else "%Y-%m-%d"
        keys = (
            low.strftime(form) if low is not None else None,
            high.strftime(form) if high is not None else None,
        )
        return keys, raw

    def _between(
        self, low: Any, high: Any, column: str = "at", name: str = ""
    ) -> tuple[str, dict[str, Any]]:
        """``column`` in [low, high) (either end open), its bounds as parameters ``:low`` and
        ``:high`` (prefixed by ``name``, for several ranges in one query)."""
        clauses, params = [], {}
        if low is not None:
            clauses.append(f"{column} >= :{name}low")
            params[f"{name}low"] = self._bound(low)
        if high is not None:
            clauses.append(f"{column} < :{name}high")
            params[f"{name}high"] = self._bound(high)
        return (" AND ".join(clauses) or "1 = 1"), params

    @staticmethod
    def _period_range(
        column: str, periods: tuple[str | None, str | None], params: dict[str, Any]
    ) -> list[str]:
        """Conditions on a period-key ``column`` in [low, high) (either end open); the keys go
        into ``params``."""
        clauses = []
        if periods[0] is not None:
            clauses.append(f"{column} >= :p_low")
            params["p_low"] = periods[0]
        if periods[1] is not None:
            clauses.append(f"{column} < :p_high")
            params["p_high"] = periods[1]
        return clauses

    def _rollup(
        self,
        metrics: tuple[str, ...],
        periods: tuple[str | None, str | None],
        *,
        by_period: bool = False,
    ) -> list[Any]:
        """Rollup rows (period, metric, key1, key2, bucket, n, total, maximum) in the period
        range; summed over the periods (period '') unless ``by_period``."""
        params: dict[str, Any] = {}
        clauses = [
            "metric IN (" + ", ".join(f"'{m}'" for m in metrics) + ")",
            *self._period_range("period", periods, params),
        ]
        where = " AND ".join(clauses)
        if by_period:
            return self._rows(
                "SELECT period, metric, key1, key2, bucket, n, total, maximum FROM report_rollup"
                f" WHERE {where}",
                params,
            )
        return self._rows(
            "SELECT '', metric, key1, key2, bucket, CAST(SUM(n) AS BIGINT), SUM(total),"
            f" MAX(maximum) FROM report_rollup WHERE {where} GROUP BY metric, key1, key2, bucket",
            params,
        )

    def _raw_histograms(
        self,
        low: Any,
        high: Any,
        keys: str,
        value: str,
        table: str,
        condition: str = "1 = 1",
        per_ms: int = 10,
    ) -> list[Any]:
        """(*keys, bucket, count, max) of raw rows in [low, high), aggregated in SQL."""
        where, params = self._between(low, high)
        bucket = f"CAST({value} * {per_ms} + 0.5 AS INTEGER)"
        return self._rows(
            f"SELECT {keys}, {bucket}, COUNT(*), MAX({value})"
            f" FROM {table} WHERE {condition} AND {where} GROUP BY {keys}, {bucket}",
            params,
        )

    def latency(self) -> Latency:
        """Histograms over the window: ``hours`` (hour,) of the LMA's route switch (0.1 ms),
        ``pairs`` (from, to) of the same in 1 ms buckets, ``mags`` (mag,) of the event -> PBA
        latency and ``rtts`` (mag,) of PBU -> PBA (0.1 ms)."""
        out: Latency = {
            "hours": defaultdict(Histogram),
            "pairs": defaultdict(lambda: Histogram(1)),
            "mags": defaultdict(Histogram),
            "rtts": defaultdict(Histogram),
        }
        periods, raw = self._pieces(_HOUR)
        if periods is not None:
            for hour, _m, _k1, _k2, bucket, n, _t, worst in self._rollup(
                ("route_switch",), periods, by_period=True
            ):
                out["hours"][(hour,)].add(bucket if bucket >= 0 else None, n, worst)
        for low, high in raw:
            for hour, bucket, n, worst in self._raw_histograms(
                low, high, self._hour("at"), "route_switch_ms", "handovers"
            ):
                out["hours"][(hour,)].add(bucket, n, worst)
        periods, raw = self._pieces(_DAY)
        if periods is not None:
            rows = self._rollup(("pair", "registration", "pbu_rtt"), periods)
            for _day, metric, key1, key2, bucket, n, _total, worst in rows:
                b = bucket if bucket >= 0 else None
                if metric == "pair":
                    out["pairs"][(key1, key2)].add(b, n, worst)
                else:
                    out["mags" if metric == "registration" else "rtts"][(key1,)].add(b, n, worst)
        sent = "message = 'PBU' AND direction = 'sent' AND status < 128"
        for low, high in raw:
            for a, b, bucket, n, worst in self._raw_histograms(
                low, high, "from_mag, to_mag", "route_switch_ms", "handovers", per_ms=1
            ):
                out["pairs"][(a, b)].add(bucket, n, worst)
            for name, column in (("mags", "event_to_ack_ms"), ("rtts", "rtt_ms")):
                for mag, bucket, n, worst in self._raw_histograms(
                    low, high, "node", column, "signaling", sent
                ):
                    out[name][(mag,)].add(bucket, n, worst)
        return out

    def handovers(self, data: Latency | None = None) -> list[Table]:
        """Handovers (the LMA's record: count and its route-switch time) overall, per MAG pair and
        per hour, and the registration latency the MAGs measured (authenticated event -> PBA).
        Whole hours come from the hourly rollup, the partial hours at the window's edges from
        the rows; ``data``: :meth:`latency`'s result when the caller has it already."""
        data = self.latency() if data is None else data
        pairs, hours, at_mags, rtts = data["pairs"], data["hours"], data["mags"], data["rtts"]
        overall_switch = Histogram.merged(hours.values())
        overall_mag = Histogram.merged(at_mags.values())
        overall_rtt = Histogram.merged(rtts.values())
        columns = ["handovers", "p50_ms", "p90_ms", "p99_ms", "max_ms"]
        overall = Table(
            "Handovers",
            ["handovers", "registration_p50_ms", "registration_p90_ms", "registration_p99_ms",
             "registration_max_ms", "pbu_to_pba_p50_ms", "route_switch_p50_ms",
             "route_switch_p99_ms"],
        )  # fmt: skip
        overall.rows.append(
            (
                overall_switch.count,
                *overall_mag.summary()[1:],
                overall_rtt.percentile(0.5),
                overall_switch.percentile(0.5),
                overall_switch.percentile(0.99),
            )
        )
        by_pair = Table("Handovers per MAG pair (route switch at the LMA, 1 ms resolution)",
                        ["from_mag", "to_mag", *columns])  # fmt: skip
        by_pair.rows = [(*k, *h.summary()) for k, h in sorted(pairs.items())]
        by_hour = Table("Handovers per hour (UTC; route switch at the LMA)", ["hour", *columns])
        by_hour.rows = [(f"{k[0]}:00", *h.summary()) for k, h in sorted(hours.items())]
        by_mag = Table(
            "Registration latency at each MAG (authenticated event -> PBA)",
            ["mag", "registrations", "p50_ms", "p90_ms", "p99_ms", "max_ms", "pbu_to_pba_p50_ms"],
        )
        by_mag.rows = [
            (k[0], *h.summary(), rtts[k].percentile(0.5) if k in rtts else None)
            for k, h in sorted(at_mags.items())
        ]
        return [overall, by_pair, by_hour, by_mag]

    def registration_histogram(self, data: Latency | None = None) -> tuple[str, Histogram]:
        """The histogram the HTML report draws: the MAGs' event -> PBA latency when recorded,
        else the LMA's route-switch time (``data`` as for :meth:`handovers`)."""
        data = self.latency() if data is None else data
        at_mags = Histogram.merged(data["mags"].values())
        if at_mags.count:
            return "authenticated event at the MAG to PBA", at_mags
        return "PBU received to routes switched at the LMA", Histogram.merged(
            data["hours"].values()
        )

    # ------------------------------------------------------------------ aps

    def aps(self) -> list[Table]:
        """Per AP (and MAG): registrations, handovers in and out, distinct MNs.

        A handover into an AP is a registration there of a node whose previous registration
        (in the window or before it) was at another AP, and a handover out of that one. Whole
        UTC days come from ``report_ap_rollup``, the partial days at the window's edges from
        the registrations."""
        periods, raw = self._pieces(_DAY)
        if periods is None:
            stats = self._ap_rows(self.window.since, self.window.until)
        else:
            stats = self._ap_days(periods, raw)
        table = Table(
            "Load per access point",
            ["mag", "ap", "ssid", "attachments", "handovers_in", "handovers_out", "mobile_nodes"],
        )
        table.rows = [(node, ap, ssid or None, *e) for (node, ap, ssid), e in sorted(stats.items())]
        return [table]

    def _ap_days(
        self, periods: tuple[str | None, str | None], raw: list[tuple[Any, Any]]
    ) -> dict[tuple[Any, ...], list[int]]:
        """Whole days from the rollup, the edges from the rows. A node counts once at an AP:
        at its first registration there in the window, the one whose previous visit to that
        AP was before the window's start (or never)."""
        since, until = self.window.since, self.window.until
        low = _ceil(since, _DAY) if since is not None else None
        high = _floor(until, _DAY) if until is not None else None
        # Rollup rows count a node when its previous visit was on a day before ``cut``; those
        # whose previous visit was on the start's own (partial) day are counted below.
        cut = "" if since is None else _floor(since, _DAY).strftime("%Y-%m-%d")
        params: dict[str, Any] = {"cut": cut}
        days = self._period_range("day", periods, params)
        rows = self._plain_rows(
            "SELECT node, ap, ssid, SUM(attachments), SUM(handovers_in), SUM(handovers_out),"
            " SUM(CASE WHEN since = '' OR since < :cut THEN attachments ELSE 0 END)"
            f" FROM report_ap_rollup WHERE {' AND '.join(days) or '1 = 1'}"
            " GROUP BY node, ap, ssid",
            params,
        )
        stats = {(node, ap, ssid): [int(v) for v in values] for node, ap, ssid, *values in rows}
        zero = [0, 0, 0, 0]
        for lo, hi in raw:
            edge = self._ap_rows(lo, hi)
            for key, (attachments, into, out, nodes) in edge.items():
                entry = stats.setdefault(key, list(zero))
                entry[0] += attachments
                entry[1] += into
                entry[2] += out
                if lo == since:  # the first edge: its nodes are first seen there
                    entry[3] += nodes
        extra: list[Sequence[Any]] = []
        if since is not None and low is not None and since < low:
            # Previous visit earlier on the start's day, before the window: first seen in the
            # whole days if the node was not back before them.
            extra += self._ap_pairs(
                (_floor(since, _DAY), since), absent=(since, low), present=(low, high)
            )
        if high is not None and until is not None and high < until:
            # The last edge: nodes not at that AP in the rest of the window.
            extra += self._ap_pairs((high, until), absent=(since, high))
        for node, ap, ssid, count in extra:
            stats.setdefault((node, ap, ssid), list(zero))[3] += int(count)
        return stats

    def _ap_pairs(
        self,
        visits: tuple[Any, Any],
        *,
        absent: tuple[Any, Any],
        present: tuple[Any, Any] | None = None,
    ) -> Sequence[Any]:
        """Per AP, the nodes registered there in ``visits`` that were not there in ``absent``
        (and were in ``present``): (node, ap, ssid, count)."""
        params: dict[str, Any] = {}

        def between(name: str, span: tuple[Any, Any]) -> str:
            where, bounds = self._between(*span, name=name)
            params.update(bounds)
            return where

        def visited(prefix: str, span: tuple[Any, Any]) -> str:
            # (unqualified columns: the inner station_events, through ix_station_events_visit)
            return (
                "EXISTS (SELECT 1 FROM station_events WHERE event = 'registered'"
                f" AND mn_id = c.mn_id AND node = c.node AND {AP_KEY_SQL} = c.ap"
                f" AND {SSID_KEY_SQL} = c.ssid AND {between(prefix, span)})"
            )

        conditions = [f"NOT {visited('a_', absent)}"]
        if present is not None:
            conditions.append(visited("p_", present))
        return self._plain_rows(
            "SELECT node, ap, ssid, COUNT(*) FROM (SELECT DISTINCT mn_id, node,"
            f" {AP_KEY_SQL} AS ap, {SSID_KEY_SQL} AS ssid FROM station_events"
            f" WHERE event = 'registered' AND mn_id IS NOT NULL AND {between('v_', visits)}) c"
            f" WHERE {' AND '.join(conditions)} GROUP BY node, ap, ssid",
            params,
        )

    def _ap_rows(self, low: Any, high: Any) -> dict[tuple[Any, ...], list[int]]:
        """:meth:`aps` of the registrations in [low, high) (either end open), walked in
        (mn_id, at) order; a node's first one there is compared with its registration before."""
        where, params = self._between(low, high)
        registered = f"event = 'registered' AND {TRAIL_EVENTS_SQL} AND mn_id IS NOT NULL"
        rows = self._plain_rows(
            "SELECT mn_id, node, COALESCE(ap, interface), ssid FROM station_events"
            # (naming the trail's events lets the per-node partial index give the order, and
            # it holds these columns: the walk reads the index alone)
            f" WHERE {registered} AND {where} ORDER BY mn_id, at, id",
            params,
        )
        before: dict[Any, tuple[Any, Any, Any]] = {}
        if low is not None:  # where each node was registered when the span began
            for mn_id, node, ap, ssid in self._plain_rows(
                "SELECT m.mn_id, p.node, COALESCE(p.ap, p.interface), p.ssid FROM"
                f" (SELECT DISTINCT mn_id FROM station_events WHERE {registered} AND {where}) m"
                " JOIN station_events p ON p.id = (SELECT q.id FROM station_events q"
                f" WHERE q.mn_id = m.mn_id AND q.event = 'registered' AND q.{TRAIL_EVENTS_SQL}"
                " AND q.at < :low ORDER BY q.at DESC, q.id DESC LIMIT 1)",
                params,
            ):
                before[mn_id] = (node, ap or "?", ssid or "")
        stats: dict[tuple[Any, ...], list[Any]] = {}
        previous: tuple[Any, Any, Any] | None = None
        previous_mn: Any = object()
        for mn_id, node, ap, ssid in rows:
            key = (node, ap or "?", ssid or "")
            entry = stats.setdefault(key, [0, 0, 0, set()])
            entry[0] += 1
            entry[3].add(mn_id)
            if mn_id != previous_mn:
                previous = before.get(mn_id)
            if previous is not None and previous[:2] != key[:2]:
                entry[1] += 1  # handover in
                stats.setdefault(previous, [0, 0, 0, set()])[2] += 1  # and out of the previous AP
            previous, previous_mn = key, mn_id
        return {k: [e[0], e[1], e[2], len(e[3])] for k, e in stats.items()}

    # ------------------------------------------------------------------ security

    def security(self) -> list[Table]:
        """Rejected and suspicious events grouped by reason and origin (NAS, MAG, address)."""
        where, params = self._range()
        rows = self._rows(
            "SELECT source, reason, origin, SUM(packets), MIN(at), MAX(at), COUNT(DISTINCT mn_id)"
            f" FROM rejections WHERE {where} GROUP BY source, reason, origin"
            " ORDER BY SUM(packets) DESC, source, reason",
            params,
        )
        table = Table(
            "Rejected and suspicious events",
            ["source", "reason", "origin", "count", "first", "last", "mobile_nodes"],
        )
        table.rows = [
            (source, reason, origin, count, self._time(first), self._time(last), mns)
            for source, reason, origin, count, first, last, mns in rows
        ]
        duplicates = self._rows(
            "SELECT nas, SUM(COALESCE(packets, 1)) FROM accounting_records"
            f" WHERE outcome = 'duplicate' AND {where} GROUP BY nas ORDER BY nas",
            params,
        )
        retrans = Table("Accounting retransmissions (answered, processed once)", ["nas", "count"])
        retrans.rows = [tuple(r) for r in duplicates]
        return [table, retrans, *self.station_security(), self.upstream_backlog()]

    def upstream_backlog(self) -> Table:
        """Accepted accounting each MAG still owes its upstream accounting server (spooled
        until the upstream answers): how many records, and since when."""
        backlog = Table("Upstream accounting backlog", ["node", "records", "oldest"])
        backlog.rows = [
            (node, count, self._time(oldest))
            for node, count, oldest in self._rows(
                "SELECT node, COUNT(*), MIN(enqueued_at) FROM upstream_spool"
                " GROUP BY node ORDER BY node",
                {},
            )
        ]
        return backlog

    def station_security(self, top: int = 10) -> list[Table]:
        """Station refusals (identities the MAGs would not register) by reason and NAS, and
        the identities refused most, ``top`` rows each."""
        where, params = self._range()
        # (the partial index's condition, verbatim, lets SQLite read that index alone)
        refused = f"{REFUSED_STATION_SQL} AND event IN ('rejected', 'conflict')"
        by_reason = Table(
            "Station refusals by reason and NAS",
            ["reason", "nas", "count", "identities", "macs", "first", "last"],
        )
        by_reason.rows = [
            (reason, nas, count, identities, macs, self._time(first), self._time(last))
            for reason, nas, count, identities, macs, first, last in self._rows(
                "SELECT COALESCE(reason, event), COALESCE(nas, '-'), COUNT(*),"
                " COUNT(DISTINCT mn_id), COUNT(DISTINCT mac), MIN(at), MAX(at)"
                f" FROM station_events WHERE {refused} AND {where}"
                " GROUP BY COALESCE(reason, event), COALESCE(nas, '-')"
                f" ORDER BY COUNT(*) DESC, 1, 2 LIMIT {int(top)}",
                params,
            )
        ]
        by_identity = Table(
            "Identities refused most", ["mn_id", "count", "reasons", "macs", "nases", "last"]
        )
        by_identity.rows = [
            (mn_id, count, reasons, macs, nases, self._time(last))
            for mn_id, count, reasons, macs, nases, last in self._rows(
                "SELECT mn_id, COUNT(*), COUNT(DISTINCT reason), COUNT(DISTINCT mac),"
                " COUNT(DISTINCT nas), MAX(at)"
                f" FROM station_events WHERE {refused} AND mn_id IS NOT NULL AND {where}"
                f" GROUP BY mn_id ORDER BY COUNT(*) DESC, mn_id LIMIT {int(top)}",
                params,
            )
        ]
        return [by_reason, by_identity]

    # ------------------------------------------------------------------ signaling

    def signaling(self) -> list[Table]:
        """Network-side messages per handover, and the mobility messages the daemons received
        from sources that are not their peers or could not decode. That is not a count of what
        mobile nodes send (a node's messages never reach the LMA's signalling socket unless
        routed there): those are counted on the nodes' links (the demo's capture)."""
        counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        handovers = strangers = 0
        periods, raw = self._pieces(_DAY)
        if periods is not None:
            rows = self._rollup(("signaling", "strangers", "pair"), periods)
            for _day, metric, key1, key2, _bucket, n, total, _worst in rows:
                if metric == "signaling":
                    counts[(key1, key2)][0] += n
                    counts[(key1, key2)][1] += int(total)
                elif metric == "strangers":
                    strangers += n
                else:
                    handovers += n
        for low, high in raw:
            where, params = self._between(low, high)
            handovers += self._rows(f"SELECT COUNT(*) FROM handovers WHERE {where}", params)[0][0]
            for node, message, direction, n, retransmissions in self._rows(
                "SELECT node, message, direction, COUNT(*), SUM(COALESCE(retransmissions, 0))"
                f" FROM signaling WHERE {where} GROUP BY node, message, direction",
                params,
            ):
                counts[(node, f"{message} {direction}")][0] += n
                counts[(node, f"{message} {direction}")][1] += int(retransmissions or 0)
            strangers += self._rows(
                "SELECT COUNT(*) FROM signaling WHERE direction = 'received'"
                f" AND reason = 'source is not a MAG peer' AND {where}",
                params,
            )[0][0]
            strangers += self._rows(
                "SELECT COUNT(*) FROM audit_events WHERE kind IN"
                " ('heartbeat_from_unknown_peer', 'unexpected_message', 'malformed_packet')"
                f" AND {where}",
                params,
            )[0][0]
        messages = Table(
            "Mobility signaling (network side)",
            ["node", "exchange", "direction", "count", "retransmissions", "per_handover"],
        )
        for (node, label), (n, retransmissions) in sorted(counts.items()):
            message, _, direction = label.partition(" ")
            # Heartbeats are per peer, not per handover.
            per = round(n / handovers, 3) if handovers and message != "HB" else None
            messages.rows.append((node, message, direction, n, retransmissions, per))
        summary = Table(
            "Signaling summary",
            ["handovers", "network_messages", "per_handover", "non_peer_or_malformed_messages"],
        )
        total = sum(r[3] for r in messages.rows if r[1] != "HB")
        summary.rows.append(
            (handovers, total, round(total / handovers, 3) if handovers else None, strangers)
        )
        return [summary, messages]


_HOUR, _DAY = timedelta(hours=1), timedelta(days=1)


def _floor(moment: datetime, unit: timedelta) -> datetime:
    moment = moment.astimezone(UTC)
    start = moment.replace(minute=0, second=0, microsecond=0)
    return start.replace(hour=0) if unit == _DAY else start


def _ceil(moment: datetime, unit: timedelta) -> datetime:
    floor = _floor(moment, unit)
    return floor if floor == moment else floor + unit


class Histogram:
    """Counts per bucket (values rounded to the nearest 1/per_ms ms), the exact maximum, and how
    many samples had no value. Percentiles are nearest-rank over the buckets."""

    def __init__(self, per_ms: int = 10) -> None:
        self.per_ms = per_ms  # buckets per millisecond (10: 0.1 ms buckets)
        self.buckets: dict[int, int] = defaultdict(int)
        self.count = 0  # samples, timed or not
        self.worst: float | None = None

    def add(self, bucket: int | None, count: int, worst: float | None) -> None:
        self.count += count
        if bucket is None:
            return
        self.buckets[bucket] += count
        if worst is not None and (self.worst is None or worst > self.worst):
            self.worst = worst

    @classmethod
    def merged(cls, parts: Iterable[Histogram]) -> Histogram:
        parts = list(parts)
        total = cls(parts[0].per_ms if parts else 10)
        for part in parts:
            total.count += part.count
            for bucket, count in part.buckets.items():
                total.buckets[bucket] += count
            if part.worst is not None and (total.worst is None or part.worst > total.worst):
                total.worst = part.worst
        return total

    def percentile(self, q: float) -> float | None:
        timed = sum(self.buckets.values())
        if not timed:
            return None
        rank = max(1, math.ceil(q * timed))
        seen = 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank:
                return round(bucket / self.per_ms, 1)
        return None  # unreachable

    def summary(self) -> tuple[int, Any, Any, Any, Any]:
        """(count, p50, p90, p99, max)."""
        worst = round(self.worst, 3) if self.worst is not None else None
        return (self.count, self.percentile(0.5), self.percentile(0.9), self.percentile(0.99),
                worst)  # fmt: skip
