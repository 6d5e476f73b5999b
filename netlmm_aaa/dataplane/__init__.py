"""The data plane: one interface (:class:`.port.DataPlane`), a Linux implementation on pyroute2
(:mod:`.linux_pyroute2`) and an in-memory one for tests and ``--dry-run`` (:mod:`.in_memory`)."""

from __future__ import annotations
