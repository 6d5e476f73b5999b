"""Network namespaces: unique names, iproute2 helpers, cleanup even on failure.

Every namespace and veth created here carries a per-run suffix, so two runs never collide, and
:meth:`Lab.close` deletes them (and kills the processes started in them, by PID).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from testbed import TestbedUnavailable


def unwind_on_sigterm(code: int = 143) -> None:
    """SIGTERM unwinds this process like an exception (its ``with`` blocks remove namespaces,
    daemons and temporary directories), while a forked helper just exits: pyroute2 creates
    netns sockets in forked children and stops them with SIGTERM, and such a child must not
    run the parent's clean-up from its copy of the stack (it would delete the parent's files)."""
    owner = os.getpid()

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != owner:
            os._exit(0)
        sys.exit(code)

    signal.signal(signal.SIGTERM, handler)


def require_netns() -> None:
    """Raise TestbedUnavailable unless root with iproute2."""
    if os.geteuid() != 0:
        raise TestbedUnavailable("needs root to create network namespaces")
    if shutil.which("ip") is None:
        raise TestbedUnavailable("iproute2 'ip' is not installed")


def sh(*argv: str, check: bool = True, timeout: float = 30) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}"
        )
    return result.stdout


class Lab:
    """A set of namespaces with a shared random suffix."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self._owner = os.getpid()  # a forked child (pyroute2 helpers) must never clean up
        self.namespaces: list[str] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    def ns(self, role: str) -> str:
        name = f"nl{role}{self.tag}"
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        self.ip(name, "link", "set", "lo", "up")
        for key in (
            "ipv6/conf/all/accept_dad",
            "ipv6/conf/default/accept_dad",
            "ipv6/conf/default/accept_ra",
            "ipv6/conf/all/accept_ra",
        ):
            self.sysctl(name, key, "0")
        return name

    def ip(self, ns: str, *argv: str, check: bool = True) -> str:
        return sh("ip", "-n", ns, *argv, check=check)

    def exec(self, ns: str, *argv: str, check: bool = True, timeout: float = 30) -> str:
        return sh("ip", "netns", "exec", ns, *argv, check=check, timeout=timeout)

    def sysctl(self, ns: str, key: str, value: str) -> None:
        sh("ip", "netns", "exec", ns, "sh", "-c", f"echo {value} > /proc/sys/net/{key}")

    def veth(self, a: str, a_if: str, b: str, b_if: str, mtu: int = 1600) -> None:
        tmp = f"nlt{secrets.token_hex(4)}"
        sh("ip", "link", "add", tmp, "mtu", str(mtu), "type", "veth", "peer", "name", tmp + "p",
           "mtu", str(mtu))  # fmt: skip
        sh("ip", "link", "set", tmp, "netns", a)
        sh("ip", "link", "set", tmp + "p", "netns", b)
        self.ip(a, "link", "set", tmp, "name", a_if)
        self.ip(b, "link", "set", tmp + "p", "name", b_if)
        self.ip(a, "link", "set", a_if, "up")
        self.ip(b, "link", "set", b_if, "up")

    def spawn(self, ns: str, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], **kwargs)  # type: ignore[call-overload]
        self.processes.append(proc)
        return proc  # type: ignore[no-any-return]

    def capture(self, ns: str, device: str, path: object, *expression: str,
                timeout: float = 10) -> subprocess.Popen[bytes]:  # fmt: skip
        """Start tcpdump in ``ns`` writing every frame of ``device`` (matching ``expression``) to
        ``path``, packet-buffered; returns only once it listens, so nothing sent afterwards is
        missed (end it with ``terminate()`` and ``wait()``)."""
        # Immediate mode: with TPACKET_V3 libpcap holds frames in a ring block until it fills or
        # times out, and the frames of a block still open when tcpdump is terminated are lost.
        # A 16 MiB ring (-B, KiB; the default is 2 MiB): under a bench's load the daemons' event
        # loops run above tcpdump, which then falls behind by bursts and dropped frames.
        argv = ["tcpdump", "-i", device, "--immediate-mode", "-U", "-B", "16384", "-n",
                "-w", str(path)]  # fmt: skip
        proc = self.spawn(ns, [*argv, *expression], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)  # fmt: skip
        assert proc.stderr is not None
        said = b""
        deadline = time.monotonic() + timeout
        while b"listening on" not in said:
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                raise TestbedUnavailable(f"tcpdump on {device} in {ns} did not start: {said!r}")
            if select.select([proc.stderr], [], [], left)[0]:
                said += os.read(proc.stderr.fileno(), 4096)
        return proc

    def close(self) -> None:
        if os.getpid() != self._owner:
            return
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            # A test that failed half-way leaves its pipes open (an unraisable ResourceWarning).
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        for name in reversed(self.namespaces):
            # Kill anything still running inside (started by tools we called), then delete.
            pids = sh("ip", "netns", "pids", name, check=False).split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            sh("ip", "netns", "del", name, check=False)
        self.namespaces.clear()


@contextmanager
def lab() -> Iterator[Lab]:
    require_netns()
    instance = Lab()
    try:
        yield instance
    finally:
        instance.close()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
