"""LMA configuration: the shipped example is valid; every wrong key or value names itself."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pytest

from netlmm_aaa.cli import main
from netlmm_aaa.config import load_lma_config, parse_lma_config
from netlmm_aaa.core.errors import ConfigError
from netlmm_aaa.core.lma_policy import TunnelMode
from netlmm_aaa.dataplane.tunnel_backend import Backend
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "lma-lab.toml"


def _doc() -> dict:
    return tomllib.loads(EXAMPLE.read_text())


def test_example_loads() -> None:
    config = load_lma_config(EXAMPLE)
    assert config.address == "2001:db8:ff::1"
    assert config.policy.tunnel_mode is TunnelMode.IP6IP6
    assert config.backend is Backend.AUTO
    doc = _doc()
    doc["lma"]["backend"] = "ebpf"
    assert parse_lma_config(doc).backend is Backend.EBPF
    assert [p.name for p in config.policy.peers] == ["mag1", "mag2"]
    assert config.policy.peers[0].tunnel_address == "2001:db8:ff::11"
    assert config.policy.mobile_nodes[0].mn_id == b"alice@example.org"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ("lma", "address"),
            "not-an-address",
            "lma.address: 'not-an-address' is not an IPv6 address",
        ),
        (("lma", "tunnel_mode"), "vxlan", "lma.tunnel_mode: 'vxlan' must be one of"),
        (("lma", "backend"), "ip6gre", "lma.backend: 'ip6gre' must be one of"),
        (("lma", "pools", "prefix"), "2001:db8::/300", "lma.pools.prefix:"),
        (("lma", "pools", "prefix_length"), 16, "lma.pools.prefix_length: 16 is shorter"),
        (("lma", "pools", "ipv4_default_router"), "10.9.9.9", "is not inside 203.0.113.0/24"),
        (("lma", "timers", "max_lifetime"), -5, "lma.timers.max_lifetime: -5 must be between"),
        (("lma", "timers", "heartbeat_interval"), "often", "must be a number"),
        (("lma", "policy", "require_timestamp"), "yes", "must be true or false"),
        (("lma", "timers", "bogus"), 1, "lma.timers.bogus: unknown key"),
        (("lma", "colour"), "blue", "lma.colour: unknown key"),
        (("lma", "retention"), "12h", "lma.retention: '12h' is shorter than the minimum"),
        (("lma", "retention"), 90, "lma.retention: 90 must be a non-empty string"),
    ],
)
def test_bad_values_name_the_key(path: tuple[str, ...], value: object, message: str) -> None:
    doc = _doc()
    target = doc
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_lma_config(doc)


def test_structural_errors() -> None:
    with pytest.raises(ConfigError, match="lma: missing"):
        parse_lma_config({})
    doc = _doc()
    doc["lma"]["mag"] = []
    with pytest.raises(ConfigError, match="no MAG configured"):
        parse_lma_config(doc)
    doc = _doc()
    doc["lma"]["mag"][1]["addresses"] = ["2001:db8:ff::11"]
    with pytest.raises(
        ConfigError, match=r"lma.mag\[1\].addresses: '2001:db8:ff::11' is also MAG mag1"
    ):
        parse_lma_config(doc)
    doc = _doc()
    doc["lma"]["mobile_node"].append(
        {"mn_id": "bob@example.org", "home_network_prefix": "2001:db8:1:1::/64"}
    )
    with pytest.raises(ConfigError, match="is already alice@example.org's"):
        parse_lma_config(doc)
    doc = _doc()
    doc["lma"]["mobile_node"][0]["allowed_mags"] = ["mag9"]
    with pytest.raises(ConfigError, match="'mag9' is not a configured MAG"):
        parse_lma_config(doc)


def test_config_check_command(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["config", "check", str(EXAMPLE)], out=out, err=err) == 0
    assert "valid LMA configuration (2 MAG peer(s))" in out.getvalue()
    bad = tmp_path / "bad.toml"
    bad.write_text("[lma]\naddress = 1\n")
    out, err = io.StringIO(), io.StringIO()
    assert main(["config", "check", str(bad)], out=out, err=err) == 1
    assert "lma.address" in err.getvalue()
    out, err = io.StringIO(), io.StringIO()
    assert main(["config", "check", str(tmp_path / "missing.toml")], out=out, err=err) == 1
    assert "cannot read" in err.getvalue()
    broken = tmp_path / "broken.toml"
    broken.write_text("[lma\n")
    assert main(["config", "check", str(broken)], out=out, err=err) == 1


def test_lma_bindings_from_the_database_when_not_running(tmp_path: Path) -> None:
    from netlmm_aaa.core.actions import BindingSnapshot
    from netlmm_aaa.core.events import Transport
    from netlmm_aaa.persistence import migrate
    from netlmm_aaa.persistence.database import make_engine
    from netlmm_aaa.persistence.store import SqlStore

    url = f"sqlite:///{tmp_path / 'lma.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    store = SqlStore(engine, "lma1")
    store.submit(store=[BindingSnapshot(
        mn_id=b"alice@example.org", home_network_prefixes=("2001:db8:1:1::/64",),
        ipv4_home_address=None, mag="mag2", proxy_coa="2001:db8:ff::12",
        signalling_address="2001:db8:ff::12", transport=Transport.IPV6,
        link_layer_identifier=b"", access_technology=4, lifetime=3600, registered_utc=1.0,
        refreshed_utc=4e9, last_handover_utc=None, last_sequence=1, last_timestamp=None,
    )]).result(10)  # fmt: skip
    store.close()
    engine.dispose()
    config = tmp_path / "lma.toml"
    text = EXAMPLE.read_text().replace("sqlite:////var/lib/netlmm-aaa/lma.db", url)
    config.write_text(text.replace("/run/netlmm-aaa/lma.sock", str(tmp_path / "none.sock")))
    out, err = io.StringIO(), io.StringIO()
    assert main(["lma", "--config", str(config), "bindings"], out=out, err=err) == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    assert "from the database" in lines[0]
    assert lines[2].split()[:5] == ["alice@example.org", "2001:db8:1:1::/64", "-", "mag2", "active"]


def test_mag_example_and_errors(tmp_path: Path) -> None:
    from netlmm_aaa.config import load_mag_config, parse_mag_config

    config = load_mag_config(REPO / "examples" / "mag-lab.toml")
    assert (config.proxy_coa, config.access_interfaces, config.nases[0].secret) == (
        "2001:db8:ff::11", ("acc0",), b"change-me")  # fmt: skip
    assert config.backend is Backend.AUTO
    doc = tomllib.loads((REPO / "examples" / "mag-lab.toml").read_text())
    doc["mag"]["backend"] = "seg6"
    assert parse_mag_config(doc).backend is Backend.SEG6
    doc["mag"]["backend"] = "ip6gre"
    with pytest.raises(ConfigError, match=r"mag.backend: 'ip6gre' must be one of"):
        parse_mag_config(doc)
    doc = tomllib.loads((REPO / "examples" / "mag-lab.toml").read_text())
    doc["mag"]["nas"][0]["interface"] = "eth9"
    with pytest.raises(
        ConfigError, match=r"mag.nas\[0\].interface: 'eth9' is not an access interface"
    ):
        parse_mag_config(doc)
    for catch_all in ("0.0.0.0", "::"):  # R2: no catch-all NAS
        doc = tomllib.loads((REPO / "examples" / "mag-lab.toml").read_text())
        doc["mag"]["nas"][0]["address"] = catch_all
        with pytest.raises(ConfigError, match=r"mag.nas\[0\].address: .* catch-all"):
            parse_mag_config(doc)
    doc = tomllib.loads((REPO / "examples" / "mag-lab.toml").read_text())
    doc["mag"]["nas"].append(dict(doc["mag"]["nas"][0], name="twin"))
    with pytest.raises(ConfigError, match=r"mag.nas\[1\].address: .* another NAS's"):
        parse_mag_config(doc)
    doc = tomllib.loads((REPO / "examples" / "mag-lab.toml").read_text())
    del doc["mag"]["nas"], doc["mag"]["hostapd"]
    with pytest.raises(ConfigError, match="nothing reports stations"):
        parse_mag_config(doc)
    out, err = io.StringIO(), io.StringIO()
    assert main(["config", "check", str(REPO / "examples" / "mag-lab.toml")], out=out, err=err) == 0
    assert "valid MAG configuration" in out.getvalue()


def test_mag_lma_selection_hook_and_metrics_keys() -> None:
    from netlmm_aaa.config import parse_mag_config
    from netlmm_aaa.core.lma_selection import select_lma

    base = (REPO / "examples" / "mag-lab.toml").read_text()
    doc = tomllib.loads(base)
    doc["mag"]["lma_selection"] = [
        {"realm": "example.org", "lma_address": "2001:db8:ff::1"},
        {"realm": "@guest.example.org", "lma_address": "2001:db8:ff::2"},
    ]
    doc["mag"]["metrics_listen"] = "[::1]:9813"
    config = parse_mag_config(doc)
    assert [s.realm for s in config.lma_selection] == ["example.org", "guest.example.org"]
    assert config.metrics_listen == "[::1]:9813"
    sel = config.lma_selection
    assert select_lma(b"alice@example.org", sel) == "2001:db8:ff::1"
    assert select_lma(b"bob@GUEST.example.org", sel) == "2001:db8:ff::2"  # longest realm wins
    assert select_lma(b"carol@lab.guest.example.org", sel) == "2001:db8:ff::2"
    assert select_lma(b"dave@example.com", sel) is None
    assert select_lma(b"nobody", sel) is None
    for key, value, message in (
        ("metrics_listen", "localhost:9813", "must be ADDRESS:PORT"),
        ("metrics_listen", "127.0.0.1", "must be ADDRESS:PORT"),
    ):
        bad = tomllib.loads(base)
        bad["mag"][key] = value
        with pytest.raises(ConfigError, match=f"mag.{key}: .*{message}"):
            parse_mag_config(bad)
    bad = tomllib.loads(base)
    bad["mag"]["lma_selection"] = [{"realm": "a@b", "lma_address": "2001:db8::1"}]
    with pytest.raises(ConfigError, match=r"mag.lma_selection\[0\].realm: .*must be a realm"):
        parse_mag_config(bad)
    bad = tomllib.loads(base)
    bad["mag"]["lma_selection"] = [{"realm": "x.org", "lma_address": "192.0.2.1"}]
    # An IPv4 LMA (RFC 5844 §4) needs our IPv4 address toward it.
    with pytest.raises(ConfigError, match=r"mag.ipv4_proxy_coa: missing, but LMA 192.0.2.1"):
        parse_mag_config(bad)
    bad["mag"]["ipv4_proxy_coa"] = "192.0.2.2"
    assert parse_mag_config(bad).lma_selection[0].lma_address == "192.0.2.1"
    bad["mag"]["lma_selection"] = [{"realm": "x.org", "lma_address": "example.org"}]
    with pytest.raises(ConfigError, match=r"mag.lma_selection\[0\].lma_address"):
        parse_mag_config(bad)
    bad = tomllib.loads(base)
    bad["mag"]["hostapd"][0]["events"] = "hook"
    with pytest.raises(ConfigError, match=r"mag.hostapd\[0\].events: .*needs mag.hook_socket"):
        parse_mag_config(bad)
    bad["mag"]["hostapd"][0]["events"] = "poll"
    with pytest.raises(ConfigError, match=r"mag.hostapd\[0\].events"):
        parse_mag_config(bad)


def test_lma_aaa_section() -> None:
    """[lma.aaa] turns on the RFC 5213 §11 check; every NAS names a configured MAG."""
    from netlmm_aaa.config import parse_lma_config

    doc = tomllib.loads((REPO / "examples" / "lma-lab.toml").read_text())
    assert parse_lma_config(doc).policy.aaa_attachment_check is False
    mag = doc["lma"]["mag"][0]["name"]
    doc["lma"]["aaa"] = {"wait": 0.5, "nas": [{"name": "ap1", "address": "10.0.0.5",
                                                "secret": "x", "mag": mag}]}  # fmt: skip
    config = parse_lma_config(doc)
    assert config.policy.aaa_attachment_check is True
    assert config.policy.aaa_attachment_wait == 0.5
    assert config.aaa is not None and config.aaa.nases[0].mag == mag
    doc["lma"]["aaa"]["nas"][0]["mag"] = "nowhere"
    with pytest.raises(ConfigError, match=r"lma.aaa.nas\[0\].mag: 'nowhere' is not a configured"):
        parse_lma_config(doc)
    doc["lma"]["aaa"]["nas"] = []
    with pytest.raises(ConfigError, match="lma.aaa.nas: no NAS configured"):
        parse_lma_config(doc)


def test_mag_radius_relay_and_dhcpv4_keys() -> None:
    from netlmm_aaa.config import parse_mag_config

    base = (REPO / "examples" / "mag-lab.toml").read_text()
    config = parse_mag_config(tomllib.loads(base))
    relay = config.radius_relay
    assert relay is not None
    assert (relay.listen, relay.port, relay.server, relay.server_port) == (
        "127.0.0.1", 1812, "192.0.2.10", 1812)  # fmt: skip
    assert (relay.server_secret, relay.profile_ttl) == (b"change-me-aaa", 60)
    assert (config.dhcpv4, config.dhcpv4_lease_time, config.dhcpv4_dns) == (
        True, 3600, ("192.0.2.53",))  # fmt: skip
    for key, value, message in (
        ("server", "aaa.example", "is not an IP address"),
        ("port", 1813, "is the accounting listener's port"),
        ("colour", "red", "unknown key"),
    ):
        doc = tomllib.loads(base)
        doc["mag"]["radius_relay"][key] = value
        with pytest.raises(ConfigError, match=f"mag.radius_relay.{key}: .*{message}"):
            parse_mag_config(doc)
    doc = tomllib.loads(base)
    del doc["mag"]["radius_relay"]["server_secret"]
    with pytest.raises(ConfigError, match="mag.radius_relay.server_secret"):
        parse_mag_config(doc)
    doc = tomllib.loads(base)
    doc["mag"]["dhcpv4_dns"] = ["dns.example"]
    with pytest.raises(ConfigError, match=r"mag.dhcpv4_dns\[0\]"):
        parse_mag_config(doc)
    doc = tomllib.loads(base)
    doc["mag"]["dhcpv4_lease_time"] = 5
    with pytest.raises(ConfigError, match="mag.dhcpv4_lease_time"):
        parse_mag_config(doc)


def test_per_peer_heartbeat_and_revocation_switches_and_prefix_bounds() -> None:
    """Issue 23 (6): per-peer switches in both daemons, and the MAG's prefix-length bounds."""
    from netlmm_aaa.config import parse_mag_config

    doc = _doc()
    doc["lma"]["mag"][0]["heartbeats"] = False
    doc["lma"]["mag"][0]["revocation"] = False
    peers = parse_lma_config(doc).policy.peers
    assert (peers[0].heartbeats, peers[0].revocation) == (False, False)
    assert all(p.heartbeats and p.revocation for p in peers[1:])
    mag = tomllib.loads((REPO / "examples" / "mag-lab.toml").read_text())
    assert parse_mag_config(mag).quiet_lmas == frozenset()
    assert parse_mag_config(mag).home_prefix_lengths == (32, 64)
    mag["mag"]["lma_heartbeats"] = False
    mag["mag"]["lma_selection"] = [
        {"realm": "a.example", "lma_address": "2001:db8:ff::2", "heartbeats": False},
        {"realm": "b.example", "lma_address": "2001:db8:ff::3"},
    ]
    mag["mag"]["home_prefix_lengths"] = [48, 64]
    config = parse_mag_config(mag)
    assert config.quiet_lmas == {mag["mag"]["lma_address"], "2001:db8:ff::2"}
    assert config.home_prefix_lengths == (48, 64)
    mag["mag"]["home_prefix_lengths"] = [64, 48]
    with pytest.raises(ConfigError, match=r"mag.home_prefix_lengths: .*low <= high"):
        parse_mag_config(mag)


