"""The data planes: one port per daemon (:class:`.port.LmaDataPlane`, :class:`.port.MagDataPlane`),
their Linux implementations (:mod:`.lma_linux`, :mod:`.mag_linux`) on the tunnel backend the
kernel offers (:mod:`.tunnel_backend`), and recording doubles for tests and ``--dry-run``
(:mod:`.in_memory`)."""

from __future__ import annotations
