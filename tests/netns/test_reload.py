"""Reload (SIGHUP) of both daemons for real: a new NAS secret is taken without a binding lost
or a packet path changed, the old secret is refused from then on, and a file that is invalid
or changes what takes a restart is refused with the running configuration kept; each outcome
is in the audit trail."""

from __future__ import annotations

import json
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from testbed.pmip import WLC_NAS
from tests.netns.pmip_lab import MN_V6, PmipLab
from tests.netns.topology import lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.integration]

LMA_AAA = """
[lma.aaa]
listen = "127.0.0.1"
port = 1814

[[lma.aaa.nas]]
name = "aaa"
address = "127.0.0.1"
secret = "{secret}"
mag = "mag1"
"""


def _accounting(ns: str, port: int, secret: str, status: str, mac: str, session: str) -> bool:
    """An Accounting-Request from radclient in ``ns`` to 127.0.0.1:``port``: answered?"""
    attributes = (f'Acct-Status-Type = {status}\nAcct-Authentic = RADIUS\n'
                  f'Calling-Station-Id = "{mac}"\nUser-Name = "alice@example.org"\n'
                  f'Acct-Session-Id = "{session}"\nEvent-Timestamp = {int(time.time())}\n')  # fmt: skip
    done = subprocess.run(["ip", "netns", "exec", ns, "radclient", "-r", "1", "-t", "2",
                           f"127.0.0.1:{port}", "acct", secret],
                          input=attributes, capture_output=True, text=True, timeout=30)  # fmt: skip
    return done.returncode == 0