def test_retention_reads_as_a_period_on_both_daemons() -> None:
    from datetime import timedelta

    from netlmm_aaa.config import parse_mag_config

    doc = _doc()
    assert parse_lma_config(doc).retention == timedelta(days=90)  # the example's
    del doc["lma"]["retention"]
    assert parse_lma_config(doc).retention is None  # kept until pruned by hand
    doc["lma"]["retention"] = "13w"
    assert parse_lma_config(doc).retention == timedelta(weeks=13)
    doc = tomllib.loads((REPO / "examples" / "mag-lab.toml").read_text())
    doc["mag"]["retention"] = "90d"
    assert parse_mag_config(doc).retention == timedelta(days=90)
    doc["mag"]["retention"] = "ninety days"
    with pytest.raises(ConfigError, match=r"mag.retention: 'ninety days' is not an age"):
        parse_mag_config(doc)


def test_config_check_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    edits = {  # what the example says -> a mistake, and the key path the report must name
        'prefix = "2001:db8:1000::/40"': ('prefix = "2001:db8::/300"', "lma.pools.prefix"),
        "max_lifetime = 3600": ("max_lifetime = -5", "lma.timers.max_lifetime"),
        'addresses = ["2001:db8:ff::12", "192.0.2.12"]': ('addresses = ["nope"]',
                                                          "lma.mag[1].addresses[0]"),
        'mn_id = "alice@example.org"': ('mn_id = "alice@example.org"\ncolour = "blue"',
                                        "lma.mobile_node[0].colour"),
    }  # fmt: skip
    for old, (new, _path) in edits.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    bad = tmp_path / "lma.toml"
    bad.write_text(text)
    lines = text.splitlines()
    out, err = io.StringIO(), io.StringIO()
    assert main(["config", "check", str(bad)], out=out, err=err) == 1
    report = err.getvalue().splitlines()
    assert report[-1] == f"{bad}: {len(edits)} problems", report
    for new, path in edits.values():
        written = new.splitlines()[-1]
        line = next(n for n, t in enumerate(lines, 1) if t.startswith(written))  # where it is
        assert any(r.startswith(f"{bad}:{line}: {path}:") for r in report), (path, line, report)
    assert out.getvalue() == ""


