"""Network namespaces for tests (the package's test-bed helpers, skipping when unavailable)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from testbed import TestbedUnavailable
from testbed.netns import Lab, sh, wait_for
from testbed.netns import require_netns as _require

__all__ = ["Lab", "lab", "require_netns", "sh", "wait_for"]


def require_netns() -> None:
    """Skip (with the precise reason) unless root with iproute2 and netns support."""
    try:
        _require()
    except TestbedUnavailable as exc:
        pytest.skip(str(exc))


@contextmanager
def lab() -> Iterator[Lab]:
    require_netns()
    instance = Lab()
    try:
        yield instance
    finally:
        instance.close()
