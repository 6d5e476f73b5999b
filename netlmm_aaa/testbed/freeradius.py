"""A private FreeRADIUS (PEAP/MSCHAPv2) for the 802.1X test beds: its own copy of the Debian
configuration, its own log and run directories, run in the foreground and killed by PID."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from netlmm_aaa.testbed import TestbedUnavailable

USERS = """"{user}" Cleartext-Password := "{password}"
\tChargeable-User-Identity := "{cui}",
\tClass := "class-{cui}"

"""


def make_raddb(root: Path, *, secret: str, user: str, password: str, cui: str) -> Path:
    """A configuration directory under ``root``; returns it."""
    source = Path("/etc/freeradius/3.0")
    if shutil.which("freeradius") is None or not source.is_dir():
        raise TestbedUnavailable("FreeRADIUS is not installed (Debian package freeradius)")
    raddb = root / "raddb"
    shutil.copytree(source, raddb, symlinks=True)
    for sub in ("log", "run"):
        (root / sub).mkdir(exist_ok=True)
    conf = (raddb / "radiusd.conf").read_text()
    conf = re.sub(r"^(\s*)(user|group) = freerad", r"\1#\2 = freerad", conf, flags=re.M)
    conf = conf.replace("logdir = /var/log/freeradius", f"logdir = {root / 'log'}")
    conf = re.sub(r"^run_dir = .*$", f"run_dir = {root / 'run'}", conf, flags=re.M)
    (raddb / "radiusd.conf").write_text(conf)
    (raddb / "clients.conf").write_text(
        f"client any {{\n ipaddr = 0.0.0.0/0\n secret = {secret}\n}}\n"
    )
    users = raddb / "mods-config/files/authorize"
    users.write_text(USERS.format(user=user, password=password, cui=cui) + users.read_text())
    eap = (raddb / "mods-available/eap").read_text()
    eap = eap.replace("default_eap_type = md5", "default_eap_type = peap", 1)
    peap = eap.index("peap {")
    cut = eap.index("use_tunneled_reply = no", peap)
    eap = eap[:cut] + "use_tunneled_reply = yes" + eap[cut + len("use_tunneled_reply = no") :]
    (raddb / "mods-available/eap").write_text(eap)
    inner = raddb / "sites-available/inner-tunnel"
    # hostapd then reports the inner identity, not the anonymous outer one.
    copy_name = "post-auth {\n\tupdate reply {\n\t\t&User-Name := &request:User-Name\n\t}"
    inner.write_text(inner.read_text().replace("post-auth {", copy_name, 1))
    return raddb
