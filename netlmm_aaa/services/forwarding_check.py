"""The start-up check that the kernel forwards what the daemon relays: a MAG and an LMA route
their nodes' packets between the access link (or the correspondent side) and the tunnel, which
the kernel does only with forwarding on in the daemon's network namespace. Missing, every
registration would succeed and no packet would pass; the daemon refuses to start instead,
naming the sysctl (deploy/sysctl.d/90-netlmm-aaa.conf sets both)."""

from __future__ import annotations

from pathlib import Path

from netlmm_aaa.dataplane.port import DataPlaneError

SYSCTLS = {
    "net.ipv6.conf.all.forwarding": Path("/proc/sys/net/ipv6/conf/all/forwarding"),
    "net.ipv4.ip_forward": Path("/proc/sys/net/ipv4/ip_forward"),
}


def require_forwarding(daemon: str, *, ipv4: bool) -> None:
    """Raise DataPlaneError naming each forwarding sysctl that is off (IPv4's only when the
    daemon serves IPv4 home addresses)."""
    wanted = ["net.ipv6.conf.all.forwarding"] + (["net.ipv4.ip_forward"] if ipv4 else [])
    off = [name for name in wanted if _read(SYSCTLS[name]) != "1"]
    if off:
        settings = ", ".join(f"{name} = 1" for name in off)
        raise DataPlaneError(
            f"the {daemon} forwards its nodes' packets, but forwarding is off in its network "
            f"namespace: set {settings} (sysctl -w, or deploy/sysctl.d/90-netlmm-aaa.conf)"
        )


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return "?"
