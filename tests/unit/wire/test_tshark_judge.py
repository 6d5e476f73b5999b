"""tshark as the independent judge: what we encode, Wireshark's dissector reads back the same.

Several hundred pseudo-random messages of every type, each with every option that type carries,
go into one pcap twice (IPv6 next header 135 with the checksum, and IPv4/UDP 5436 with checksum
0); one tshark run reads them and every field it reports is compared with what we encoded.
tshark does not dissect UPN/UPA bodies (they show as unknown MH types 19/20), so for those the raw
message data it reports is compared instead.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from netlmm_aaa.core.codes import BindingUpdateFlag as BU
from netlmm_aaa.core.messages import (
    BindingError,
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    Heartbeat,
    MobilityMessage,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    UpdateNotification,
    UpdateNotificationAcknowledgement,
)
from netlmm_aaa.core.options import (
    AccessTechnologyTypeOption,
    BindingRefreshAdviceOption,
    GreKeyOption,
    HandoffIndicatorOption,
    HomeNetworkPrefixOption,
    IPv4DefaultRouterAddressOption,
    IPv4DhcpSupportModeOption,
    IPv4HomeAddressReplyOption,
    IPv4HomeAddressRequestOption,
    LinkLocalAddressOption,
    MobileNodeIdentifierOption,
    MobileNodeLinkLayerIdentifierOption,
    MobilityOption,
    RestartCounterOption,
    TimestampOption,
)
from netlmm_aaa.wire.capture import ipv4_udp_frame, ipv6_mobility_frame, write_pcap
from netlmm_aaa.wire.mobility_header import encode_mobility_header

pytestmark = pytest.mark.tshark

FIELDS = [
    "frame.number", "mip6.proto", "mip6.hlen", "mip6.mhtype",
    "mip6.bu.seqnr", "mip6.bu.lifetime", "mip6.bu.a_flag", "mip6.bu.h_flag", "mip6.bu.l_flag",
    "mip6.bu.k_flag", "mip6.bu.m_flag", "mip6.nemo.bu.r_flag", "mip6.bu.p_flag", "mip6.bu.f_flag",
    "mip6.bu.t_flag", "mip6.bu.b_flag",
    "mip6.ba.status", "mip6.ba.seqnr", "mip6.ba.lifetime", "mip6.ba.k_flag", "mip6.nemo.ba.r_flag",
    "mip6.ba.p_flag", "mip6.ba.t_flag", "mip6.ba.b_flag",
    "mip6.hb.seqnr", "mip6.hb.u_flag", "mip6.hb.r_flag",
    "mip6.bri_br.type", "mip6.bri_r.trigger", "mip6.bri_status", "mip6.bri_seqnr", "mip6.bri_ip",
    "mip6.bri_ap",
    "mip6.be.status", "mip6.be.haddr", "mip6.unknown_type_data",
    "mip6.mnid.subtype", "mip6.mnid.identifier", "mip6.nemo.mnp.mnp", "mip6.nemo.mnp.pfl",
    "mip6.hi", "mip6.att", "mip6.mnlli.lli", "mip6.lila_lla", "mip6.timestamp_tmp", "mip6.rc",
    "mip6.gre_key", "mip6.ipv4ha.ha", "mip6.ipv4ha.preflen", "mip6.ipv4aa.sts", "mip6.ipv4dra.dra",
    "mip6.ipv4dsm.s_flag", "mip6.bra.interval", "mip6.mobility_opt.len",
]  # fmt: skip

SRC6, DST6 = "2001:db8:ff::11", "2001:db8:ff::1"
SRC4, DST4 = "192.0.2.11", "192.0.2.1"


def _nai(rng: random.Random) -> str:
    user = "".join(
        rng.choice("abcdefghijklmnopqrstuvwxyz0123456789.-") for _ in range(rng.randint(1, 40))
    )
    return f"{user}@example.org"


def _options(rng: random.Random, kind: str) -> tuple[MobilityOption, ...]:
    def v6() -> bytes:
        return rng.randbytes(16)

    def v4() -> bytes:
        return rng.randbytes(4)

    opts: list[MobilityOption] = [MobileNodeIdentifierOption.from_nai(_nai(rng))]
    for _ in range(rng.randint(1, 3)):
        opts.append(HomeNetworkPrefixOption(v6(), rng.randint(0, 128)))
    if kind in ("PBU", "PBA"):
        opts += [
            HandoffIndicatorOption(rng.randint(0, 5)),
            AccessTechnologyTypeOption(rng.randint(0, 12)),
            MobileNodeLinkLayerIdentifierOption(rng.randbytes(6)),
            LinkLocalAddressOption(v6()),
            TimestampOption(rng.getrandbits(64) & ~(0xFFFF << 48)),
            GreKeyOption(rng.getrandbits(32)),
            IPv4DefaultRouterAddressOption(v4()),
            IPv4DhcpSupportModeOption(rng.random() < 0.5),
        ]
        if kind == "PBU":
            opts.append(IPv4HomeAddressRequestOption(v4(), rng.randint(0, 32)))
        else:
            opts.append(
                IPv4HomeAddressReplyOption(rng.choice([0, 128, 132]), v4(), rng.randint(0, 32))
            )
            opts.append(BindingRefreshAdviceOption(rng.getrandbits(16)))
    if kind in ("BRI",):
        opts.append(IPv4HomeAddressRequestOption(v4(), rng.randint(0, 32)))
    rng.shuffle(opts)
    return tuple(opts)


def _messages(rng: random.Random, count: int) -> list[MobilityMessage]:
    out: list[MobilityMessage] = []
    for i in range(count):
        kind = ["PBU", "PBA", "HB", "BRI", "BRA", "UPN", "UPA", "BE"][i % 8]
        seq = rng.getrandbits(16)
        if kind == "PBU":
            out.append(
                ProxyBindingUpdate(
                    seq, rng.getrandbits(16), BU(rng.getrandbits(10) << 6), _options(rng, kind)
                )
            )
        elif kind == "PBA":
            out.append(
                ProxyBindingAcknowledgement(
                    rng.choice([0, 2, 128, 135, 153, 160, 163, 173]),
                    seq,
                    rng.getrandbits(16),
                    rng.getrandbits(5) << 3,
                    _options(rng, kind),
                )
            )
        elif kind == "HB":
            rc = (RestartCounterOption(rng.getrandbits(32)),) if rng.random() < 0.5 else ()
            out.append(Heartbeat(rng.getrandbits(32), rng.random() < 0.5, rng.random() < 0.5, rc))
        elif kind == "BRI":
            out.append(
                BindingRevocationIndication(
                    rng.choice([0, 1, 2, 7, 128]),
                    seq,
                    rng.getrandbits(3) << 13,
                    _options(rng, kind),
                )
            )
        elif kind == "BRA":
            out.append(
                BindingRevocationAcknowledgement(
                    rng.choice([0, 1, 128, 132]), seq, rng.getrandbits(3) << 13, _options(rng, kind)
                )
            )
        elif kind == "UPN":
            out.append(
                UpdateNotification(
                    seq,
                    rng.randint(1, 4),
                    rng.random() < 0.5,
                    rng.random() < 0.5,
                    _options(rng, kind),
                )
            )
        elif kind == "UPA":
            out.append(UpdateNotificationAcknowledgement(seq, rng.choice([0, 128, 129])))
        else:
            out.append(BindingError(rng.choice([1, 2]), rng.randbytes(16)))
    return out  # fmt: skip


def _b(flag: int | bool) -> str:
    return "1" if flag else "0"


def _v6(b: bytes) -> str:
    return str(ipaddress.IPv6Address(b))


def _v4(b: bytes) -> str:
    return str(ipaddress.IPv4Address(b))


def _expected(message: MobilityMessage, mh: bytes) -> dict[str, Any]:
    """The tshark fields (as tshark prints them) that ``message`` must produce."""
    e: dict[str, Any] = {"mip6.proto": "59", "mip6.hlen": str(mh[1]), "mip6.mhtype": str(mh[2])}
    match message:
        case ProxyBindingUpdate():
            f = message.flags
            e |= {
                "mip6.bu.seqnr": str(message.sequence), "mip6.bu.lifetime": str(message.lifetime),
                "mip6.bu.a_flag": _b(f & BU.A), "mip6.bu.h_flag": _b(f & BU.H),
                "mip6.bu.l_flag": _b(f & BU.L), "mip6.bu.k_flag": _b(f & BU.K),
                "mip6.bu.m_flag": _b(f & BU.M), "mip6.nemo.bu.r_flag": _b(f & BU.R),
                "mip6.bu.p_flag": _b(f & BU.P), "mip6.bu.f_flag": _b(f & BU.F),
                "mip6.bu.t_flag": _b(f & BU.T), "mip6.bu.b_flag": _b(f & BU.B),
            }  # fmt: skip
        case ProxyBindingAcknowledgement():
            f = message.flags
            e |= {
                "mip6.ba.status": str(message.status), "mip6.ba.seqnr": str(message.sequence),
                "mip6.ba.lifetime": str(message.lifetime), "mip6.ba.k_flag": _b(f & 0x80),
                "mip6.nemo.ba.r_flag": _b(f & 0x40), "mip6.ba.p_flag": _b(f & 0x20),
                "mip6.ba.t_flag": _b(f & 0x10), "mip6.ba.b_flag": _b(f & 0x08),
            }  # fmt: skip
        case Heartbeat():
            e |= {
                "mip6.hb.seqnr": str(message.sequence),
                "mip6.hb.u_flag": _b(message.unsolicited),
                "mip6.hb.r_flag": _b(message.response),
            }
        case BindingRevocationIndication():
            e |= {
                "mip6.bri_br.type": "1", "mip6.bri_r.trigger": str(message.trigger),
                "mip6.bri_seqnr": str(message.sequence), "mip6.bri_ip": _b(message.flags & 0x8000),
            }  # fmt: skip
        case BindingRevocationAcknowledgement():
            e |= {
                "mip6.bri_br.type": "2", "mip6.bri_status": str(message.status),
                "mip6.bri_seqnr": str(message.sequence), "mip6.bri_ap": _b(message.flags & 0x8000),
            }  # fmt: skip
        case UpdateNotification() | UpdateNotificationAcknowledgement():
            e["mip6.unknown_type_data"] = mh[6:].hex()
            return e  # tshark does not dissect the options of types 19/20
        case BindingError():
            e |= {"mip6.be.status": str(message.status), "mip6.be.haddr": _v6(message.home_address)}
    lists: dict[str, list[str]] = {}
    for o in message.options:
        match o:
            case MobileNodeIdentifierOption():
                lists.setdefault("mip6.mnid.subtype", []).append(str(o.subtype))
                lists.setdefault("mip6.mnid.identifier", []).append(o.nai)
            case HomeNetworkPrefixOption():
                lists.setdefault("mip6.nemo.mnp.mnp", []).append(_v6(o.prefix))
                lists.setdefault("mip6.nemo.mnp.pfl", []).append(str(o.prefix_length))
            case HandoffIndicatorOption():
                lists.setdefault("mip6.hi", []).append(str(o.indicator))
            case AccessTechnologyTypeOption():
                lists.setdefault("mip6.att", []).append(str(o.access_technology))
            case MobileNodeLinkLayerIdentifierOption():
                lists.setdefault("mip6.mnlli.lli", []).append(o.link_layer_identifier.hex())
            case LinkLocalAddressOption():
                lists.setdefault("mip6.lila_lla", []).append(_v6(o.address))
            case TimestampOption():
                lists.setdefault("mip6.timestamp_tmp", []).append(o.seconds)  # type: ignore[arg-type]
            case RestartCounterOption():
                lists.setdefault("mip6.rc", []).append(str(o.counter))
            case GreKeyOption():
                lists.setdefault("mip6.gre_key", []).append(str(o.key))
            case IPv4HomeAddressRequestOption() | IPv4HomeAddressReplyOption():
                lists.setdefault("mip6.ipv4ha.ha", []).append(_v4(o.address))
                lists.setdefault("mip6.ipv4ha.preflen", []).append(str(o.prefix_length))
                if isinstance(o, IPv4HomeAddressReplyOption):
                    lists.setdefault("mip6.ipv4aa.sts", []).append(str(o.status))
            case IPv4DefaultRouterAddressOption():
                lists.setdefault("mip6.ipv4dra.dra", []).append(_v4(o.address))
            case IPv4DhcpSupportModeOption():
                lists.setdefault("mip6.ipv4dsm.s_flag", []).append(_b(o.server))
            case BindingRefreshAdviceOption():
                lists.setdefault("mip6.bra.interval", []).append(str(o.refresh_interval))
    e |= lists
    # Every option's Length octet, padding included, in wire order (Pad1 has none).
    lengths = []
    pos = 12 if mh[2] != 7 else 24
    while pos < len(mh):
        if mh[pos] == 0:
            pos += 1
            continue
        lengths.append(str(mh[pos + 1]))
        pos += 2 + mh[pos + 1]
    e["mip6.mobility_opt.len"] = lengths
    return e


def _tshark_seconds(text: str) -> float:
    # "Nov 14, 2023 22:13:20.500000000 UTC"
    stamp, frac = text.removesuffix(" UTC").rsplit(".", 1)
    base = dt.datetime.strptime(stamp, "%b %d, %Y %H:%M:%S").replace(tzinfo=dt.UTC)
    return base.timestamp() + int(frac) / 10 ** len(frac)


def _run_tshark(tshark: str, pcap: Path) -> dict[int, dict[str, list[str]]]:
    cmd = [tshark, "-r", str(pcap), "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"]
    for field in FIELDS:
        cmd += ["-e", field]
    env = {"TZ": "UTC", "LC_ALL": "C", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    rows: dict[int, dict[str, list[str]]] = {}
    for line in result.stdout.splitlines():
        values = line.split("\t")
        rows[int(values[0])] = {
            name: value.split("|")
            for name, value in zip(FIELDS[1:], values[1:], strict=False)
            if value
        }
    return rows


@pytest.mark.parametrize("framing", ["ipv6-mh", "udp5436"])
def test_tshark_reads_back_every_field_we_encode(framing: str, tshark: str, tmp_path: Path) -> None:
    rng = random.Random(5213 if framing == "ipv6-mh" else 5844)
    messages = _messages(rng, 400)
    frames: list[bytes] = []
    encoded: list[bytes] = []
    for message in messages:
        if framing == "ipv6-mh":
            mh = encode_mobility_header(message, source=SRC6, destination=DST6)
            frames.append(ipv6_mobility_frame(SRC6, DST6, mh))
        else:
            mh = encode_mobility_header(message)
            frames.append(ipv4_udp_frame(SRC4, DST4, mh))
        encoded.append(mh)
    pcap = tmp_path / f"{framing}.pcap"
    with pcap.open("wb") as stream:
        write_pcap(stream, frames)
    rows = _run_tshark(tshark, pcap)
    assert len(rows) == len(messages)
    checked_types = set()
    for number, (message, mh) in enumerate(zip(messages, encoded, strict=True), start=1):
        got = rows[number]
        want = _expected(message, mh)
        for field, value in want.items():
            if field == "mip6.timestamp_tmp":
                secs = [_tshark_seconds(t) for t in got.get(field, [])]
                assert secs == pytest.approx(value, abs=1e-6), (number, field)
                continue
            expected = value if isinstance(value, list) else [value]
            assert got.get(field, []) == expected, (number, type(message).__name__, field)
        # Nothing reported that we did not expect (besides fields tshark adds for known bugs).
        unexpected = set(got) - set(want) - {"mip6.unknown_type_data"}
        assert not unexpected, (number, type(message).__name__, unexpected)
        checked_types.add(type(message))
    assert len(checked_types) == 8