def test_one_pass_reports_problems_of_several_mag_tables() -> None:
    from netlmm_aaa.config import parse_mag_config
    from netlmm_aaa.config.schema import ConfigProblems

    doc = tomllib.loads((REPO / "examples" / "mag-lab.toml").read_text())
    doc["mag"]["nas"][0]["interface"] = "eth9"
    doc["mag"]["nas"].append(dict(doc["mag"]["nas"][0], name="twin", address="::"))
    doc["mag"]["hostapd"][0]["events"] = "hook"
    doc["mag"]["radius_relay"]["port"] = 0
    with pytest.raises(ConfigProblems) as raised:
        parse_mag_config(doc)
    said = [str(p).split(":")[0] for p in raised.value.problems]
    assert said == ["mag.nas[0].interface", "mag.nas[1].interface", "mag.hostapd[0].events",
                    "mag.radius_relay.port"], said  # fmt: skip


def test_key_lines_follow_tables_and_arrays_of_tables() -> None:
    from netlmm_aaa.config.locate import key_lines, line_of

    text = ("[lma]\nname = 'x'\n\n[[lma.mag]]\nname = 'a'\n[[lma.mag]]\nname = 'b'\n"
            "[lma.aaa]\nwait = 1\n[[lma.aaa.nas]]\nmag = 'a'\n[[lma.aaa.nas]]\nmag = 'b'\n")  # fmt: skip
    lines = key_lines(text)
    assert lines["lma.mag[1].name"] == 7 and lines["lma.aaa.nas[1].mag"] == 13
    assert line_of("lma.aaa.nas[1].secret: missing (required)", lines) == 12  # its table
    assert line_of("lma.mag[0].addresses[0]: 'x' is not an IP address", lines) == 4
    assert line_of("lma.pools.prefix: bad", lines) == 1  # no [lma.pools]: the [lma] header
    assert line_of("something else entirely", lines) is None
