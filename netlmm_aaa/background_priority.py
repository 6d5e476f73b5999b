"""The CPU priority of the daemons' background work.

A daemon's event loop decides and signals (PBUs, PBAs, accounting answers); its store threads
and store writer process commit batches, and its netlink thread writes routes in batches. On a
busy machine they all want a core at once, and the scheduler then queues the event loop behind
batch work it does not wait for: most of a PBU's delay at 1,000 accounting Starts/s on two
cores was time the MAG's event loop spent runnable but not running. Background threads and the
writer process therefore run ``BACKGROUND_NICE`` nice levels below the daemon (relative, so a
unit's own ``Nice=`` still holds). When a core is free they run at once as before; only under
contention does the event loop go first."""

from __future__ import annotations

import contextlib
import os

BACKGROUND_NICE = 10
"""Nice levels a background thread runs below the daemon that starts it."""


def lower_this_thread(daemon: int | None = None) -> None:
    """Run the calling thread ``BACKGROUND_NICE`` levels below the daemon (the process
    ``daemon``, by default this one): first thing in a background thread, or in a child process
    before it starts threads (on Linux the nice value belongs to the thread, and a thread
    inherits it from the one that creates it, so a thread started by a background thread is
    already there and stays there)."""
    with contextlib.suppress(OSError):  # the daemon gone, or no permission: left as it is
        target = min(os.getpriority(os.PRIO_PROCESS, daemon or os.getpid()) + BACKGROUND_NICE, 19)
        if os.getpriority(os.PRIO_PROCESS, 0) < target:
            os.setpriority(os.PRIO_PROCESS, 0, target)