def _audit(db: Path, kind: str) -> list[str]:
    """The details of the audit records of ``kind`` (JSON text), oldest first."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT details FROM audit_events WHERE kind = ? ORDER BY id", (kind,)
        ).fetchall()
    return [str(r[0]) for r in rows]


def test_sighup_takes_new_nas_secrets_and_keeps_every_binding(tmp_path: Path) -> None:
    if shutil.which("radclient") is None:
        pytest.skip("radclient not installed (Debian freeradius-utils; .ci/run installs it)")
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True)
        lma_config = t.write_config()
        lma_file = lma_config.read_text()
        lma_config.write_text(lma_file + LMA_AAA.format(secret="aaa-old"))
        t.start_lma()
        mac = t.mac()

        def write_mag(secret: str, keys: str = "") -> Path:
            return t.write_mag_config(keys=keys, tables=WLC_NAS.replace("s3cret", secret))

        config = write_mag("nas-old")
        log = tmp_path / "mag.log"
        mag = t.start_mag(config, log=log)
        lma_ns, mag_ns = t.ns["lma"], t.ns["mag1"]

        # The AAA places alice at MAG1 (RFC 5213 §11 check), then MAG1's NAS says she is there.
        assert _accounting(lma_ns, 1814, "aaa-old", "Start", mac, "S1")
        assert _accounting(mag_ns, 1813, "nas-old", "Start", mac, "S1")

        def binding() -> tuple[str, str, str] | None:
            listed = t.lma_control({"command": "bindings"})
            rows = listed["bindings"] if listed else []
            return ((rows[0]["mag"], rows[0]["state"], rows[0]["registered_utc"])
                    if len(rows) == 1 else None)  # fmt: skip

        assert wait_for(lambda: binding() is not None, 10), (tmp_path / "lma.log").read_text()
        before = binding()
        assert before is not None and before[:2] == ("mag1", "active"), before
        assert wait_for(lambda: t.ping("cn", MN_V6, count=1), 10)

        # New secrets on both daemons (and a timer at the LMA), reloaded.
        write_mag("nas-new")
        timers = lma_file.replace("heartbeat_interval = 0",
                                  "heartbeat_interval = 0\nbri_max_retries = 3")  # fmt: skip
        assert timers != lma_file
        lma_config.write_text(timers + LMA_AAA.format(secret="aaa-new"))
        mag.send_signal(signal.SIGHUP)
        assert t.lma_proc is not None
        t.lma_proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: _audit(tmp_path / "mag1.db", "config_reloaded"), 10), (
            log.read_text()[-3000:])  # fmt: skip
        assert wait_for(lambda: _audit(tmp_path / "lma.db", "config_reloaded"), 10), (
            (tmp_path / "lma.log").read_text()[-3000:])  # fmt: skip
        assert mag.poll() is None and t.lma_proc.poll() is None
        # Nothing moved: the same binding, registered at the same moment, still forwarding.
        assert binding() == before
        assert t.uplink_marks("mag1")[f"{mac} . 2001:db8:1:1::/64"] == 100
        assert t.ping("cn", MN_V6, count=1)
        # The old secrets are refused from now on, the new ones answered.
        assert not _accounting(mag_ns, 1813, "nas-old", "Interim-Update", mac, "S1")
        assert _accounting(mag_ns, 1813, "nas-new", "Interim-Update", mac, "S1")
        assert not _accounting(lma_ns, 1814, "aaa-old", "Interim-Update", mac, "S1")
        assert _accounting(lma_ns, 1814, "aaa-new", "Interim-Update", mac, "S1")

        # A file that changes what takes a restart, then one that is invalid: both refused,
        # the running configuration (the new secret) kept.
        write_mag("nas-third", keys="mtu = 1400")
        mag.send_signal(signal.SIGHUP)
        assert wait_for(lambda: len(_audit(tmp_path / "mag1.db", "config_reload_refused")) == 1, 10)
        config.write_text(config.read_text().replace('secret = "nas-third"', "secret = 7"))
        mag.send_signal(signal.SIGHUP)
        assert wait_for(lambda: len(_audit(tmp_path / "mag1.db", "config_reload_refused")) == 2, 10)
        refused = _audit(tmp_path / "mag1.db", "config_reload_refused")
        assert "mag.mtu" in refused[0] and "mag.nas[0].secret" in refused[1], refused
        assert mag.poll() is None
        assert _accounting(mag_ns, 1813, "nas-new", "Interim-Update", mac, "S1")
        assert not _accounting(mag_ns, 1813, "nas-third", "Interim-Update", mac, "S1")
        lma_config.write_text(lma_file.replace("2001:db8:1000::/48", "2001:db8:2000::/48")
                              + LMA_AAA.format(secret="aaa-new"))  # fmt: skip
        t.lma_proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: _audit(tmp_path / "lma.db", "config_reload_refused"), 10)
        assert "lma.pools.prefix" in _audit(tmp_path / "lma.db", "config_reload_refused")[0]
        assert binding() == before and t.lma_proc.poll() is None

        # Node profiles reload, the mobile_node_policies table read again: a profile added in
        # SQL is counted; a file giving alice's static prefix to another node while alice's
        # binding holds it is refused by name, alice's binding untouched.
        with sqlite3.connect(tmp_path / "lma.db") as connection:
            connection.execute(
                "INSERT INTO mobile_node_policies (mn_id, proxy_mobility, ipv4_service, "
                "ipv6_service) VALUES ('bob@example.org', 0, 1, 1)"
            )
        lma_config.write_text(lma_file + LMA_AAA.format(secret="aaa-new"))
        t.lma_proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: len(_audit(tmp_path / "lma.db", "config_reloaded")) == 2, 10)
        details = json.loads(_audit(tmp_path / "lma.db", "config_reloaded")[1])
        assert details["mobile_node_profiles"] == 2 and details["mobile_nodes_changed"] == 1
        moved = lma_file.replace('mn_id = "alice@example.org"', 'mn_id = "carol@example.org"')
        assert moved != lma_file
        lma_config.write_text(moved + LMA_AAA.format(secret="aaa-new"))
        t.lma_proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: len(_audit(tmp_path / "lma.db", "config_reload_refused")) == 2, 10)
        refused = _audit(tmp_path / "lma.db", "config_reload_refused")[1]
        assert "held by 'alice@example.org'" in refused, refused
        assert binding() == before and t.ping("cn", MN_V6, count=1)
        mag.terminate()
        mag.wait(timeout=15)
        assert mag.returncode == 0, log.read_text()[-3000:]


def test_sighup_adds_a_mag_whose_node_is_then_reachable(tmp_path: Path) -> None:
    """The LMA starts knowing MAG1 only: MAG2's PBU is refused. The MAG is added to the file
    and SIGHUP sent: the LMA's data plane decapsulates from MAG2 and its core takes MAG2's
    PBUs, so the node behind MAG2 registers and the CN reaches it through MAG2's tunnel."""
    if shutil.which("radclient") is None:
        pytest.skip("radclient not installed (Debian freeradius-utils; .ci/run installs it)")
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True, patch_panel=True)
        lma_config = t.write_config()
        full = lma_config.read_text()
        mag2 = re.search(r'\[\[lma\.mag\]\]\nname = "mag2"\naddresses = \[[^\]]*\]\n', full)
        assert mag2 is not None
        lma_config.write_text(full.replace(mag2.group(0), ""))
        t.start_lma()
        t.move_cable("br2")  # the node is on MAG2's access link
        t.start_mag(t.write_mag_config("mag2"), mag="mag2")
        mac = t.mac()

        def bindings() -> list[dict[str, object]]:
            listed = t.lma_control({"command": "bindings"})
            return list(listed["bindings"]) if listed else []

        assert _accounting(t.ns["mag2"], 1813, "s3cret", "Start", mac, "M1")
        time.sleep(2)
        assert bindings() == []  # MAG2 is not a peer yet: its PBU was refused
        lma_config.write_text(full)
        assert t.lma_proc is not None
        t.lma_proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: _audit(tmp_path / "lma.db", "config_reloaded"), 10), (
            (tmp_path / "lma.log").read_text()[-3000:])  # fmt: skip
        details = json.loads(_audit(tmp_path / "lma.db", "config_reloaded")[0])
        assert details["mags_changed"] == ["mag2"], details
        assert _accounting(t.ns["mag2"], 1813, "s3cret", "Start", mac, "M2")
        assert wait_for(lambda: [b["mag"] for b in bindings()] == ["mag2"], 15), (
            (tmp_path / "mag2.log").read_text()[-3000:])  # fmt: skip
        assert wait_for(lambda: t.ping("cn", MN_V6, count=1), 15), "CN -> MN through MAG2"

        # MAG2 serves the node: it may not leave. MAG1 serves none: it may, the node unmoved.
        lma_config.write_text(full.replace(mag2.group(0), ""))
        t.lma_proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: _audit(tmp_path / "lma.db", "config_reload_refused"), 10)
        refused = _audit(tmp_path / "lma.db", "config_reload_refused")[0]
        assert "mag2 may not leave while it serves 1 mobile nodes" in refused, refused
        mag1 = re.search(r'\[\[lma\.mag\]\]\nname = "mag1"\naddresses = \[[^\]]*\]\n', full)
        assert mag1 is not None
        lma_config.write_text(full.replace(mag1.group(0), ""))
        t.lma_proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: len(_audit(tmp_path / "lma.db", "config_reloaded")) == 2, 10)
        details = json.loads(_audit(tmp_path / "lma.db", "config_reloaded")[1])
        assert details["mags"] == ["mag2"] and details["mags_changed"] == ["mag1"], details
        assert [b["mag"] for b in bindings()] == ["mag2"]
        assert t.ping("cn", MN_V6, count=1), "CN -> MN through MAG2 after MAG1 left"
