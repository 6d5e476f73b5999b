"""On PostgreSQL, the AP rollup's trigger runs once per statement instead of once per row.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

0014's trigger ran a statement of its own for every registration (its four neighbour look-ups
and an upsert), which a store's COPY of thousands of rows paid thousands of times. This one
runs once per INSERT or COPY into ``station_events`` and reads the statement's rows from its
transition table: per node, the registrations stored before that lie among or next to the new
ones, the node's timeline with and without the new rows, and the rollup's change is the
difference between the two (pairs of registrations that now follow each other, counted;
stored pairs that a new row separates, taken back; for each AP, the previous visit of each
registration whose previous visit changed). Summed over a statement's rows that is what the
per-row trigger adds one row after another, so the rollup stays that of the registrations in
time order, whatever order the stores insert them in. Per-node advisory locks as in 0014: taken
for all of the statement's nodes in one order (the daemons' writers hold them already).

SQLite has no statement-level triggers: it keeps 0014's.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None
_HERE = Path(__file__).resolve().parent

TRAIL = (
    "event IN ('registered', 'detached', 'deregistered', 'revoked', 'replaced',"
    " 'refresh_rejected', 'pbu_unanswered')"
)
AP_KEY = "COALESCE(NULLIF(COALESCE(ap, interface), ''), '?')"
SSID_KEY = "COALESCE(ssid, '')"
_KEY = "day, node, ap, ssid, since, by_node"
_COLUMNS = f"id, at, mn_id, node, {AP_KEY} AS ap, {SSID_KEY} AS ssid"


def _day(column: str) -> str:
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


def _stored(span: str, same_ap: bool) -> str:
    """The registrations stored before this statement, of each node in ``span``: those among
    the new ones in time (``lo``..``hi``), and the nearest before and after them. ``same_ap``:
    at the span's AP only (``ix_station_events_visit``), else anywhere (the trail index)."""
    where = [f"mn_id = {span}.mn_id", "event = 'registered'"]
    if same_ap:
        where += [f"node = {span}.node", f"{AP_KEY} = {span}.ap", f"{SSID_KEY} = {span}.ssid"]
    else:
        where.append(TRAIL)
    match = " AND ".join(where)
    return (
        f"SELECT s.* FROM {span}, LATERAL ("
        f"SELECT {_COLUMNS} FROM station_events WHERE {match}"
        f" AND at BETWEEN {span}.lo AND {span}.hi"
        f" UNION ALL (SELECT {_COLUMNS} FROM station_events WHERE {match} AND at < {span}.lo"
        " ORDER BY at DESC, id DESC LIMIT 1)"
        f" UNION ALL (SELECT {_COLUMNS} FROM station_events WHERE {match} AND at > {span}.hi"
        " ORDER BY at, id LIMIT 1)"
        ") AS s WHERE NOT EXISTS (SELECT 1 FROM b WHERE b.id = s.id)"
    )


