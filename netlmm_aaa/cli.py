"""The ``netlmm-aaa`` command. ``main(argv) -> int``; each subcommand is a small function."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from netlmm_aaa import __version__
from netlmm_aaa.core.errors import WireFormatError
from netlmm_aaa.wire.capture import (
    CaptureError,
    CaptureFrameError,
    find_mobility_message,
    read_frames,
)
from netlmm_aaa.wire.describe import describe_message
from netlmm_aaa.wire.ipv4_udp_transport import decode_udp_payload
from netlmm_aaa.wire.mobility_header import decode_mobility_header


def _decode(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        stream = open(args.file, "rb")  # noqa: SIM115 - closed below, read lazily
    except OSError as exc:
        print(f"netlmm-aaa decode: cannot open {args.file}: {exc.strerror}", file=err)
        return 2
    found = 0
    with stream:
        try:
            for frame in read_frames(stream):
                record: dict[str, Any] = {"frame": frame.number}
                try:
                    captured = find_mobility_message(frame)
                except CaptureFrameError as exc:
                    if args.all_errors:
                        record["error"] = str(exc)
                        print(json.dumps(record), file=out)
                    continue
                if captured is None:
                    continue
                found += 1
                record["transport"] = captured.transport
                record["src"] = captured.source
                record["dst"] = captured.destination
                try:
                    if captured.transport == "ipv6-mh" and not args.no_checksum:
                        message = decode_mobility_header(
                            captured.payload,
                            source=captured.source_packed,
                            destination=captured.destination_packed,
                        )
                    elif captured.transport == "ipv6-mh":
                        message = decode_mobility_header(captured.payload)
                    else:
                        message = decode_udp_payload(captured.payload)
                except WireFormatError as exc:
                    record["error"] = str(exc)
                else:
                    record.update(describe_message(message))
                print(json.dumps(record), file=out)
        except CaptureError as exc:
            print(f"netlmm-aaa decode: {args.file}: {exc}", file=err)
            return 2
    if args.summary:
        print(f"{found} mobility message(s) in {args.file}", file=err)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``netlmm-aaa`` (also used to document the CLI)."""
    parser = argparse.ArgumentParser(
        prog="netlmm-aaa",
        description="Network-based localized mobility (Proxy Mobile IPv6) for 802.1X networks.",
    )
    parser.add_argument("--version", action="version", version=f"netlmm-aaa {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    decode = sub.add_parser(
        "decode",
        help="print every PMIPv6 mobility message in a pcap/pcapng file as JSON lines",
        description=(
            "Finds IPv6 Mobility Headers (next header 135) and RFC 5844 UDP port 5436 payloads "
            "and prints one JSON object per message: frame, transport, src, dst, type, "
            "sequence, flags, lifetime/status where present, and options. A message that does "
            'not decode prints {"frame": N, "error": "..."} instead.'
        ),
    )
    decode.add_argument("file", help="capture file (pcap or pcapng)")
    decode.add_argument(
        "--no-checksum",
        action="store_true",
        help="do not verify the IPv6 Mobility Header checksum (e.g. captured before offload)",
    )
    decode.add_argument(
        "--all-errors",
        action="store_true",
        help="also report frames that are cut short before any mobility header is found",
    )
    decode.add_argument(
        "--summary", action="store_true", help="print a count of messages to stderr at the end"
    )
    decode.set_defaults(handler=_decode)
    return parser


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = args.handler
    try:
        return int(handler(args, out or sys.stdout, err or sys.stderr))
    except BrokenPipeError:
        return 0
