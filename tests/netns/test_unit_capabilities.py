"""The LMA daemon works with exactly the capabilities the shipped systemd unit gives it (ambient
and bounding set, applied with ``setpriv``): it must open its raw mobility socket, choose and set
up the eBPF backend (programs, maps, tc filter), and answer a PBU with its binding route in the
kernel. Without CAP_BPF (the unit's set before it was added) the eBPF backend cannot start:
checked too, so the capability list is shown to matter.

The process keeps uid 0 here (every other capability gone): this machine's virtual environment
runs an interpreter under /root (mode 0700), which another user cannot execute again, as the
store's writer process must. Installed as deploy/ describes (a venv of the system's python3 in
/opt), the unit's own user has no such obstacle."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from netlmm_aaa.core.messages import ProxyBindingAcknowledgement
from tests.conftest import REPO
from tests.lma_support import ALICE, ZERO_HNP, pbu
from tests.netns.pmip_lab import HNP, MAG_ADDR, PmipLab
from tests.netns.topology import lab

pytestmark = [pytest.mark.netns, pytest.mark.integration]

#: Capability numbers (linux/capability.h) of the unit's set, for /proc/PID/status's CapEff.
CAPABILITY_BITS = {"net_bind_service": 10, "net_admin": 12, "net_raw": 13, "bpf": 39}


def _unit_capabilities() -> list[str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((REPO / "deploy" / "systemd" / "netlmm-aaa-lma.service").read_text())
    ambient = parser["Service"]["AmbientCapabilities"].split()
    return [c.removeprefix("CAP_").lower() for c in ambient]


def _as_the_unit(capabilities: list[str], argv: list[str]) -> list[str]:
    caps = ",".join(["-all", *(f"+{c}" for c in capabilities)])
    return ["setpriv", f"--inh-caps={caps}", f"--ambient-caps={caps}", f"--bounding-set={caps}",
            *argv]  # fmt: skip


def _start(t: PmipLab, capabilities: list[str]) -> subprocess.Popen[bytes]:
    assert t.config_path is not None
    log = t.tmp / "lma.log"
    with log.open("ab") as out:
        return t.lab.spawn(
            t.ns["lma"],
            _as_the_unit(capabilities, [sys.executable, "-m", "netlmm_aaa", "lma", "--config",
                                        str(t.config_path)]),
            stdout=out, stderr=out, env=dict(os.environ, PYTHONPATH=str(REPO)),
        )  # fmt: skip


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) not installed")
def test_the_lma_runs_with_the_units_capabilities_only(tunnel_backends: dict[str, object]) -> None:
    if not getattr(tunnel_backends.get("ebpf"), "available", False):
        pytest.skip("the eBPF backend is not available on this kernel")
    capabilities = _unit_capabilities()
    assert "bpf" in capabilities and "net_admin" in capabilities
    home = Path(tempfile.mkdtemp(prefix="netlmm-unit-"))
    try:
        with lab() as L:
            t = PmipLab(L, home)
            t.build(mag_dataplane=True)
            t.write_config(signalling="ipv6")

            # Without CAP_BPF: the data plane cannot start, and says why.
            refused = _start(t, [c for c in capabilities if c != "bpf"])
            assert refused.wait(timeout=120) == 3, (home / "lma.log").read_text()[-2000:]
            assert "Operation not permitted" in (home / "lma.log").read_text()

            proc = _start(t, capabilities)
            deadline = time.monotonic() + 60
            while t.lma_control({"command": "status"}, quiet=True) is None:
                assert proc.poll() is None, (home / "lma.log").read_text()[-3000:]
                assert time.monotonic() < deadline, (home / "lma.log").read_text()[-3000:]
                time.sleep(0.1)
            assert "tunnel backend: ebpf" in (home / "lma.log").read_text()
            mag = t.mag_socket("mag1")
            try:
                message = pbu(1, 900, mn_id=ALICE, hnps=(ZERO_HNP,), hi=1, timestamp=time.time())
                t.send(mag, "mag1", message)
                answer = t.receive(mag, "mag1", ProxyBindingAcknowledgement)
            finally:
                mag.close()
            assert answer.status == 0  # type: ignore[attr-defined]
            assert t.route_peer("lma", HNP) == MAG_ADDR["mag1"]
            # The daemon itself held exactly the unit's capabilities.
            status = (Path("/proc") / str(proc.pid) / "status").read_text()
            effective = int(status.split("CapEff:")[1].split()[0], 16)
            assert effective == sum(1 << CAPABILITY_BITS[c] for c in capabilities), status
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                raise AssertionError((home / "lma.log").read_text()[-3000:]) from None
    finally:
        shutil.rmtree(home, ignore_errors=True)
