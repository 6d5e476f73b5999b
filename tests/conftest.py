from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parent.parent
#: The shared reference folder, laid beside the repository (CI) or pointed to by NETLMM_SHARED.
SHARED = Path(os.environ.get("NETLMM_SHARED", REPO.parent / "shared"))
TESTVECTORS = SHARED / "testvectors" / "pmipv6"
VECTORS = REPO / "tests" / "vectors"

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def tshark() -> str:
    """Path of tshark; the test is skipped (with the reason) when it is not installed."""
    path = shutil.which("tshark")
    if path is None:
        pytest.skip("tshark is not installed (Debian package 'tshark'; .ci/run installs it)")
    return path


@pytest.fixture(scope="session")
def testvectors() -> Path:
    """The shared PMIPv6 captures of other implementations."""
    if not TESTVECTORS.is_dir():
        pytest.skip(f"shared test vectors not found at {TESTVECTORS} (set NETLMM_SHARED)")
    return TESTVECTORS
