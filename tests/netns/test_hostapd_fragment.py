"""The shipped hostapd fragment (hostapd_hooks/hostapd-8021x-mag.conf) is read by real hostapd
as written: it starts on a wired port and its control socket is where the MAG's
``[[mag.hostapd]] control`` looks (hostapd has no inline comments: a value followed by
``# ...`` would be rejected, or silently taken whole as the path)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.netns.topology import lab, wait_for

pytestmark = pytest.mark.netns


def test_real_hostapd_reads_the_shipped_fragment(tmp_path: Path) -> None:
    for tool in ("hostapd", "hostapd_cli"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (.ci/run installs it)")
    fragment = (REPO / "hostapd_hooks" / "hostapd-8021x-mag.conf").read_text()
    ctrl = tmp_path / "ctrl"
    conf = tmp_path / "hostapd.conf"
    conf.write_text(fragment.replace("ctrl_interface=/run/hostapd", f"ctrl_interface={ctrl}"))
    assert f"ctrl_interface={ctrl}\n" in conf.read_text()
    with lab() as L:
        ns, peer = L.ns("hfrag"), L.ns("hfragp")
        L.veth(ns, "acc0", peer, "eth0")
        log = tmp_path / "hostapd.log"
        with log.open("wb") as out:
            proc = L.spawn(ns, ["hostapd", str(conf)], stdout=out, stderr=out)
        assert wait_for(lambda: (ctrl / "acc0").exists() or proc.poll() is not None, 15), (
            log.read_text()
        )
        time.sleep(0.3)
        assert proc.poll() is None, log.read_text()
        status = L.exec(ns, "hostapd_cli", "-p", str(ctrl), "-i", "acc0", "ping")
        assert "PONG" in status
        proc.terminate()
        proc.wait(timeout=10)
    # And the comment-free form is what makes it work: the old inline-comment line fails.
    broken = tmp_path / "broken.conf"
    broken.write_text(conf.read_text().replace("driver=wired\n", "driver=wired  # a comment\n"))
    checked = subprocess.run(["hostapd", "-dd", str(broken)], capture_output=True, text=True,
                             timeout=20)  # fmt: skip
    assert checked.returncode != 0
    assert "invalid/unknown driver 'wired  # a comment'" in checked.stdout + checked.stderr
