"""The shipped deployment files: systemd units name commands the CLI has, the hook script is a
valid executable shell script, and the FreeRADIUS profile uses attributes its dictionary has."""

from __future__ import annotations

import configparser
import os
import shlex
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
