"""The MAG's RADIUS authentication relay between a real 802.1X client (eapol_test, hostapd's
RADIUS/EAP code) and a real FreeRADIUS: PEAP/MSCHAPv2 succeeds through it with different secrets
on each hop, eapol_test finds the MS-MPPE keys it derived itself in the relayed Access-Accept
(so the salted keys were re-encrypted correctly), the RFC 6572 profile of the Accept is read by
the station's MAC, a TLS-resumed re-authentication works too, and a NAS with the wrong secret or
an unknown address gets nothing."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from netlmm_aaa.adapters.radius_auth_relay import RadiusAuthRelay
from testbed.freeradius import accounting_server
from netlmm_aaa.wire.radius_auth import MobilityProfile

pytestmark = pytest.mark.integration

PROFILE = """
PMIP6-Home-HN-Prefix := 2001:db8:1:77::/64
PMIP6-Home-IPv4-HoA := 203.0.113.77/32
PMIP6-Home-LMA-IPv6-Address := 2001:db8:ff::1
"""
EAPOL_TEST = """network={{
  key_mgmt=IEEE8021X
  eap=PEAP
  identity="alice@example.org"
  anonymous_identity="anonymous@example.org"
  password="pw-alice"
  phase2="auth=MSCHAPV2"
  {extra}
}}
"""
MAC = "02:00:00:aa:bb:01"


def _free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port < 65000:
            return port


async def _eapol_test(conf: Path, port: int, secret: str, *extra: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "eapol_test", "-c", str(conf), "-a", "127.0.0.1", "-p", str(port), "-s", secret,
        "-M", MAC, "-t", "8", *extra,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return out.decode(errors="replace")


def test_relay_between_eapol_test_and_freeradius(tmp_path: Path) -> None:
    for tool in ("freeradius", "radclient", "eapol_test"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian freeradius, freeradius-utils, eapoltest)")
    server_port = _free_port()
    profiles: list[tuple[str, MobilityProfile]] = []
    rejected: list[tuple[str, str]] = []
    conf = tmp_path / "eapol_test.conf"
    conf.write_text(EAPOL_TEST.format(extra=""))
    resumed_conf = tmp_path / "eapol_test_resume.conf"
    resumed_conf.write_text(EAPOL_TEST.format(extra=""))

    async def scenario(server: int) -> tuple[str, str, str, str]:
        relay = RadiusAuthRelay(
            nas_secrets={"127.0.0.1": b"nas-secret"},
            server=("127.0.0.1", server),
            server_secret=b"server-secret",
            profile_seen=lambda mac, p, nas: profiles.append((mac, p)),
            rejected=lambda source, reason, detail: rejected.append((source, reason)),
        )
        await relay.start("127.0.0.1", 0)
        try:
            first = await _eapol_test(conf, relay.port, "nas-secret")
            # Two authentications in one run: the second resumes the TLS session (-r1).
            resumed = await _eapol_test(resumed_conf, relay.port, "nas-secret", "-r1")
            wrong = await _eapol_test(conf, relay.port, "not-the-secret", "-t", "3")
            # From an address that is no NAS: the relay on IPv6 loopback has no NAS there.
            stranger = RadiusAuthRelay(
                nas_secrets={"192.0.2.1": b"nas-secret"}, server=("127.0.0.1", server),
                server_secret=b"server-secret", profile_seen=lambda mac, p, nas: None,
                rejected=lambda source, reason, detail: rejected.append((source, reason)),
            )  # fmt: skip
            await stranger.start("127.0.0.1", 0)
            try:
                unknown = await _eapol_test(conf, stranger.port, "nas-secret", "-t", "3")
            finally:
                stranger.close()
        finally:
            relay.close()
        return first, resumed, wrong, unknown

    with accounting_server(tmp_path / "freeradius", server_port, "server-secret",
                           user="alice@example.org", password="pw-alice", reply=PROFILE):  # fmt: skip
        first, resumed, wrong, unknown = asyncio.run(scenario(server_port))
    assert "SUCCESS" in first, first[-3000:]
    assert "MPPE keys OK: 1  mismatch: 0" in first, first[-3000:]
    assert "SUCCESS" in resumed, resumed[-3000:]
    assert "MPPE keys OK: 2  mismatch: 0" in resumed, resumed[-3000:]
    assert "SUCCESS" not in wrong
    assert "SUCCESS" not in unknown
    assert ("127.0.0.1", "bad_message_authenticator") in rejected
    assert ("127.0.0.1", "unknown_nas") in rejected
    assert len(profiles) == 3  # the first authentication and both of the resumed run
    mac, profile = profiles[0]
    assert mac == MAC
    assert profile.home_network_prefix == "2001:db8:1:77::/64"
    assert profile.ipv4_home_address == "203.0.113.77"
    assert profile.lma_address == "2001:db8:ff::1"
    assert profile.mn_id == b"c"  # the CUI the server returns
    # The resumed session's Accept carries what FreeRADIUS's TLS cache restored: the test bed
    # caches the profile as deploy/freeradius says, so the handover's Accept has it too.
    assert [p for _, p in profiles] == [profile] * 3
    assert all(m == MAC for m, _ in profiles)
