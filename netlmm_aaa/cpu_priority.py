"""CPU priority: a daemon's event loop above its own background work.

A daemon's event loop decides and signals (PBUs, PBAs, accounting answers); its store threads
and store writer process commit batches, and its netlink thread writes routes in batches. On a
busy machine they all want a core at once, and the scheduler then queues the event loop behind
batch work it does not wait for: most of a PBU's delay at 1,000 accounting Starts/s on two
cores was time the MAG's event loop spent runnable but not running.

So the event loop runs ``BACKGROUND_NICE`` nice levels above its background threads and writer
process. Where the daemon may raise its priority (root, or ``CAP_SYS_NICE``), the event loop
rises by that much (to ``EVENT_LOOP_NICE`` at most) and the background work stays at the nice
value the daemon started with, level with the other processes on the machine (hostapd,
FreeRADIUS): the background work is on the handover's path too (the LMA commits and installs
routes before its PBA). A unit's ``Nice=-10`` does the same without the capability. Where the
daemon may not rise, the background work goes below instead. When a core is free, all of it
runs at once as before; only under contention does the event loop go first."""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor

BACKGROUND_NICE = 10
"""Nice levels between the event loop and its background threads and writer process."""

EVENT_LOOP_NICE = -10
"""The highest priority (lowest nice value) the event loop raises itself to."""


def raise_event_loop() -> int:
    """Raise the calling thread (the daemon's event loop, before it starts any thread) by
    ``BACKGROUND_NICE`` levels, to ``EVENT_LOOP_NICE`` at most, if it may; returns its nice
    value."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if current > EVENT_LOOP_NICE:
        with contextlib.suppress(OSError):  # not permitted: background work goes below instead
            os.setpriority(os.PRIO_PROCESS, 0, max(EVENT_LOOP_NICE, current - BACKGROUND_NICE))
    return os.getpriority(os.PRIO_PROCESS, 0)


def lower_this_thread(daemon: int | None = None) -> None:
    """Run the calling thread ``BACKGROUND_NICE`` levels below the event loop of the daemon
    (the process ``daemon``, by default this one): first thing in a background thread, or in a
    child process before it starts threads (on Linux the nice value belongs to the thread, and a
    thread inherits it from the one that creates it, so a thread started by a background thread
    is already there and stays there)."""
    with contextlib.suppress(OSError):  # the daemon gone, or no permission: left as it is
        target = min(os.getpriority(os.PRIO_PROCESS, daemon or os.getpid()) + BACKGROUND_NICE, 19)
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if current < target:
            os.setpriority(os.PRIO_PROCESS, 0, target)


def background_executor(name: str, workers: int | None = None) -> ThreadPoolExecutor:
    """A thread pool whose threads run below the event loop: the netlink threads, and the
    event loop's default executor (``asyncio.to_thread``: start-up loads, retention's deletes,
    reloads)."""
    return ThreadPoolExecutor(workers, thread_name_prefix=name, initializer=lower_this_thread)
