"""The SQL store of a daemon: bindings, node state and audit records, written off the event loop.

One writer thread takes everything queued since its last commit and writes it in one transaction
(group commit): per MN-ID only the latest binding write survives the batch, audit records are
inserted in one executemany. Callers get a future that completes when their write is committed.
A failing database is retried with back-off; nothing queued is dropped.

The writer waits ``_LINGER`` after the first write of a batch: a burst becomes one transaction,
and a lone write is committed just after the instant in which its daemon's event loop sends
what the write's event caused (a MAG's PBU for a Start), not on the other core at that moment.
Committing at once answers accounting sooner but lengthens the Start -> PBU tail under load
(docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from netlmm_aaa.core.actions import BindingSnapshot, RecordAudit
from netlmm_aaa.core.lma_policy import MobileNodePolicy
from netlmm_aaa.cpu_priority import lower_this_thread
from netlmm_aaa.persistence.binding_rows import (
    BINDING_COLUMNS,
    Item,
    snapshot_from_row,
    upsert_item,
)
from netlmm_aaa.persistence.database import sqlite_path
from netlmm_aaa.persistence.models import (
    AccountingRecord,
    MobileNodePolicyRow,
    NodeState,
    UpstreamSpool,
)
from netlmm_aaa.persistence.row_writer import Pipeline, RowWriter, writer_process
from netlmm_aaa.persistence.row_writer import checkpoints as checkpoint_wal
from netlmm_aaa.persistence.sql_text import dt, parse_sqlite_time, ts

log = logging.getLogger(__name__)

_BATCH_LIMIT = 20_000  # submissions per transaction
_BATCH_ROWS = 50_000  # rows per transaction (a submission is never split)
_LINGER = 0.001


class SqlStore:
    """Persistence of one daemon (``node`` names it in every row)."""

    def __init__(
        self,
        engine: Engine,
        node: str,
        *,
        process: bool = False,
        lma: bool = False,
        checkpoints: bool = True,
    ) -> None:
        """``process=True`` commits in a child process, so that SQL work never competes with
        the daemon's event loop for the GIL (the LMA uses it); otherwise on a thread.
        ``lma=True`` files the records of an LMA (its revocations are binding changes).
        ``checkpoints``: run the background WAL checkpointer of a SQLite file (one per file is
        enough when several stores share it)."""
        self.engine = engine
        self.node = node
        self._rows = RowWriter(engine, node, lma=lma)
        self._queue: queue.Queue[tuple[list[Item], Future[None]] | None] = queue.Queue()
        self._process: Any = None
        self._conn: Any = None
        self._acks: threading.Thread | None = None
        self._lma = lma
        self._closing = False
        self._conn_lock = threading.Lock()
        self.writer_restarts = 0
        """How often the writer process died and was restarted (process mode)."""
        self._last_restart = float("-inf")
        self._restart_delay = 0.0
        if process:
            self._start_process()
        self._thread = threading.Thread(target=self._writer, name=f"store-{node}", daemon=True)
        self.commits = 0
        self.failures = 0
        self.observers: list[Callable[[list[RecordAudit]], None]] = []
        """Called with the audit records of every submission (the daemons' metrics)."""
        self._thread.start()
        self._stop_checkpoints = threading.Event()
        self._checkpointer: threading.Thread | None = None
        path = sqlite_path(engine)
        if path is not None and checkpoints:
            self._checkpointer = threading.Thread(
                target=checkpoint_wal, args=(path, self._stop_checkpoints), daemon=True,
                name=f"checkpoint-{node}",
            )  # fmt: skip
            self._checkpointer.start()

    def _start_process(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        url = self.engine.url.render_as_string(hide_password=False)
        self._process = context.Process(
            target=writer_process,
            args=(url, self.node, child, self._lma),
            name=f"store-{self.node}",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._conn = parent

    # ------------------------------------------------------------------ startup (synchronous)

    def load_bindings(self) -> list[BindingSnapshot]:
        """Every binding this LMA had committed."""
        # Not the first three (lma, mn_id_raw, mn_id text): mn_id_raw comes first, the others
        # are not needed (a million rows: two million strings saved).
        columns = ", ".join(("mn_id_raw", *BINDING_COLUMNS[3:]))
        mark = "?" if self.engine.dialect.name == "sqlite" else "%s"
        parse_time = parse_sqlite_time if self.engine.dialect.name == "sqlite" else ts
        with self.engine.connect() as connection:
            # The DBAPI cursor directly: a restart reads every binding (a million of them in
            # the restart target) and SQLAlchemy's row objects cost more than the parsing.
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            cursor.execute(f"SELECT {columns} FROM lma_bindings WHERE lma = {mark}", (self.node,))
            snapshots: list[BindingSnapshot] = []
            while rows := cursor.fetchmany(10_000):
                snapshots += [snapshot_from_row(row, parse_time) for row in rows]
            cursor.close()
            return snapshots

    def load_spool(self) -> list[tuple[int, bytes]]:
        """The accounting this node still owes its upstream: (seq, datagram), oldest first."""
        query = (
            select(UpstreamSpool.seq, UpstreamSpool.datagram)
            .where(UpstreamSpool.node == self.node)
            .order_by(UpstreamSpool.seq)
        )
        with self.engine.connect() as connection:
            return [(int(seq), bytes(data)) for seq, data in connection.execute(query)]

    def recent_stops(self, since_utc: float) -> list[tuple[str, str, float]]:
        """The accounting Stops this MAG accepted since ``since_utc``: (NAS, Acct-Session-Id,
        received at), oldest first (the replay tombstones a restarted intake needs)."""
        rows = AccountingRecord
        query = (
            select(rows.nas, rows.session_id, rows.at)
            .where(
                rows.node == self.node,
                rows.outcome == "accepted",
                rows.status_type == 2,
                rows.session_id.is_not(None),
                rows.at >= dt(since_utc),
            )
            .order_by(rows.at)
        )
        with self.engine.connect() as connection:
            rows_found = connection.execute(query).all()
        return [(nas, session or "", ts(at) or 0.0) for nas, session, at in rows_found]

    def load_policies(self) -> list[MobileNodePolicy]:
        """The SQL policy profiles that apply to this LMA (its own and the shared ones)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(MobileNodePolicyRow).where(
                    (MobileNodePolicyRow.lma == self.node) | (MobileNodePolicyRow.lma.is_(None))
                )
            )
            return [
                MobileNodePolicy(
                    mn_id=row.mn_id.encode("utf-8"),
                    home_network_prefix=row.home_network_prefix,
                    ipv4_home_address=row.ipv4_home_address,
                    proxy_mobility=bool(row.proxy_mobility),
                    ipv4_service=bool(row.ipv4_service),
                    ipv6_service=bool(row.ipv6_service),
                    allowed_mags=(
                        frozenset(m.strip() for m in row.allowed_mags.split(",") if m.strip())
                        if row.allowed_mags is not None
                        else None
                    ),
                )
                for row in rows
            ]

    def start_counter(self) -> tuple[int, bool]:
        """At start: the RFC 5847 restart counter and whether the last run ended cleanly
        (:meth:`mark_clean_shutdown` after everything was committed). A clean restart keeps the
        counter (every binding is in the store); an unclean one (killed, crashed: answers may
        have left before their rows were committed) increments it. Either way the mark is
        cleared in the same transaction, so the next start is unclean unless this run ends
        cleanly too."""
        with self.engine.begin() as connection:
            clean = self._state(connection, "clean_shutdown") == "1"
            connection.execute(
                NodeState.__table__.delete().where(  # type: ignore[attr-defined]
                    NodeState.node == self.node, NodeState.key == "clean_shutdown"
                )
            )
            current = self._state(connection, "restart_counter")
            if clean and current is not None:
                return int(current), True
            return self._bump(connection, current), False

    def mark_clean_shutdown(self) -> None:
        """Everything this run promised is committed (call after :meth:`flush`)."""
        with self.engine.begin() as connection:
            connection.execute(
                insert(NodeState).values(node=self.node, key="clean_shutdown", value="1")
            )

    def bump_restart_counter(self) -> int:
        """Increment and return the persisted RFC 5847 restart counter."""
        with self.engine.begin() as connection:
            return self._bump(connection, self._state(connection, "restart_counter"))

    def _state(self, connection: Connection, key: str) -> str | None:
        value: str | None = connection.execute(
            select(NodeState.value).where(NodeState.node == self.node, NodeState.key == key)
        ).scalar()
        return value

    def _bump(self, connection: Connection, current: str | None) -> int:
        """Store and return the restart counter after ``current`` (1 when there was none)."""
        value = (int(current) + 1) & 0xFFFF_FFFF if current is not None else 1
        if current is None:
            connection.execute(
                insert(NodeState).values(node=self.node, key="restart_counter", value=str(value))
            )
        else:
            connection.execute(
                NodeState.__table__.update()  # type: ignore[attr-defined]
                .where(NodeState.node == self.node, NodeState.key == "restart_counter")
                .values(value=str(value))
            )
        return value

    # ------------------------------------------------------------------ writes (any thread)

    def submit(
        self,
        *,
        store: Iterable[BindingSnapshot] = (),
        delete: Iterable[bytes] = (),
        audit: Iterable[RecordAudit] = (),
        spool: Iterable[tuple[int, bytes, float]] = (),
        unspool: Iterable[int] = (),
    ) -> Future[None]:
        """Queue writes; the future completes once they are committed. ``spool``: (seq,
        datagram, utc) for the upstream; ``unspool``: the seqs the upstream answered."""
        items: list[Item] = [upsert_item(b) for b in store]
        items += [("d", m) for m in delete]
        items += [("q", seq, data, utc) for seq, data, utc in spool]
        items += [("r", seq) for seq in unspool]
        if self.observers:
            audit = list(audit)
            for observe in self.observers:
                observe(audit)
        # The plain text of the kind crosses to the writer (thread or process) and the driver.
        items += [("a", r.utc, str(r.kind), r.mn_id, r.peer, r.fields) for r in audit]
        future: Future[None] = Future()
        if not items:
            future.set_result(None)
            return future
        self._queue.put((items, future))
        return future

    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything queued so far is committed."""
        marker: Future[None] = Future()
        self._queue.put(([], marker))
        marker.result(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the writer."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        self._stop_checkpoints.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout)
        if self._process is not None:
            self._closing = True
            with contextlib.suppress(OSError, ValueError), self._conn_lock:
                self._conn.send(None)
            if self._acks is not None:
                self._acks.join(timeout)  # the process acknowledges everything, then exits
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.kill()
            self._conn.close()
            self._process = None

    # ------------------------------------------------------------------ writer thread

    def _writer(self) -> None:
        lower_this_thread()
        if self._conn is not None:
            self._send_batches()
            return
        pipeline = Pipeline(self._rows, self._batch_done, self._count_failure)
        try:
            while True:
                batch, stop = self._next_batch()
                if batch:
                    items = [i for entries, _ in batch for i in entries]
                    pipeline.put(self._rows.prepare(items), batch)
                if stop:
                    return
        finally:
            pipeline.close()

    def _next_batch(self) -> tuple[list[tuple[list[Item], Future[None]]], bool]:
        """Everything queued (after a short linger), and whether the store is closing."""
        item = self._queue.get()
        if item is None:
            return [], True
        time.sleep(_LINGER)  # let a burst accumulate: fewer, larger transactions
        batch = [item]
        rows = len(item[0])
        # Bounded in rows too, so a backlog flows through the pipeline in overlapping batches.
        while len(batch) < _BATCH_LIMIT and rows < _BATCH_ROWS:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                self._queue.put(None)  # seen again once this batch is on its way
                return batch, False
            batch.append(more)
            rows += len(more[0])
        return batch, False

    def _batch_done(self, batch: list[tuple[list[Item], Future[None]]]) -> None:
        self.commits += 1
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    def _send_batches(self) -> None:
        """Process mode: send batches to the writer process (up to two in flight, so that it
        prepares one while committing the other); acknowledgements arrive on another thread.
        If the writer process dies, it is restarted and the unacknowledged batches are sent
        again (at least once: a batch committed just before the crash may be written twice)."""
        in_flight = threading.Semaphore(2)
        pending: dict[int, tuple[list[tuple[list[Item], Future[None]]], list[Item]]] = {}

        def receive_acks() -> None:  # started by the writer thread: its priority inherited
            while True:
                try:
                    message = self._conn.recv()
                except (EOFError, OSError):
                    if self._closing:
                        return
                    self._restart_writer(pending)
                    continue
                if type(message) is tuple:  # ("failure",): a commit attempt failed, retrying
                    self.failures += 1
                    continue
                with self._conn_lock:
                    entry = pending.pop(message, None)
                if entry is not None:
                    self._batch_done(entry[0])
                    # Only then the slot: freeing it before the callers are served sent
                    # batches sooner and smaller, which cost the LMA's registration tail more
                    # than it gained the accounting answers (docs/benchmarks.md).
                    in_flight.release()

        self._acks = threading.Thread(target=receive_acks, name="store-acks", daemon=True)
        self._acks.start()
        batch_id = 0
        while True:
            # A slot first, then the batch: while both slots are busy, submissions keep piling
            # up in the queue and leave together as the next batch (one commit, one fsync),
            # instead of a small batch waiting with a slot's worth of latency.
            in_flight.acquire()
            batch, stop = self._next_batch()
            if not batch:
                in_flight.release()
            else:
                batch_id += 1
                items = [i for entries, _ in batch for i in entries]
                with self._conn_lock:
                    pending[batch_id] = (batch, items)
                    # On a dead writer the acknowledgement thread restarts it and resends.
                    with contextlib.suppress(OSError, ValueError):
                        self._conn.send((batch_id, items))
            if stop:
                return

    def _restart_writer(
        self, pending: dict[int, tuple[list[tuple[list[Item], Future[None]]], list[Item]]]
    ) -> None:
        # A writer that dies again at once (a database it cannot open, a broken interpreter)
        # is restarted with a growing pause, not in a tight loop.
        now = time.monotonic()
        if now - self._last_restart < 5.0:
            self._restart_delay = min(5.0, max(0.1, self._restart_delay * 2))
            time.sleep(self._restart_delay)
        else:
            self._restart_delay = 0.0
        self._last_restart = time.monotonic()
        with self._conn_lock:
            code = self._process.exitcode if self._process is not None else None
            log.error(
                "store writer process of %s exited (code %s); restarting it, %d batches resent",
                self.node, code, len(pending),
            )  # fmt: skip
            self.failures += 1
            self.writer_restarts += 1
            if self._process is not None:
                self._process.join(1)
                if self._process.is_alive():
                    self._process.kill()
            with contextlib.suppress(OSError):
                self._conn.close()
            self._start_process()
            # If the new writer dies too, the next receive sees it and restarts it again.
            with contextlib.suppress(OSError, ValueError):
                for batch_id, (_batch, items) in sorted(pending.items()):
                    self._conn.send((batch_id, items))

    def _count_failure(self) -> None:
        self.failures += 1
