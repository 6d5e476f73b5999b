"""``netlmm-aaa decode``: JSON lines per message, errors per frame, exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from netlmm_aaa.cli import main
from netlmm_aaa.core.messages import ProxyBindingUpdate
from netlmm_aaa.wire.capture import ipv4_udp_frame, ipv6_mobility_frame, write_pcap
from netlmm_aaa.wire.mobility_header import encode_mobility_header
from tests.conftest import VECTORS


def _run(*argv: str) -> tuple[int, list[dict], str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_decode_shipped_capture() -> None:
    code, records, _ = _run("decode", str(VECTORS / "opmip-lma-mag-signaling.pcapng"))
    assert code == 0
    assert len(records) == 54
    first = records[0]
    assert first["frame"] == 11
    assert first["transport"] == "ipv6-mh"
    assert (first["type"], first["sequence"], first["flags"], first["lifetime"]) == (
        "PBU",
        40093,
        ["A", "P"],
        15,
    )
    assert [o["name"] for o in first["options"]] == ["MN-ID", "HNP", "HI", "ATT"]
    assert first["options"][0] == {
        "type": 8,
        "name": "MN-ID",
        "subtype": 1,
        "identifier": "mn1@example.org",
    }
    assert records[1]["type"] == "PBA"
    assert records[1]["status"] == 0
    assert {r["type"] for r in records} == {"PBU", "PBA"}


def test_decode_reports_broken_messages_per_frame(tmp_path: Path) -> None:
    good = encode_mobility_header(
        ProxyBindingUpdate(1, 2), source="2001:db8::2", destination="2001:db8::1"
    )
    bad_checksum = good[:4] + b"\x00\x01" + good[6:]
    frames = [
        ipv6_mobility_frame("2001:db8::2", "2001:db8::1", good),
        ipv6_mobility_frame("2001:db8::2", "2001:db8::1", bad_checksum),
        ipv4_udp_frame("192.0.2.2", "192.0.2.1", good[:-8]),
    ]
    pcap = tmp_path / "mixed.pcap"
    with pcap.open("wb") as f:
        write_pcap(f, frames)
    code, records, _ = _run("decode", str(pcap))
    assert code == 0
    assert records[0]["type"] == "PBU"
    assert records[1]["frame"] == 2
    assert "checksum" in records[1]["error"]
    assert records[2]["transport"] == "udp5436"
    assert "Header Len" in records[2]["error"]
    code, records, _ = _run("decode", "--no-checksum", str(pcap))
    assert records[1]["type"] == "PBU"


def test_decode_unreadable_files_exit_nonzero(tmp_path: Path) -> None:
    code, records, err = _run("decode", str(tmp_path / "missing.pcap"))
    assert code == 2
    assert "cannot open" in err
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all")
    code, records, err = _run("decode", str(junk))
    assert (code, records) == (2, [])
    assert "not a pcap" in err


def test_console_entry_point_runs() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "netlmm_aaa",
            "decode",
            str(VECTORS / "opmip-lma-mag-signaling.pcapng"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert len(result.stdout.splitlines()) == 54
