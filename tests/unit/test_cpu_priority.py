"""A daemon's event loop runs above its background work, read back from ``/proc``: the loop rises
where it may (a fresh interpreter, root or not), threads that call ``lower_this_thread`` (once
or again, or started by one that did) and the store's threads and writer process run
``BACKGROUND_NICE`` below it, and the caller's own thread keeps its priority."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.cpu_priority import BACKGROUND_NICE, EVENT_LOOP_NICE, lower_this_thread
from netlmm_aaa.persistence import migrate
from netlmm_aaa.persistence.database import make_engine
from netlmm_aaa.persistence.store import SqlStore


def _nice(pid: int, tid: int | None = None) -> int:
    stat = Path(f"/proc/{pid}/task/{tid or pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])  # field 19 of proc(5): nice


def _background() -> int:
    return min(_nice(os.getpid()) + BACKGROUND_NICE, 19)


def test_a_background_thread_runs_below_the_daemon_and_stays_there() -> None:
    seen: dict[str, int] = {}

    def child() -> None:
        seen["inherited"] = _nice(os.getpid(), threading.get_native_id())
        lower_this_thread()  # already below: not lowered again
        seen["child"] = _nice(os.getpid(), threading.get_native_id())

    def worker() -> None:
        lower_this_thread()
        seen["worker"] = _nice(os.getpid(), threading.get_native_id())
        lower_this_thread()
        seen["again"] = _nice(os.getpid(), threading.get_native_id())
        inner = threading.Thread(target=child)
        inner.start()
        inner.join()

    before = _nice(os.getpid(), threading.get_native_id())
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    expected = _background()
    assert seen == {"worker": expected, "again": expected, "inherited": expected,
                    "child": expected}  # fmt: skip
    assert _nice(os.getpid(), threading.get_native_id()) == before


def test_the_stores_threads_and_writer_process_run_below_the_daemon(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    store = SqlStore(engine, "mag1", process=True, checkpoints=True)
    try:
        record = RecordAudit(kind="priority_test", utc=1_790_000_000, peer="p", fields={})
        store.submit(audit=[record]).result(30)  # every thread and the process are at work
        expected = _background()
        writer = store._process.pid
        writer_threads = {int(t) for t in os.listdir(f"/proc/{writer}/task")}
        assert len(writer_threads) >= 2  # its main thread and the commit thread
        assert {_nice(writer, t) for t in writer_threads} == {expected}
        ours = [store._thread, store._acks, store._checkpointer]
        assert all(t is not None and t.native_id is not None for t in ours)
        assert {_nice(os.getpid(), t.native_id) for t in ours if t and t.native_id} == {expected}
        assert _nice(os.getpid(), threading.get_native_id()) == _nice(os.getpid())
    finally:
        store.close()
        engine.dispose()


_DAEMON = """
import json, os, threading
from netlmm_aaa.cpu_priority import background_executor, raise_event_loop

def nice(tid):
    stat = open(f"/proc/{os.getpid()}/task/{tid}/stat").read()
    return int(stat.rsplit(")", 1)[1].split()[16])

loop = raise_event_loop()
pool = background_executor("test")
worker = pool.submit(lambda: nice(threading.get_native_id())).result()
print(json.dumps({"loop": loop, "main": nice(os.getpid()), "worker": worker}))
"""


def test_the_event_loop_rises_where_it_may_and_background_work_stays_below_it() -> None:
    def run(*prefix: str) -> dict[str, int]:
        out = subprocess.run([*prefix, sys.executable, "-c", _DAEMON], capture_output=True,
                             text=True, check=True, timeout=60).stdout  # fmt: skip
        return json.loads(out.splitlines()[-1])  # type: ignore[no-any-return]

    started = _nice(os.getpid(), threading.get_native_id())
    # Not permitted (no CAP_SYS_NICE): the loop stays, the pool goes below it.
    no_sys_nice = ["setpriv", "--bounding-set=-sys_nice", "--inh-caps=-sys_nice"]
    got = run(*no_sys_nice) if os.geteuid() == 0 else run()
    assert got == {"loop": started, "main": started,
                   "worker": min(started + BACKGROUND_NICE, 19)}  # fmt: skip
    if os.geteuid() != 0:
        return
    # Permitted: the loop at EVENT_LOOP_NICE (at most 10 above where it was), the pool below it.
    rose = max(EVENT_LOOP_NICE, started - BACKGROUND_NICE) if started > EVENT_LOOP_NICE else started
    assert run() == {"loop": rose, "main": rose, "worker": rose + BACKGROUND_NICE}
