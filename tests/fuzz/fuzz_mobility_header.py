"""Long fuzz run of the Mobility Header decoder, for manual use.

    python -m tests.fuzz.fuzz_mobility_header --inputs 1000000          # seeded mutational
    python -m tests.fuzz.fuzz_mobility_header --atheris -atheris_runs=1000000   # coverage-guided

The property is the same as in CI: only ``WireFormatError`` may escape, and whatever decodes must
re-encode to bytes that decode to the same message.
"""

from __future__ import annotations

import argparse
import sys
import time

from netlmm_aaa.core.errors import WireFormatError
from netlmm_aaa.wire.mobility_header import decode_mobility_header, encode_mobility_header
from tests.fuzz.mutations import SEEDS, inputs


def check_one(data: bytes) -> bool:
    """Decode ``data``; True when it decoded. Raises on any property violation."""
    try:
        message = decode_mobility_header(data)
    except WireFormatError:
        return False
    again = encode_mobility_header(message)
    if decode_mobility_header(again) != message:
        raise AssertionError(f"re-encoding changed the message: {data.hex()}")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=4831)
    parser.add_argument("--atheris", action="store_true", help="coverage-guided with atheris")
    args, rest = parser.parse_known_args(argv)
    if args.atheris:
        import atheris  # type: ignore[import-not-found]

        def one(data: bytes) -> None:
            check_one(data)

        atheris.Setup([sys.argv[0], *rest, *("-seed_inputs=" + ",".join([]),)[:0]], one)
        atheris.Fuzz()
        return 0
    start = time.perf_counter()
    decoded = 0
    for data in inputs(args.seed, args.inputs):
        decoded += check_one(data)
    elapsed = time.perf_counter() - start
    print(
        f"{args.inputs} inputs (seed {args.seed}, {len(SEEDS)} seed messages): {decoded} decoded, "
        f"{args.inputs - decoded} rejected with WireFormatError, 0 other exceptions, "
        f"{elapsed:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
