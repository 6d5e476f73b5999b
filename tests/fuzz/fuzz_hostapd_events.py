"""Long fuzz run of the hostapd control-interface line parser, for manual use (short run in CI).

    python -m tests.fuzz.fuzz_hostapd_events --inputs 1000000

Inputs are real event lines (attached-monitor and ``hostapd_cli -a`` forms) mutated by byte
flips, truncation, insertion of NULs, non-UTF-8 octets and separators, MAC-digit edits, and long
lines. The property: :func:`parse_hostapd_event` returns an event or None, or raises
``HostapdLineError``; nothing else; and an event's MAC is always the canonical lower-case form.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator

from netlmm_aaa.wire.hostapd_events import HostapdLineError, parse_hostapd_event

SEEDS: list[bytes] = [
    b"<3>AP-STA-CONNECTED 02:00:00:00:01:00 keyid=x vlanid=5",
    b"IFNAME=wlan0 <3>AP-STA-CONNECTED 02:00:00:00:01:00",
    b"<3>AP-STA-DISCONNECTED 02:88:00:00:aa:01",
    b"<3>CTRL-EVENT-EAP-SUCCESS2 02:88:00:00:aa:01",
    b"<3>CTRL-EVENT-EAP-STARTED 02:88:00:00:aa:01",
    b"<3>CTRL-EVENT-EAP-FAILURE2 02:88:00:00:aa:01",
    b"acc0 AP-STA-CONNECTED 02:88:00:00:aa:01",
    b"<3>AP-STA-CONNECTED 02:88:00:00:AA:01 ip_addr=192.0.2.9",
    b"<3>CTRL-EVENT-EAP-PEER-CERT depth=0 subject='/CN=radius'",
    b"<2>AP-ENABLED",
]
_CANONICAL = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(7)
        if choice == 0 and buf:
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        elif choice == 1 and buf:
            del buf[rng.randrange(len(buf)) :]
        elif choice == 2:
            buf.insert(rng.randrange(len(buf) + 1), rng.choice((0, 0x80, 0xC3, 0xFF, 0x20)))
        elif choice == 3 and buf:  # a separator or digit inside the MAC region
            buf[rng.randrange(len(buf))] = ord(rng.choice(":-. 0fFgx"))
        elif choice == 4:
            buf += bytes(rng.choice(b"a:0 ") for _ in range(rng.choice((1, 10, 4200))))
        elif choice == 5 and buf:
            i = rng.randrange(len(buf))
            buf[i:i] = rng.choice(SEEDS)
        elif choice == 6 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
    return bytes(buf)


def inputs(seed: int, count: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    for i in range(count):
        if i % 8 == 7:
            yield rng.randbytes(rng.randint(0, 80))
        else:
            yield mutate(rng, rng.choice(SEEDS))


def check_one(data: bytes) -> str:
    """Parse ``data``: "event", "ignored" or "rejected". Anything else propagates."""
    try:
        event = parse_hostapd_event(data)
    except HostapdLineError:
        return "rejected"
    if event is None:
        return "ignored"
    assert _CANONICAL.match(event.mac), event.mac
    return "event"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=8021)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    outcomes = Counter(check_one(data) for data in inputs(args.seed, args.inputs))
    elapsed = time.perf_counter() - start
    print(
        f"{args.inputs} inputs (seed {args.seed}): {outcomes['event']} station events, "
        f"{outcomes['ignored']} other lines ignored, {outcomes['rejected']} rejected with "
        f"HostapdLineError, 0 other exceptions, {elapsed:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
