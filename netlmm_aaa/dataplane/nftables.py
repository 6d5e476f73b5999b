"""nftables from Python: libnftables in-process (no fork per command) in our own namespace,
the ``nft`` program (``ip netns exec``) for another namespace (tests); both from the Debian
package ``nftables``."""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import subprocess
from typing import Any

from netlmm_aaa.dataplane.port import DataPlaneError

_MISSING = "nftables needs the nft program (Debian package nftables)"


class Nftables:
    """Runs nftables scripts in namespace ``netns`` (None: ours)."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self._lib: Any = None
        self._ctx: Any = None
        self._opened = False

    def _open(self, missing: str) -> None:
        if self._opened:
            return
        self._opened = True
        name = ctypes.util.find_library("nftables")
        if name is not None and not self.netns:
            lib = ctypes.CDLL(name)
            lib.nft_ctx_new.restype = ctypes.c_void_p
            lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
            lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
            lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
            lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
            ctx = lib.nft_ctx_new(0)
            lib.nft_ctx_buffer_output(ctx)
            lib.nft_ctx_buffer_error(ctx)
            self._lib, self._ctx = lib, ctx
        elif shutil.which("nft") is None:
            raise DataPlaneError(missing)

    def run(self, script: str, *, missing: str = _MISSING) -> None:
        """Run ``script``; a failure raises DataPlaneError with what nft said; ``missing``: the
        error when nftables is not installed."""
        self._open(missing)
        if self._lib is not None:
            ok = self._lib.nft_run_cmd_from_buffer(self._ctx, script.encode()) == 0
            error = (self._lib.nft_ctx_get_error_buffer(self._ctx) or b"").decode().strip()
        else:
            argv = ["nft", "-f", "-"]
            if self.netns:
                argv = ["ip", "netns", "exec", self.netns, *argv]
            run = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=30)
            ok, error = run.returncode == 0, run.stderr.strip()
        if not ok:
            raise DataPlaneError(f"nft: {error or 'failed'}")

    def output(self, *argv: str) -> str:
        """What ``nft ARGV`` prints (the program, in the namespace)."""
        command = ["nft", *argv]
        if self.netns:
            command = ["ip", "netns", "exec", self.netns, *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=30).stdout
