"""Process-wide settings the daemons share once they are ready."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import Iterator

from netlmm_aaa.cpu_priority import BACKGROUND_NICE, background_executor, raise_event_loop

log = logging.getLogger(__name__)

SWITCH_INTERVAL = 0.0005
"""Seconds a thread may keep the GIL while another waits (Python's default is 5 ms)."""


def quick_thread_switches() -> None:
    """The daemons' store, netlink and acknowledgement threads must not hold the GIL for the
    default 5 ms while a PBU or an accounting request waits: switch every 0.5 ms, so that
    signalling and accounting answers stay at a millisecond or two."""
    sys.setswitchinterval(SWITCH_INTERVAL)


def schedule_as_daemon(loop: asyncio.AbstractEventLoop) -> None:
    """First thing in a daemon's ``run``, before it starts any thread: quick thread switches,
    the event loop above its background work (``netlmm_aaa.cpu_priority``), and ``loop``'s
    default executor (``asyncio.to_thread``) among that background work."""
    quick_thread_switches()
    log.info("event loop at nice %d, store and netlink threads %d below", raise_event_loop(),
             BACKGROUND_NICE)  # fmt: skip
    loop.set_default_executor(background_executor("asyncio"))


def settle_heap(young: int = 20_000) -> None:
    """Everything loaded at start-up (modules, configuration, restored state) lives for the
    whole run: move it out of the cyclic collector's reach, and collect young objects less
    often. Without this a full collection walks the whole start-up heap (40-80 ms measured on
    the MAG's accounting path), which shows up as a latency spike of every request waiting."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(young, 20, 50)


@contextlib.contextmanager
def bulk_loading() -> Iterator[None]:
    """Pause the cyclic collector while start-up builds large, long-lived state (a restarting
    LMA rebuilds a million bindings: the collections its allocations triggered walked the
    growing heap again and again, most of the restore's time). Call :func:`settle_heap` once
    the daemon is ready."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
