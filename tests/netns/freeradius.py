"""The private FreeRADIUS of the 802.1X tests (skips when FreeRADIUS is missing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed import TestbedUnavailable
from testbed.freeradius import make_raddb as _make_raddb


def make_raddb(
    root: Path, *, secret: str, user: str, password: str, cui: str, reply: str = ""
) -> Path:
    try:
        return _make_raddb(root, secret=secret, user=user, password=password, cui=cui,
                           reply=reply)  # fmt: skip
    except TestbedUnavailable as exc:
        pytest.skip(str(exc))
