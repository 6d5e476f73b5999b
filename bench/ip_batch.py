"""The baseline the route benches compare with: iproute2's ``ip -batch`` installing routes of
the same kind as our writer's, in a fresh namespace, for a given tunnel backend.

- ``seg6``: ``encap seg6 mode encap.red segs PEER`` (lines refused with a transient ENOMEM are
  retried, as our writer does);
- ``ip6tnl``: ``encap ip6 dst PEER src LOCAL hoplimit 64`` through the flow-based device (created
  by the caller, as our backend creates it);
- ``ebpf``: ``encap bpf xmit pinned PATH headroom 40``, the project's own encapsulation program
  pinned on a private bpf file system, shared by every route as our writer shares it (with
  ``obj FILE`` iproute2 would load and verify a program per route: a slower, unequal baseline);
- ``routing``: ``via PEER``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from pyroute2 import IPRoute

from netlmm_aaa.dataplane.bpf_programs import ENCAPSULATION_HEADROOM, encapsulation_program
from netlmm_aaa.dataplane.bpf_syscall import ProgramType, load_program, pin_object
from netlmm_aaa.dataplane.tunnel_ip6tnl import Ip6tnlTunnel
from testbed.netns import Lab


@contextlib.contextmanager
def pinned_encapsulation(local: str, peer: str) -> Iterator[str]:
    """Our encapsulation program toward ``peer``, pinned on a private bpf file system."""
    mount = Path(tempfile.mkdtemp(prefix="netlmm-bpffs-"))
    subprocess.run(["mount", "-t", "bpf", "bpf", str(mount)], check=True)
    fd = load_program(encapsulation_program(local, peer), ProgramType.LWT_XMIT, "nlmm_encap")
    try:
        path = str(mount / "encap")
        pin_object(fd, path)
        yield path
    finally:
        os.close(fd)
        subprocess.run(["umount", str(mount)], check=False)
        mount.rmdir()


@contextlib.contextmanager
def baseline_lines(ns: str, backend: str, destinations: list[str], local: str,
                   peer: str) -> Iterator[list[str]]:  # fmt: skip
    """The ``ip -batch`` lines for ``backend`` in ``ns`` (whose ``tr0`` holds ``local``), with
    what they need in place: the pinned program (ebpf) or the flow-based device (ip6tnl)."""
    with contextlib.ExitStack() as stack:
        pinned, device = None, "tr0"
        if backend == "ebpf":
            pinned = stack.enter_context(pinned_encapsulation(local, peer))
        elif backend == "ip6tnl":
            tunnel = Ip6tnlTunnel(ns)
            with IPRoute(netns=ns, groups=0, flags=0) as ipr:
                tunnel.open(ipr, ipr.link_lookup(ifname="tr0")[0], local, (peer,))
            device = tunnel.device
        yield route_lines(backend, destinations, peer, device, pinned, local)


def route_lines(backend: str, destinations: list[str], peer: str, device: str,
                pinned: str | None = None, local: str | None = None) -> list[str]:  # fmt: skip
    """``ip -batch`` lines installing ``destinations`` toward ``peer`` the way ``backend`` does."""
    if backend == "seg6":
        how = f"encap seg6 mode encap.red segs {peer}"
    elif backend == "ip6tnl":
        how = f"encap ip6 dst {peer} src {local} hoplimit 64"
    elif backend == "ebpf":
        how = f"encap bpf xmit pinned {pinned} headroom {ENCAPSULATION_HEADROOM}"
    else:
        how = f"via {peer}"
    return [f"route replace {d} {how} dev {device} proto 213" for d in destinations]


def install(lab: Lab, ns: str, lines: list[str], workdir: Path) -> float:
    """Run ``ip -6 -force -batch`` until every line's route is in; the seconds the batches took
    (the checks between them, route dumps, are not timed)."""
    batch = workdir / "routes.batch"
    seconds = 0.0
    remaining = lines
    for _ in range(20):
        batch.write_text("\n".join(remaining) + "\n")
        start = time.perf_counter()
        subprocess.run(["ip", "-n", ns, "-6", "-force", "-batch", str(batch)],
                       capture_output=True, check=False)  # fmt: skip
        seconds += time.perf_counter() - start
        shown = subprocess.run(["ip", "-n", ns, "-6", "route", "show", "proto", "213"],
                               capture_output=True, text=True).stdout  # fmt: skip
        have = {line.split()[0] for line in shown.splitlines() if line}
        remaining = [line for line in remaining if line.split()[2] not in have]
        if not remaining:
            return seconds
    raise RuntimeError(f"ip -batch left {len(remaining)} routes uninstalled")
