"""Revocation at a NAS known only by its accounting (a WLAN controller): the LMA revokes the
binding (``lma revoke``, RFC 5846), the MAG sends an RFC 5176 Disconnect-Request to the NAS's
``disconnect_port``; a NAS simulator in the MAG's namespace checks its authenticator with pyrad
and answers Disconnect-ACK, and the MAG audits the outcome."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

from testbed.load import accounting_request
from testbed.pmip import WLC_NAS
from tests.netns.pmip_lab import REPO, PmipLab
from tests.netns.topology import lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.integration]

NAS_SIMULATOR = """
import json, socket, sys
sys.path.insert(0, sys.argv[1])
from pyrad.packet import CoAPacket
from netlmm_aaa.adapters.radius_disconnect import DICTIONARY
port, secret, out = int(sys.argv[2]), sys.argv[3].encode(), sys.argv[4]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", port))
open(out + ".ready", "w").close()
while True:
    data, peer = sock.recvfrom(4096)
    request = CoAPacket(packet=data, secret=secret, dict=DICTIONARY)
    seen = {"code": request.code, "verified": request.VerifyCoARequest(),
            "attributes": {k: [str(v) for v in request[k]] for k in request.keys()}}
    with open(out, "a") as stream:
        stream.write(json.dumps(seen) + "\\n")
    sock.sendto(request.CreateReply().ReplyPacket(), peer)
"""


def test_a_revoked_station_of_a_controller_is_disconnected(tmp_path: Path) -> None:
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True)
        t.write_config()
        t.start_lma()
        seen = tmp_path / "nas-seen.jsonl"
        L.spawn(t.ns["mag1"], [sys.executable, "-c", NAS_SIMULATOR, str(REPO), "3799",
                               "s3cret", str(seen)])  # fmt: skip
        assert wait_for(lambda: Path(f"{seen}.ready").exists(), 30)
        config = t.write_mag_config(tables=WLC_NAS + "disconnect_port = 3799\n")
        mag = t.start_mag(config)
        mac = t.mac()
        assert t.nas_says(accounting_request(mac, "alice@example.org", "D1"))[0] == 5
        assert wait_for(lambda: bool(t.lma_control({"command": "bindings"})["bindings"]), 15)  # type: ignore[index]

        revoked = t.lma_control({"command": "revoke", "mn_id": "alice@example.org"})
        assert revoked is not None and revoked["ok"], revoked
        assert wait_for(seen.exists, 15), (tmp_path / "mag1.log").read_text()[-3000:]
        # One request (a slow machine may see retransmissions of it: the same request again).
        requests = [json.loads(line) for line in seen.read_text().splitlines()]
        request = requests[0]
        assert all(r == request for r in requests), requests
        assert request["code"] == 40 and request["verified"] is True  # Disconnect-Request
        assert request["attributes"]["Calling-Station-Id"] == [mac.upper().replace(":", "-")]
        assert request["attributes"]["Acct-Session-Id"] == ["D1"]
        assert "User-Name" not in request["attributes"]  # the MN-ID may be a CUI: not sent

        def outcome() -> list[tuple[str]]:
            with sqlite3.connect(tmp_path / "mag1.db") as db:
                return db.execute("SELECT json_extract(details, '$.result') FROM audit_events"
                                  " WHERE kind = 'disconnect_requested'").fetchall()  # fmt: skip

        assert wait_for(lambda: outcome() == [("ack",)], 10), outcome()
        assert mag.poll() is None
