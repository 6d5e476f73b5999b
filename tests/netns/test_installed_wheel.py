"""What an operator does on a new machine: build the wheel, install it into a fresh virtual
environment, and run every subcommand from that installation alone (outside the source tree):
``--help``, ``config check`` on every shipped example, ``decode`` of a capture, ``db upgrade``,
both daemons in network namespaces until they report ready on ``/metrics``, ``lma bindings``,
every report in every format (html too) and ``db prune`` on the stores the daemons wrote,
``db sample`` into a scratch store."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import VECTORS
from tests.netns.pmip_lab import LMAA, MAG_ADDR, REPO, ROUTER_V4, PmipLab
from tests.metrics_text import sample
from tests.netns.topology import lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.integration, pytest.mark.slow]

MAG = """
[mag]
name = "mag1"
proxy_coa = "{pcoa}"
lma_address = "{lmaa}"
transport_device = "tr0"
access_interfaces = ["acc0"]
ipv4_router = "{router}"
database = "sqlite:///{db}"
accounting_listen = "127.0.0.1"
metrics_listen = "127.0.0.1:9814"

[[mag.nas]]
name = "wlc"
address = "127.0.0.1"
secret = "s3cret"
interface = "acc0"
"""


def _run(*argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def test_wheel_installs_and_both_daemons_start(tmp_path: Path) -> None:
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                 str(tmp_path / "dist"), str(REPO))  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = (tmp_path / "dist").glob("netlmm_aaa-*.whl")
    venv = tmp_path / "venv"
    made = _run(sys.executable, "-m", "venv", str(venv))
    assert made.returncode == 0, made.stderr[-2000:]
    installed = _run(str(venv / "bin" / "pip"), "install", "-q", str(wheel))
    assert installed.returncode == 0, installed.stderr[-3000:]
    tool = str(venv / "bin" / "netlmm-aaa")
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import netlmm_aaa; print(netlmm_aaa.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True)  # fmt: skip
    assert where.stdout.startswith(str(venv))  # the installed copy, not the source tree
    helped = _run(tool, "--help")
    assert helped.returncode == 0
    for command in ("lma", "mag", "demo", "report", "db", "config", "decode"):
        assert command in helped.stdout
    # The demo's test bed is not in the wheel: the installed command says where it runs.
    demo = subprocess.run([tool, "demo"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert demo.returncode == 2, (demo.stdout, demo.stderr)
    assert "clone of the repository" in demo.stderr
    examples = sorted((REPO / "examples").rglob("*.toml"))
    assert len(examples) >= 6
    for example in examples:
        checked = _run(tool, "config", "check", str(example))
        assert checked.returncode == 0, (example, checked.stdout, checked.stderr)
        assert "valid" in checked.stdout
    decoded = _run(tool, "decode", str(VECTORS / "opmip-lma-mag-signaling.pcapng"))
    assert decoded.returncode == 0, decoded.stderr[-2000:]
    messages = [json.loads(line) for line in decoded.stdout.splitlines()]
    assert any(m.get("type") == "PBU" for m in messages), messages[:3]
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgraded = _run(tool, "db", "upgrade", "--db", fresh)
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]

    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True)
        config = t.write_config()
        logs = {name: (tmp_path / f"{name}.log").open("ab") for name in ("lma", "mag")}
        mag_config = tmp_path / "mag.toml"
        mag_config.write_text(MAG.format(pcoa=MAG_ADDR["mag1"], lmaa=LMAA, router=ROUTER_V4,
                                         db=tmp_path / "mag.db"))  # fmt: skip
        # The installed command, outside the source tree (no PYTHONPATH to the repository).
        L.spawn(t.ns["lma"], [tool, "lma", "--config", str(config)], stdout=logs["lma"],
                stderr=logs["lma"], cwd=str(tmp_path))  # fmt: skip
        L.spawn(t.ns["mag1"], [tool, "mag", "--config", str(mag_config)], stdout=logs["mag"],
                stderr=logs["mag"], cwd=str(tmp_path))  # fmt: skip
        for log in logs.values():
            log.close()
        began = time.monotonic()
        assert wait_for(lambda: sample(t.scrape("lma"), "netlmm_ready", daemon="lma") == 1,
                        60), (tmp_path / "lma.log").read_text()[-3000:]  # fmt: skip
        assert wait_for(
            lambda: sample(t.scrape("mag1", 9814), "netlmm_ready", daemon="mag") == 1, 60
        ), (tmp_path / "mag.log").read_text()[-3000:]
        assert time.monotonic() - began < 60
        listed = _run(tool, "lma", "--config", str(config), "bindings")
        assert listed.returncode == 0, listed.stderr[-2000:]
        assert listed.stdout.startswith("0 binding(s) (from the running LMA)"), listed.stdout
    # Every report in every format, from the installed package, on both daemons' stores.
    for store in ("lma.db", "mag.db"):
        db = f"sqlite:///{tmp_path / store}"
        for report in ("trail", "handovers", "aps", "security", "signaling"):
            for form in ("table", "csv", "json"):
                node = ["alice@example.org"] if report == "trail" else []  # trail: one node's
                made = _run(tool, "report", report, *node, "--db", db, "--format", form)
                assert made.returncode == 0, (store, report, form, made.stderr[-2000:])
                if form == "json":
                    json.loads(made.stdout)
        page = tmp_path / f"{store}.html"
        html = _run(tool, "report", "html", "--db", db, str(page))
        assert html.returncode == 0, html.stderr[-2000:]
        assert page.read_text().lstrip().lower().startswith("<!doctype html")
        sampled = _run(tool, "db", "sample", "--db", f"sqlite:///{tmp_path / f'sample-{store}'}",
                       "--stations", "5", "--days", "1")  # fmt: skip
        assert sampled.returncode == 0 and "5 sessions open" in sampled.stdout, sampled.stderr
        pruned = _run(tool, "db", "prune", "--db", db, "--older-than", "90d")
        assert pruned.returncode == 0, pruned.stderr[-2000:]
        assert pruned.stdout.startswith("deleted the rows recorded before"), pruned.stdout
