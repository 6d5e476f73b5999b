"""``report_ap_rollup``: what ``report aps`` reads for whole days, kept by a trigger.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

``report aps`` walked every registration of its period in (mn_id, at) order: at 10M records a
month's ~900,000 registrations took 1.7-2.5 s (and the HTML report, which includes it, 3-4 s).
It now reads, per UTC day and AP, a rollup of attachments, handovers in and out, and, for the
distinct nodes of a range of days, the day each registration's node was last at that AP before
(``since``; see the model). A trigger on ``station_events`` keeps it in the transaction that
inserts each ``registered`` row: it looks up the row's neighbours in time (the node's previous
and next registration, the previous and next at the same AP) and moves the counts they imply.
Rows may arrive out of time order (each MAG's store commits on its own, and catches up after an
outage): the counts are those of the time order all the same. A trigger, not the daemons'
writer, because the neighbours may have been written by another MAG's store. On PostgreSQL
the trigger takes a per-node advisory lock, so that two MAGs' transactions registering one node
see each other's row (the daemons' writers take the locks of a batch first, sorted), and each
change is keyed by the MAG whose insert made it, so that writers never share rollup rows.

``ix_station_events_visit`` (registrations by node, MAG, AP key and time) finds the visits to
one AP. The upgrade computes the rollup from the registrations already stored.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TRAIL = (
    "event IN ('registered', 'detached', 'deregistered', 'revoked', 'replaced',"
    " 'refresh_rejected', 'pbu_unanswered')"
)
AP_KEY = "COALESCE(NULLIF(COALESCE(ap, interface), ''), '?')"
SSID_KEY = "COALESCE(ssid, '')"
_NEW_AP = AP_KEY.replace("(ap, interface)", "(NEW.ap, NEW.interface)")
_NEW_SSID = "COALESCE(NEW.ssid, '')"
_ROLLUP_KEY = "(day, node, ap, ssid, since, by_node)"


def _day(column: str, postgresql: bool) -> str:
    if postgresql:
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    return f"substr({column}, 1, 10)"


def _neighbour(later: bool, same_ap: bool, postgresql: bool) -> str:
    """The registration of NEW's node just before (or after) NEW in time, among the rows
    inserted before NEW (``id < NEW.id``: in PostgreSQL a COPY's row triggers run after all
    its rows are in, in their order); ``same_ap``: at NEW's AP only (``ix_station_events_visit``),
    else anywhere (the trail index)."""
    order = "ASC" if later else "DESC"
    where = ["mn_id = NEW.mn_id", "event = 'registered'"]
    if same_ap:
        where += ["node = NEW.node", f"{AP_KEY} = {_NEW_AP}", f"{SSID_KEY} = {_NEW_SSID}"]
    else:
        where.append(TRAIL)
    where += [f"(at, id) {'>' if later else '<'} (NEW.at, NEW.id)", "id < NEW.id"]
    return (
        f"SELECT at, {_day('at', postgresql)} AS day, node, {AP_KEY} AS ap, {SSID_KEY} AS ssid"
        f" FROM station_events WHERE {' AND '.join(where)}"
        f" ORDER BY at {order}, id {order} LIMIT 1"
    )


def _sqlite_trigger() -> str:
    today = _day("NEW.at", False)
    previous, following = _neighbour(False, False, False), _neighbour(True, False, False)
    visited, revisit = _neighbour(False, True, False), _neighbour(True, True, False)
    since = f"COALESCE((SELECT day FROM ({visited})), '')"
    add = (
        " ON CONFLICT {_ROLLUP_KEY} DO UPDATE SET attachments = attachments + excluded.attachments,"
        " handovers_in = handovers_in + excluded.handovers_in,"
        " handovers_out = handovers_out + excluded.handovers_out;"
    ).replace("{_ROLLUP_KEY}", _ROLLUP_KEY)

    def rows(first: tuple[str, ...], second: tuple[str, ...], source: str, where: str) -> str:
        """One statement writing two rows per row of ``source``: each neighbour is looked up
        once, and (CROSS JOIN fixes SQLite's loop order) the next registration first, which
        is usually absent."""
        picked = ", ".join(
            a if a == b else f"CASE k.x WHEN 0 THEN {a} ELSE {b} END"
            for a, b in zip(first, second, strict=True)
        )
        return (
            f"INSERT INTO report_ap_rollup SELECT {picked} FROM {source}"
            f" CROSS JOIN (SELECT 0 AS x UNION ALL SELECT 1) AS k WHERE {where}{add}"
        )

    new = ("NEW.node", _NEW_AP, _NEW_SSID)
    moved_pn = "(p.node <> n.node OR p.ap <> n.ap)"
    moved_p = f"(p.node <> NEW.node OR p.ap <> {_NEW_AP})"
    moved_n = f"(n.node <> NEW.node OR n.ap <> {_NEW_AP})"
    steps = [
        # The node's previous and next registrations were a handover; NEW now sits between.
        rows(("n.day", "p.node", "p.ap", "p.ssid", "''", "NEW.node", "0", "0", "-1"),
             ("n.day", "n.node", "n.ap", "n.ssid", "''", "NEW.node", "0", "-1", "0"),
             f"({following}) AS n CROSS JOIN ({previous}) AS p", moved_pn),
        # From the previous registration to NEW, from NEW to the next one.
        rows((today, "p.node", "p.ap", "p.ssid", "''", "NEW.node", "0", "0", "1"),
             (today, *new, "''", "NEW.node", "0", "1", "0"),
             f"({previous}) AS p", moved_p),
        rows(("n.day", *new, "''", "NEW.node", "0", "0", "1"),
             ("n.day", "n.node", "n.ap", "n.ssid", "''", "NEW.node", "0", "1", "0"),
             f"({following}) AS n", moved_n),
        # NEW's attachment, under the day of the node's previous visit to this AP; its next
        # visit there, if any, now follows NEW.
        f"INSERT INTO report_ap_rollup SELECT {today}, {', '.join(new)}, {since}, NEW.node,"
        f" 1, 0, 0 WHERE true{add}",
        rows(("v.day", *new, since, "NEW.node", "-1", "0", "0"),
             ("v.day", *new, today, "NEW.node", "1", "0", "0"),
             f"({revisit}) AS v", "true"),
    ]  # fmt: skip
    body = "\n  ".join(steps)
    return (
        "CREATE TRIGGER tr_station_events_ap_rollup AFTER INSERT ON station_events\n"
        "WHEN NEW.event = 'registered' AND NEW.mn_id IS NOT NULL\n"
        f"BEGIN\n  {body}\nEND"
    )


def _postgresql_function() -> str:
    previous, following = _neighbour(False, False, True), _neighbour(True, False, True)
    visited, revisit = _neighbour(False, True, True), _neighbour(True, True, True)
    new = "NEW.node, key_ap, key_ssid"
    since = "COALESCE((SELECT day FROM pv), '')"
    moved = {
        "pn": "(p.node <> n.node OR p.ap <> n.ap)",
        "pm": "(p.node <> NEW.node OR p.ap <> key_ap)",
        "mn": "(n.node <> NEW.node OR n.ap <> key_ap)",
    }
    changes = " UNION ALL ".join([
        # The node's previous and next registrations were a handover; NEW now sits between.
        f"SELECT n.day, p.node, p.ap, p.ssid, '', NEW.node, 0, 0, -1 FROM p, n"
        f" WHERE {moved['pn']}",
        f"SELECT n.day, n.node, n.ap, n.ssid, '', NEW.node, 0, -1, 0 FROM p, n"
        f" WHERE {moved['pn']}",
        # From the previous registration to NEW, from NEW to the next one.
        f"SELECT today, p.node, p.ap, p.ssid, '', NEW.node, 0, 0, 1 FROM p WHERE {moved['pm']}",
        f"SELECT today, {new}, '', NEW.node, 0, 1, 0 FROM p WHERE {moved['pm']}",
        f"SELECT n.day, {new}, '', NEW.node, 0, 0, 1 FROM n WHERE {moved['mn']}",
        f"SELECT n.day, n.node, n.ap, n.ssid, '', NEW.node, 0, 1, 0 FROM n WHERE {moved['mn']}",
        # NEW's attachment, under the day of the node's previous visit to this AP; its next
        # visit there, if any, now follows NEW.
        f"SELECT today, {new}, {since}, NEW.node, 1, 0, 0",
        f"SELECT v.day, {new}, {since}, NEW.node, -1, 0, 0 FROM nv AS v",
        f"SELECT v.day, {new}, today, NEW.node, 1, 0, 0 FROM nv AS v",
    ])  # fmt: skip
    key = _ROLLUP_KEY.strip("()")
    # One statement (PL/pgSQL keeps its plan for the session): the changes to a row summed
    # first (an upsert may change a row once), locked in key order as the writers' rollups are.
    return f"""
CREATE FUNCTION report_ap_rollup_registered() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  key_ap text := {_NEW_AP};
  key_ssid text := {_NEW_SSID};
  today text := {_day("NEW.at", True)};
BEGIN
  -- One transaction at a time per node: another MAG's writer may be inserting a registration
  -- of the same node; after its commit, this statement's snapshot holds it as a neighbour.
  -- (The daemons' writers take these locks for a whole batch first, in order: no deadlock.)
  PERFORM pg_advisory_xact_lock(hashtext('report_ap_rollup'), hashtext(NEW.mn_id));
  WITH p AS ({previous}), n AS ({following}), pv AS ({visited}), nv AS ({revisit}),
  changes (day, node, ap, ssid, since, by_node, a, i, o) AS ({changes})
  INSERT INTO report_ap_rollup
  SELECT {key}, SUM(a), SUM(i), SUM(o) FROM changes GROUP BY {key} ORDER BY {key}
  ON CONFLICT {_ROLLUP_KEY} DO UPDATE SET
    attachments = report_ap_rollup.attachments + EXCLUDED.attachments,
    handovers_in = report_ap_rollup.handovers_in + EXCLUDED.handovers_in,
    handovers_out = report_ap_rollup.handovers_out + EXCLUDED.handovers_out;
  RETURN NULL;
END
$$;
CREATE TRIGGER tr_station_events_ap_rollup AFTER INSERT ON station_events
FOR EACH ROW WHEN (NEW.event = 'registered' AND NEW.mn_id IS NOT NULL)
EXECUTE FUNCTION report_ap_rollup_registered();
"""


def _backfill(bind: Any, postgresql: bool) -> None:
    """The rollup of the registrations already stored, walked in time order (where the trigger
    finds no later neighbours)."""
    rows = bind.exec_driver_sql(
        f"SELECT mn_id, node, {AP_KEY}, {SSID_KEY}, {_day('at', postgresql)}"
        " FROM station_events WHERE event = 'registered' AND mn_id IS NOT NULL ORDER BY at, id"
    )
    rollup: dict[tuple[str, ...], list[int]] = {}
    last: dict[str, tuple[str, str, str]] = {}
    visits: dict[tuple[str, str, str, str], str] = {}
    for mn_id, node, ap, ssid, today in rows:
        previous = last.get(mn_id)
        if previous is not None and (previous[0] != node or previous[1] != ap):
            rollup.setdefault((today, *previous, "", node), [0, 0, 0])[2] += 1
            rollup.setdefault((today, node, ap, ssid, "", node), [0, 0, 0])[1] += 1
        since = visits.get((node, ap, ssid, mn_id), "")
        rollup.setdefault((today, node, ap, ssid, since, node), [0, 0, 0])[0] += 1
        visits[(node, ap, ssid, mn_id)] = today
        last[mn_id] = (node, ap, ssid)
    values = [(*k, *v) for k, v in rollup.items()]
    marks = ", ".join(["%s" if postgresql else "?"] * 9)
    insert = f"INSERT INTO report_ap_rollup VALUES ({marks})"
    for i in range(0, len(values), 50_000):
        bind.exec_driver_sql(insert, values[i : i + 50_000])


def upgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    key = [sa.Column(n, sa.String(10 if n in ("day", "since") else 64), primary_key=True)
           for n in ("day", "node", "ap", "ssid", "since", "by_node")]  # fmt: skip
    op.create_table(
        "report_ap_rollup", *key,
        *(sa.Column(n, sa.BigInteger(), nullable=False)
          for n in ("attachments", "handovers_in", "handovers_out")),
        sa.PrimaryKeyConstraint(*(c.name for c in key), name="pk_report_ap_rollup"),
    )  # fmt: skip
    op.create_index(
        "ix_station_events_visit", "station_events",
        ["mn_id", "node", sa.text(AP_KEY), sa.text(SSID_KEY), "at", "id"],
        sqlite_where=sa.text("event = 'registered'"),
        postgresql_where=sa.text("event = 'registered'"),
    )  # fmt: skip
    if postgresql:
        # No writer may add a registration between the backfill and the trigger.
        op.execute("LOCK TABLE station_events IN SHARE ROW EXCLUSIVE MODE")
    _backfill(bind, postgresql)
    op.execute(_postgresql_function() if postgresql else _sqlite_trigger())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER tr_station_events_ap_rollup ON station_events")
        op.execute("DROP FUNCTION report_ap_rollup_registered()")
    else:
        op.execute("DROP TRIGGER tr_station_events_ap_rollup")
    op.drop_index("ix_station_events_visit", table_name="station_events")
    op.drop_table("report_ap_rollup")
