"""A private FreeRADIUS (PEAP/MSCHAPv2) for the 802.1X test beds: its own copy of the Debian
configuration, its own log and run directories, run in the foreground and killed by PID."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from testbed import TestbedUnavailable

USERS = """"{user}" Cleartext-Password := "{password}"
\tChargeable-User-Identity := "{cui}",
\tClass := "class-{cui}"{reply}

"""


def make_raddb(
    root: Path, *, secret: str, user: str, password: str, cui: str, reply: str = ""
) -> Path:
    """A configuration directory under ``root``; returns it. ``reply``: more reply attributes
    for the user, one ``Name := value`` per line (e.g. the RFC 6572 profile)."""
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
    extra = "".join(f",\n\t{line.strip()}" for line in reply.splitlines() if line.strip())
    entry = USERS.format(user=user, password=password, cui=cui, reply=extra)
    users.write_text(entry + users.read_text())
    eap = (raddb / "mods-available/eap").read_text()
    eap = eap.replace("default_eap_type = md5", "default_eap_type = peap", 1)
    peap = eap.index("peap {")
    cut = eap.index("use_tunneled_reply = no", peap)
    eap = eap[:cut] + "use_tunneled_reply = yes" + eap[cut + len("use_tunneled_reply = no") :]
    # TLS session resumption (wpa_supplicant fast_reauth=1): a re-authentication after a
    # handover takes 4 RADIUS round trips instead of 10. The cached reply attributes come back
    # on resumption (the default site copies session-state to the reply), so the NAS still
    # gets the inner User-Name, the CUI and Class.
    cache_dir = root / "tlscache"
    cache_dir.mkdir(exist_ok=True)
    start = eap.index("cache {")
    end = eap.index("store {", start)
    section = re.sub(r"^(\s*)enable = no", r"\1enable = yes", eap[start:end], count=1, flags=re.M)
    section = section.replace('#\tname = "EAP module"', 'name = "netlmm-testbed"', 1)
    section = section.replace('#\tpersist_dir = "${logdir}/tlscache"',
                              f'persist_dir = "{cache_dir}"', 1)  # fmt: skip
    store_end = eap.index("}", end)
    # The RFC 6572 profile too, so the Accept of a resumed session (the handover) carries it.
    stored = ("User-Name", "Chargeable-User-Identity", "Class", "PMIP6-Home-HN-Prefix",
              "PMIP6-Home-IPv4-HoA", "PMIP6-Home-LMA-IPv6-Address")  # fmt: skip
    eap = (eap[:start] + section + "store {\n" + "".join(f"\t\t\t\t{a}\n" for a in stored)
           + "\t\t\t" + eap[store_end:])  # fmt: skip
    (raddb / "mods-available/eap").write_text(eap)
    inner = raddb / "sites-available/inner-tunnel"
    # hostapd then reports the inner identity, not the anonymous outer one.
    copy_name = "post-auth {\n\tupdate reply {\n\t\t&User-Name := &request:User-Name\n\t}"
    inner.write_text(inner.read_text().replace("post-auth {", copy_name, 1))
    return raddb


@contextlib.contextmanager
def accounting_server(
    root: Path,
    port: int,
    secret: str,
    *,
    user: str = "nobody@example.org",
    password: str = "x",
    reply: str = "",
    netns: str | None = None,
) -> Iterator[Path]:
    """FreeRADIUS with its default accounting (the ``detail`` file) listening on loopback,
    ``port`` for authentication, ``port + 1`` for accounting (``port + 2`` its inner tunnel);
    yields the directory under which it writes ``<client>/detail-*``. ``user``/``password``/
    ``reply``: the one PEAP user it knows (see :func:`make_raddb`). ``netns``: run it (and the
    readiness probe) inside that network namespace, on its loopback."""
    inside = ["ip", "netns", "exec", netns] if netns else []
    raddb = make_raddb(root, secret=secret, user=user, password=password, cui="c", reply=reply)
    # Loopback only, on our ports (the command line's -i/-p would bypass the virtual server).
    site = raddb / "sites-available" / "default"
    text = site.read_text()
    for wanted in (port, port + 1, port, port + 1):  # auth, acct (IPv4), auth, acct (IPv6)
        text = text.replace("\tport = 0\n", f"\tport = {wanted}\n", 1)
    text = text.replace("\tipaddr = *\n", "\tipaddr = 127.0.0.1\n")
    text = text.replace("ipv6addr = ::", "ipv6addr = ::1")
    site.write_text(text)
    inner = raddb / "sites-available" / "inner-tunnel"
    inner.write_text(inner.read_text().replace("port = 18120", f"port = {port + 2}"))
    log = (root / "radiusd.log").open("wb")
    proc = subprocess.Popen([*inside, "freeradius", "-f", "-d", str(raddb)], stdout=log,
                            stderr=log)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            probe = subprocess.run([*inside, "radclient", "-q", "-r", "1", "-t", "1",
                                    f"127.0.0.1:{port + 1}", "acct", secret],
                                   input="Acct-Status-Type = Start\nAcct-Session-Id = probe\n",
                                   capture_output=True, text=True)  # fmt: skip
            if probe.returncode == 0:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise TestbedUnavailable(
                    "FreeRADIUS did not answer: " + (root / "radiusd.log").read_text()[-2000:]
                )
        yield root / "log" / "radacct"
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
