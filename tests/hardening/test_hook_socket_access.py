"""H3: a local unprivileged process cannot feed the MAG's hook socket (mode 0660, root's group
here), and what does arrive is only a trigger that hostapd must confirm (tests/netns/
test_hostapd_hook.py shows forged datagrams moving nothing)."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from netlmm_aaa.adapters.hostapd_hook_socket import HookSocket

pytestmark = pytest.mark.hardening


def test_an_unprivileged_user_cannot_write_to_the_hook_socket() -> None:
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root and runuser to act as the unprivileged user 'nobody'")
    if not os.access("/usr/bin/python3", os.X_OK):
        pytest.skip("needs the system's /usr/bin/python3 for the unprivileged user")
    base = Path(tempfile.mkdtemp(prefix="netlmm-h3-"))
    base.chmod(0o755)  # reachable by anyone: only the socket's own mode may refuse
    path = base / "hook.sock"
    delivered: list[object] = []
    rejected: list[tuple[str, str]] = []

    async def scenario() -> None:
        hook = HookSocket(str(path), {"acc0"}, deliver=lambda i, e: delivered.append(e),
                          rejected=lambda line, reason: rejected.append((line, reason)))  # fmt: skip
        await hook.start()
        try:
            assert stat.S_IMODE(path.stat().st_mode) == 0o660
            code = ("import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); "
                    f"s.sendto(b'acc0 AP-STA-CONNECTED 02:de:ad:00:00:01', {str(path)!r})")  # fmt: skip
            run = await asyncio.to_thread(
                subprocess.run, ["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", code],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert run.returncode != 0
            assert "PermissionError" in run.stderr
            await asyncio.sleep(0.2)
            assert delivered == [] and rejected == [] and hook.received == 0
        finally:
            hook.close()

    try:
        asyncio.run(scenario())
    finally:
        shutil.rmtree(base, ignore_errors=True)
