"""The shipped deployment files: systemd units name commands the CLI has, the hook script is a
valid executable shell script, and the FreeRADIUS profile uses attributes its dictionary has."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from netlmm_aaa.cli import build_parser
from tests.conftest import REPO

UNITS = sorted([*(REPO / "deploy" / "systemd").glob("*.service"),
                *(REPO / "hostapd_hooks").glob("*.service")])  # fmt: skip


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_units(unit: Path) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit.read_text())
    assert {"Unit", "Service", "Install"} <= set(parser.sections())
    start = shlex.split(parser["Service"]["ExecStart"])
    if "netlmm-aaa" in start[0]:
        args = build_parser().parse_args(start[1:])  # the CLI accepts exactly this command line
        assert args.config.startswith("/etc/netlmm-aaa/")
        check = shlex.split(parser["Service"]["ExecStartPre"])
        assert check[1:3] == ["config", "check"] and check[3] == args.config
        # Reload: the file checked first (systemctl reload fails on a bad one), then SIGHUP.
        reloads = [line.split("=", 1)[1] for line in unit.read_text().splitlines()
                   if line.startswith("ExecReload=")]  # fmt: skip
        assert reloads == [parser["Service"]["ExecStartPre"], "/bin/kill -HUP $MAINPID"]
        service = parser["Service"]
        # A dedicated user, private files, only the capabilities the data plane needs.
        assert service["User"] == service["Group"] == "netlmm-aaa"
        assert service["UMask"] == "0077"
        assert set(service["AmbientCapabilities"].split()) == set(
            service["CapabilityBoundingSet"].split()
        ) == {"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_BPF", "CAP_NET_BIND_SERVICE"}
        for key in ("ProtectSystem", "ProtectKernelTunables", "RestrictNamespaces",
                    "RestrictAddressFamilies", "NoNewPrivileges"):  # fmt: skip
            assert key in service, key
    else:
        assert start[0].endswith("hostapd_cli") and "-a" in start


def test_hook_script_is_executable_posix_shell() -> None:
    script = REPO / "hostapd_hooks" / "netlmm-hostapd-action"
    assert os.access(script, os.X_OK)
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    # Events the MAG does not use end in the script, without Python or a socket.
    done = subprocess.run([str(script), "acc0", "WPS-PBC-ACTIVE"], capture_output=True)
    assert (done.returncode, done.stderr) == (0, b"")


def test_freeradius_profile_attributes_exist() -> None:
    dictionary = Path("/usr/share/freeradius/dictionary.rfc6572")
    if not dictionary.exists():
        pytest.skip("FreeRADIUS dictionaries not installed (Debian freeradius-common)")
    names = {line.split()[1] for line in dictionary.read_text().splitlines()
             if line.startswith("ATTRIBUTE")}  # fmt: skip
    snippet = (REPO / "deploy" / "freeradius" / "mods-config-files-authorize.snippet").read_text()
    used = {w for w in snippet.split() if w.startswith("PMIP6-")}
    assert used and used <= names


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_knows_every_directive_of_our_units() -> None:
    units = [str(u) for u in UNITS if "netlmm-aaa-" in u.name]
    run = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    # Lines name the unit ("netlmm-aaa-lma.service: ...") or its file ("/path/...:27: Unknown
    # key ..."); the command's install path is absent here.
    ours = [line for line in run.stderr.splitlines()
            if line.startswith(("netlmm-aaa-", *units)) and "is not executable" not in line]  # fmt: skip
    assert ours == [], ours


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("unit", [u for u in UNITS if u.parent.name == "systemd"], ids=lambda p: p.name)
def test_the_daemons_units_score_ok_in_systemd_analyze_security(unit: Path) -> None:
    """Issue 24: `systemd-analyze security` rates each daemon's unit 4.0 or better ("OK")."""
    run = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=40",
                          str(unit)], capture_output=True, text=True, timeout=60)  # fmt: skip
    score = [line for line in run.stdout.splitlines() if "Overall exposure level" in line]
    assert len(score) == 1, (run.stdout[-2000:], run.stderr[-2000:])
    assert run.returncode == 0, score[0]  # over the threshold: systemd-analyze fails


def test_sysctl_and_sysusers_files() -> None:
    sysctl = (REPO / "deploy" / "sysctl.d" / "90-netlmm-aaa.conf").read_text()
    settings = dict(
        (k.strip(), v.strip())
        for k, _, v in (line.partition("=") for line in sysctl.splitlines())
        if k.strip() and not k.startswith("#")
    )
    assert settings == {"net.ipv6.conf.all.forwarding": "1", "net.ipv4.ip_forward": "1"}
    sysusers = (REPO / "deploy" / "sysusers.d" / "netlmm-aaa.conf").read_text()
    assert any(line.split()[:2] == ["u", "netlmm-aaa"] for line in sysusers.splitlines()
               if line and not line.startswith("#"))  # fmt: skip


def test_a_daemon_refuses_to_start_without_forwarding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netlmm_aaa.dataplane.port import DataPlaneError
    from netlmm_aaa.services import forwarding_check

    six, four = tmp_path / "six", tmp_path / "four"
    monkeypatch.setitem(forwarding_check.SYSCTLS, "net.ipv6.conf.all.forwarding", six)
    monkeypatch.setitem(forwarding_check.SYSCTLS, "net.ipv4.ip_forward", four)
    six.write_text("1\n")
    four.write_text("0\n")
    forwarding_check.require_forwarding("MAG", ipv4=False)  # IPv4 not served: not needed
    with pytest.raises(DataPlaneError, match=r"set net.ipv4.ip_forward = 1 \(sysctl"):
        forwarding_check.require_forwarding("MAG", ipv4=True)
    six.write_text("0\n")
    with pytest.raises(DataPlaneError, match="net.ipv6.conf.all.forwarding = 1, net.ipv4"):
        forwarding_check.require_forwarding("LMA", ipv4=True)