def postgresql_function() -> str:
    moved = "(p_node <> node OR p_ap <> ap)"
    changes = " UNION ALL ".join([
        # Consecutive registrations with a new one among them: a handover out and in.
        f"SELECT {_day('at')}, p_node, p_ap, p_ssid, '', CASE WHEN fresh THEN node ELSE p_node END,"
        f" 0, 0, 1 FROM t WHERE (fresh OR p_fresh) AND {moved}",
        f"SELECT {_day('at')}, node, ap, ssid, '', CASE WHEN fresh THEN node ELSE p_node END,"
        f" 0, 1, 0 FROM t WHERE (fresh OR p_fresh) AND {moved}",
        # Stored registrations that followed each other and now have a new one between them.
        f"SELECT {_day('at')}, q_node, q_ap, q_ssid, '', p_node, 0, 0, -1 FROM t JOIN t_old"
        " USING (id) WHERE NOT fresh AND p_fresh AND (q_node <> node OR q_ap <> ap)",
        f"SELECT {_day('at')}, node, ap, ssid, '', p_node, 0, -1, 0 FROM t JOIN t_old"
        " USING (id) WHERE NOT fresh AND p_fresh AND (q_node <> node OR q_ap <> ap)",
        # Each new attachment, under the day of the node's previous visit to the AP; a stored
        # one whose previous visit is now a new one moves to that one's day.
        f"SELECT {_day('at')}, node, ap, ssid, COALESCE({_day('p_at')}, ''), node, 1, 0, 0"
        " FROM v WHERE fresh",
        f"SELECT {_day('at')}, node, ap, ssid, COALESCE({_day('q_at')}, ''), node, -1, 0, 0"
        " FROM v JOIN v_old USING (id) WHERE NOT fresh AND p_fresh",
        f"SELECT {_day('at')}, node, ap, ssid, {_day('p_at')}, node, 1, 0, 0"
        " FROM v WHERE NOT fresh AND p_fresh",
    ])  # fmt: skip
    timeline = "PARTITION BY mn_id ORDER BY at, id"
    visits = "PARTITION BY mn_id, node, ap, ssid ORDER BY at, id"
    return f"""
CREATE FUNCTION report_ap_rollup_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM added WHERE event = 'registered' AND mn_id IS NOT NULL) THEN
    RETURN NULL;
  END IF;
  -- One transaction at a time per node: another MAG's writer may be inserting a registration
  -- of the same node; after its commit, the next statement's snapshot holds it. In the order
  -- of the daemons' writers (code points), which take these locks for a whole batch first.
  PERFORM pg_advisory_xact_lock(hashtext('report_ap_rollup'), hashtext(m))
  FROM (SELECT DISTINCT mn_id COLLATE "C" AS m FROM added
        WHERE event = 'registered' AND mn_id IS NOT NULL ORDER BY 1) AS nodes;
  WITH b AS (
    SELECT {_COLUMNS} FROM added WHERE event = 'registered' AND mn_id IS NOT NULL
  ),
  span AS (SELECT mn_id, min(at) AS lo, max(at) AS hi FROM b GROUP BY mn_id),
  visit_span AS (
    SELECT mn_id, node, ap, ssid, min(at) AS lo, max(at) AS hi FROM b GROUP BY 1, 2, 3, 4
  ),
  e AS ({_stored("span", False)}),
  ve AS ({_stored("visit_span", True)}),
  t AS (
    SELECT x.*, lag(node) OVER w AS p_node, lag(ap) OVER w AS p_ap, lag(ssid) OVER w AS p_ssid,
      lag(fresh) OVER w AS p_fresh
    FROM (SELECT *, true AS fresh FROM b UNION ALL SELECT *, false FROM e) AS x
    WINDOW w AS ({timeline})
  ),
  t_old AS (
    SELECT id, lag(node) OVER w AS q_node, lag(ap) OVER w AS q_ap, lag(ssid) OVER w AS q_ssid
    FROM e WINDOW w AS ({timeline})
  ),
  v AS (
    SELECT x.*, lag(at) OVER w AS p_at, lag(fresh) OVER w AS p_fresh
    FROM (SELECT *, true AS fresh FROM b UNION ALL SELECT *, false FROM ve) AS x
    WINDOW w AS ({visits})
  ),
  v_old AS (SELECT id, lag(at) OVER w AS q_at FROM ve WINDOW w AS ({visits})),
  changes ({_KEY}, a, i, o) AS ({changes})
  -- Summed per row of the rollup (an upsert may change a row once), in key order.
  INSERT INTO report_ap_rollup
  SELECT {_KEY}, SUM(a), SUM(i), SUM(o) FROM changes GROUP BY {_KEY}
  HAVING SUM(a) <> 0 OR SUM(i) <> 0 OR SUM(o) <> 0 ORDER BY {_KEY}
  ON CONFLICT ({_KEY}) DO UPDATE SET
    attachments = report_ap_rollup.attachments + EXCLUDED.attachments,
    handovers_in = report_ap_rollup.handovers_in + EXCLUDED.handovers_in,
    handovers_out = report_ap_rollup.handovers_out + EXCLUDED.handovers_out;
  RETURN NULL;
END
$$;
CREATE TRIGGER tr_station_events_ap_rollup AFTER INSERT ON station_events
REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION report_ap_rollup_added();
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER tr_station_events_ap_rollup ON station_events")
    op.execute("DROP FUNCTION report_ap_rollup_registered()")
    op.execute(postgresql_function())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER tr_station_events_ap_rollup ON station_events")
    op.execute("DROP FUNCTION report_ap_rollup_added()")
    spec = importlib.util.spec_from_file_location("ap_rollup_0014", _HERE / "0014_ap_rollup.py")
    assert spec is not None and spec.loader is not None
    per_row = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(per_row)
    op.execute(per_row._postgresql_function())
