"""Bulk TCP through a test bed: ``python -m testbed.bulk_tcp serve PORT [N]`` in one
namespace, ``... send HOST PORT MIB`` in another. The sender prints one JSON line with the bytes
the receiver counted (it answers with its count once the sender shuts its side), the seconds and
the rate; a stalled transfer times out and exits non-zero instead of hanging."""

from __future__ import annotations

import json
import socket
import sys
import time

_CHUNK = 1 << 16


def serve(port: int, connections: int, timeout: float = 60.0) -> None:
    server = socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=True)
    server.settimeout(timeout)
    print("ready", flush=True)
    for _ in range(connections):
        conn, _ = server.accept()
        conn.settimeout(timeout)
        received = 0
        while chunk := conn.recv(_CHUNK):
            received += len(chunk)
        conn.sendall(str(received).encode())
        conn.close()


def send(host: str, port: int, mebibytes: int, timeout: float = 20.0) -> dict[str, float]:
    conn = socket.create_connection((host, port), timeout=timeout)
    payload = b"\x5a" * _CHUNK
    started = time.perf_counter()
    for _ in range(mebibytes * 16):
        conn.sendall(payload)
    conn.shutdown(socket.SHUT_WR)
    counted = int(conn.recv(64) or b"0")
    seconds = time.perf_counter() - started
    conn.close()
    return {"sent": mebibytes << 20, "received": counted, "seconds": seconds,
            "mbit_s": counted * 8 / seconds / 1e6}  # fmt: skip


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        serve(int(argv[1]), int(argv[2]) if len(argv) > 2 else 1)
        return 0
    if argv[:1] == ["send"]:
        try:
            result = send(argv[1], int(argv[2]), int(argv[3]))
        except OSError as exc:
            print(json.dumps({"error": str(exc)}))
            return 1
        print(json.dumps(result))
        return 0 if result["received"] == result["sent"] else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
