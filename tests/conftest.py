from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

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


#: What ``dataplane probe`` found on this kernel (filled by the ``tunnel_backends`` fixture).
_BACKEND_PROBES: list[Any] = []


@pytest.fixture(scope="session")
def tunnel_backends() -> dict[str, Any]:
    """The tunnel backends of this kernel: name -> BackendProbe (probed once, in a scratch
    namespace; skipped without root). The run's summary lists them and the tests each ran."""
    from netlmm_aaa.dataplane.backend_probe import probe_backends
    from testbed import TestbedUnavailable
    from testbed.netns import require_netns

    try:
        require_netns()
    except TestbedUnavailable as exc:
        pytest.skip(str(exc))
    if not _BACKEND_PROBES:
        _BACKEND_PROBES.extend(probe_backends())
    return {p.backend: p for p in _BACKEND_PROBES}


def require_backend(backends: dict[str, Any], name: str) -> None:
    """Skip, naming what the kernel lacks, unless backend ``name`` works here; fail instead
    when ``NETLMM_REQUIRE_BACKENDS`` (comma-separated) names it (the stock-kernel lane)."""
    probe = backends.get(name)
    if probe is None or not probe.available:
        why = (f"tunnel backend {name} is not available on this kernel: "
               f"{probe.reason if probe else 'not probed'}")  # fmt: skip
        if name in os.environ.get("NETLMM_REQUIRE_BACKENDS", "").split(","):
            pytest.fail(why)
        pytest.skip(why)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _BACKEND_PROBES:
        return
    terminalreporter.section("tunnel backends on this kernel")
    outcomes: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") not in ("call", "setup"):
                continue
            for probe in _BACKEND_PROBES:
                if f"[{probe.backend}" in report.nodeid or f"-{probe.backend}]" in report.nodeid:
                    counts = outcomes.setdefault(probe.backend, {})
                    counts[outcome] = counts.get(outcome, 0) + 1
    for probe in _BACKEND_PROBES:
        ran = outcomes.get(probe.backend, {})
        tally = ", ".join(f"{n} {k}" for k, n in sorted(ran.items())) or "no tests"
        state = "available" if probe.available else "unavailable"
        terminalreporter.write_line(f"{probe.backend}: {state} ({probe.reason}); tests: {tally}")
