"""The ``netlmm-aaa`` command. ``main(argv) -> int``; each subcommand is a small function."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from netlmm_aaa import __version__
from netlmm_aaa.core.errors import ConfigError, WireFormatError
from netlmm_aaa.printable import printable
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


def _setup_logging(verbose: bool, fmt: str = "text") -> None:
    from netlmm_aaa.logs import setup_logging

    setup_logging(verbose, fmt)


def _lma(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from netlmm_aaa.config import load_lma_config

    try:
        config = load_lma_config(args.config)
    except ConfigError as exc:
        print(f"netlmm-aaa lma: configuration error: {exc}", file=err)
        return 2
    action = args.lma_command or "run"
    if action == "run":
        return _lma_run(config, args, err)
    if action == "bindings":
        return _lma_bindings(config, args, out, err)
    return _lma_revoke(config, args, out, err)


def _lma_run(config: Any, args: argparse.Namespace, err: TextIO) -> int:
    import asyncio

    from netlmm_aaa.dataplane.port import DataPlaneError
    from netlmm_aaa.services.lma_service import LmaService

    _setup_logging(args.verbose, args.log_format)
    if config.dataplane == "none":
        from netlmm_aaa.dataplane.in_memory import RecordingLmaDataPlane

        dataplane: Any = RecordingLmaDataPlane()
    else:
        from netlmm_aaa.core.lma_policy import tunnel_peers
        from netlmm_aaa.dataplane.lma_linux import LmaLinuxDataPlane
        from netlmm_aaa.services.forwarding_check import require_forwarding

        policy = config.policy
        serves_ipv4 = policy.ipv4_pool is not None or any(
            n.ipv4_home_address for n in policy.mobile_nodes
        )
        try:
            require_forwarding("LMA", ipv4=serves_ipv4)
        except DataPlaneError as exc:
            print(f"netlmm-aaa lma: {exc}", file=err)
            return 3
        dataplane = LmaLinuxDataPlane(
            mode=policy.tunnel_mode,
            local_address=config.address,
            local_ipv4=config.ipv4_address,
            device=config.transport_device,
            peers=tunnel_peers(policy.peers),
            backend=config.backend,
        )
    service = LmaService(config, dataplane, config_path=args.config)
    try:
        asyncio.run(service.run())
    except DataPlaneError as exc:
        print(f"netlmm-aaa lma: data plane: {exc}", file=err)
        return 3
    except (ConfigError, ValueError) as exc:
        print(f"netlmm-aaa lma: policy: {exc}", file=err)
        return 2
    except PermissionError as exc:
        print(f"netlmm-aaa lma: {exc} (raw sockets and routes need root / CAP_NET_ADMIN)", file=err)
        return 3
    except OSError as exc:
        print(f"netlmm-aaa lma: {exc}", file=err)
        return 3
    return 0


def _lma_bindings(config: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import asyncio
    import time

    from netlmm_aaa.services.lma_service import control_request, describe_binding

    try:
        reply = asyncio.run(control_request(config.control_socket, {"command": "bindings"}))
        bindings = reply["bindings"]
        source = "running LMA"
    except (OSError, TimeoutError):
        from netlmm_aaa.persistence.database import make_engine
        from netlmm_aaa.persistence.store import SqlStore

        engine = make_engine(config.database)
        store = SqlStore(engine, config.name, lma=True)
        try:
            now = time.time()
            bindings = [describe_binding(b, now) for b in store.load_bindings()]
        except Exception as exc:  # SQLAlchemy errors: unreachable or unmigrated database
            print(f"netlmm-aaa lma bindings: LMA not running and database unusable: {exc}",
                  file=err)  # fmt: skip
            return 2
        finally:
            store.close()
            engine.dispose()
        source = "database"
    if args.format == "json":
        for b in bindings:
            print(json.dumps(b), file=out)
        return 0
    print(f"{len(bindings)} binding(s) (from the {source})", file=out)
    header = ("MN-ID", "PREFIXES", "IPV4", "MAG", "STATE", "LEFT(s)", "LAST HANDOVER")
    rows = [header]
    for b in bindings:
        handover = b["last_handover_utc"]
        rows.append(
            (
                printable(b["mn_id"]),
                ",".join(b["home_network_prefixes"]),
                b["ipv4_home_address"] or "-",
                b["mag"],
                b["state"],
                str(b["lifetime_left"]),
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(handover)) if handover else "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip(), file=out)
    return 0


def _lma_revoke(config: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import asyncio

    from netlmm_aaa.services.lma_service import control_request

    try:
        reply = asyncio.run(
            control_request(config.control_socket, {"command": "revoke", "mn_id": args.mn_id})
        )
    except (OSError, TimeoutError) as exc:
        print(f"netlmm-aaa lma revoke: LMA not reachable at {config.control_socket}: {exc}",
              file=err)  # fmt: skip
        return 2
    if not reply.get("ok"):
        print(f"netlmm-aaa lma revoke: {reply.get('error')}", file=err)
        return 1
    print(f"revoked {args.mn_id}", file=out)
    return 0


def _mag(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import asyncio

    from netlmm_aaa.config import load_mag_config
    from netlmm_aaa.dataplane.mag_linux import MagLinuxDataPlane
    from netlmm_aaa.dataplane.port import DataPlaneError
    from netlmm_aaa.services.forwarding_check import require_forwarding
    from netlmm_aaa.services.mag_service import MagService

    try:
        config = load_mag_config(args.config)
    except ConfigError as exc:
        print(f"netlmm-aaa mag: configuration error: {exc}", file=err)
        return 2
    _setup_logging(args.verbose, args.log_format)
    try:
        require_forwarding("MAG", ipv4=config.ipv4)
    except DataPlaneError as exc:
        print(f"netlmm-aaa mag: {exc}", file=err)
        return 3
    dataplane = MagLinuxDataPlane(
        mode=config.tunnel_mode,
        proxy_coa=config.proxy_coa,
        ipv4_proxy_coa=config.ipv4_proxy_coa,
        lma_address=config.lma_address,
        device=config.transport_device,
        ipv4_router=config.ipv4_router,
        peers=[selection.lma_address for selection in config.lma_selection],
        backend=config.backend,
        ingress_filter=config.ingress_filter,
    )
    try:
        asyncio.run(MagService(config, dataplane, config_path=args.config).run())
    except DataPlaneError as exc:
        print(f"netlmm-aaa mag: data plane: {exc}", file=err)
        return 3
    except OSError as exc:
        print(f"netlmm-aaa mag: {exc} (raw sockets and routes need root / CAP_NET_ADMIN)", file=err)
        return 3
    return 0


def _dataplane_probe(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from netlmm_aaa.dataplane.backend_probe import auto_choice, probe_backends

    try:
        probes = probe_backends()
    except OSError as exc:
        print(f"netlmm-aaa dataplane probe: {exc} (needs root to create a network namespace)",
              file=err)  # fmt: skip
        return 2
    choice = auto_choice(probes)
    if args.json:
        print(json.dumps({"backends": {p.backend: {"available": p.available, "reason": p.reason,
                                                   "ipv4_transport": p.ipv4_transport}
                                       for p in probes}, "auto": choice}), file=out)  # fmt: skip
    else:
        print("backend  works  IPv4 transport (RFC 5844)  reason", file=out)
        for p in probes:
            works, v4 = "yes" if p.available else "no", "yes" if p.ipv4_transport else "no"
            print(f"{p.backend:8} {works:5}  {v4:25}  {p.reason}", file=out)
        print(f"auto     -> {choice or 'nothing: no encapsulating backend works here'}", file=out)
    return 0 if choice else 1


def _demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    # The demo's test bed lives in the repository (testbed/), not in the installed package: a
    # checkout's editable install finds it beside this package.
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "testbed" / "demo.py").is_file() and str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    try:
        from testbed.demo import run_demo
    except ImportError as exc:
        print(f"netlmm-aaa demo runs from a clone of the repository ({exc})", file=err)
        return 2

    return run_demo(as_json=args.json, out=out, err=err)


def _db(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from netlmm_aaa.persistence import migrate

    if args.db_command == "prune":
        return _db_prune(args, out, err)
    if args.db_command == "sample":
        return _db_sample(args, out, err)
    try:
        if args.db_command == "upgrade":
            migrate.upgrade(args.db, args.revision)
        else:
            migrate.downgrade(args.db, args.revision)
    except SQLAlchemyError as exc:
        print(f"netlmm-aaa db: cannot use {args.db}: {exc}", file=err)
        return 2
    print(f"database at {args.revision}", file=out)
    return 0


def _db_sample(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from netlmm_aaa.persistence import migrate
    from netlmm_aaa.persistence.database import make_engine
    from netlmm_aaa.persistence.sample_site import RECORDS_PER_MOVE, Site, fill

    if args.stations < 1 or args.days <= 0 or args.moves_per_day <= 0:
        print("netlmm-aaa db sample: --stations, --days and --moves-per-day must be > 0", file=err)
        return 2
    rows = round(args.stations * args.days * args.moves_per_day * RECORDS_PER_MOVE)
    try:
        migrate.upgrade(args.db)
        site = Site(args.stations, args.mags, args.aps_per_mag)
        done = fill(args.db, rows, site, args.days, progress=False, until_now=True)
        engine = make_engine(args.db)
        with engine.connect() as connection:
            online = connection.execute(
                text("SELECT COUNT(*) FROM radacct WHERE acctstoptime IS NULL")
            ).scalar_one()
        engine.dispose()
    except SQLAlchemyError as exc:
        print(f"netlmm-aaa db sample: cannot use {args.db}: {exc}", file=err)
        return 2
    print(f"{done['rows']} records of {done['moves']} moves by {args.stations} stations over "
          f"{args.days:g} days; {online} sessions open in radacct", file=out)  # fmt: skip
    return 0


def _db_prune(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import socket
    from datetime import UTC, datetime

    from sqlalchemy.exc import SQLAlchemyError

    from netlmm_aaa.persistence.retention import (
        RetentionError,
        cutoff,
        parse_age,
        prune,
        record_prune,
    )
    from netlmm_aaa.reports.queries import ReportError, open_database

    try:
        age = parse_age(args.older_than)
        engine = open_database(args.db)
    except (RetentionError, ReportError) as exc:
        print(f"netlmm-aaa db prune: {exc}", file=err)
        return 2
    now = datetime.now(UTC)
    before = cutoff(now, age)
    try:
        deleted = prune(engine, before)
        if any(deleted.values()):
            record_prune(engine, f"cli@{socket.gethostname()}", now, before, deleted)
    except SQLAlchemyError as exc:
        print(f"netlmm-aaa db prune: {exc}", file=err)
        return 2
    finally:
        engine.dispose()
    print(f"deleted the rows recorded before {before.isoformat(timespec='seconds')}:", file=out)
    for table, count in deleted.items():
        print(f"  {table:<20} {count}", file=out)
    return 0


def _report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import os

    from netlmm_aaa.reports.output import render
    from netlmm_aaa.reports.queries import (
        ReportError,
        Reports,
        Window,
        open_database,
        parse_when,
    )

    url = args.db or os.environ.get("NETLMM_AAA_DB")
    try:
        if not url:
            raise ReportError("no database: give --db URL (or set NETLMM_AAA_DB)")
        window = Window(
            since=parse_when(args.since) if args.since else None,
            until=parse_when(args.until) if args.until else None,
        )
        if window.since and window.until and window.since >= window.until:
            raise ReportError(f"--since {args.since} is not before --until {args.until}")
        engine = open_database(url)
    except ReportError as exc:
        print(f"netlmm-aaa report: {exc}", file=err)
        return 2
    from sqlalchemy.exc import SQLAlchemyError

    reports = Reports(engine, window)
    try:
        if args.report_command == "html":
            from netlmm_aaa.reports.html import build

            document = build(reports, engine.url.render_as_string(hide_password=True))
            Path(args.output).write_text(document, encoding="utf-8")
            print(f"wrote {args.output} ({len(document)} bytes)", file=out)
            return 0
        tables = (
            reports.trail(args.mn_id)
            if args.report_command == "trail"
            else getattr(reports, args.report_command)()
        )
    except SQLAlchemyError as exc:
        print(f"netlmm-aaa report: database error: {str(exc).splitlines()[0]}", file=err)
        return 2
    except OSError as exc:
        print(f"netlmm-aaa report: cannot write {args.output}: {exc.strerror}", file=err)
        return 2
    finally:
        engine.dispose()
    print(render(tables, args.format), file=out)
    return 0


def _config_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import tomllib

    from netlmm_aaa.config import load_lma_config, load_mag_config

    try:
        with open(args.file, "rb") as stream:
            kind = "mag" if "mag" in tomllib.load(stream) else "lma"
    except (OSError, tomllib.TOMLDecodeError):
        kind = "lma"  # the loader below reports the problem
    try:
        if kind == "mag":
            mag = load_mag_config(args.file)
            summary = (
                f"valid MAG configuration ({len(mag.access_interfaces)} access interface(s), "
                f"{len(mag.nases)} NAS(es), {len(mag.hostapd)} hostapd)"
            )
        else:
            lma = load_lma_config(args.file)
            summary = f"valid LMA configuration ({len(lma.policy.peers)} MAG peer(s))"
    except ConfigError as exc:
        _print_problems(args.file, exc, err)
        return 1
    print(f"{args.file}: {summary}", file=out)
    return 0


def _print_problems(path: str, error: ConfigError, err: TextIO) -> None:
    """Every problem as ``file:line: message`` (``file: message`` where no line is known)."""
    from netlmm_aaa.config.locate import key_lines, line_of
    from netlmm_aaa.config.schema import ConfigProblems

    problems = error.problems if isinstance(error, ConfigProblems) else (error,)
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            lines = key_lines(stream.read())
    except OSError:
        lines = {}
    for problem in problems:
        message = str(problem)
        line = line_of(message, lines)
        place = f"{path}:{line}" if line is not None else path
        shown = message.removeprefix(f"{path}: ")  # file-level messages name the file already
        print(f"{place}: {shown}", file=err)
    if len(problems) > 1:
        print(f"{path}: {len(problems)} problems", file=err)


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

    lma = sub.add_parser(
        "lma",
        help="run the Local Mobility Anchor, list its bindings, or revoke one",
        description="Without a subcommand, runs the LMA daemon.",
    )
    lma.add_argument("--config", required=True, help="LMA configuration (TOML)")
    lma.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    lma.add_argument("--log-format", choices=("text", "json"), default="text",
                     help="log lines as text or JSON objects (default text)")  # fmt: skip
    lma_sub = lma.add_subparsers(dest="lma_command", metavar="SUBCOMMAND")
    bindings = lma_sub.add_parser("bindings", help="list the binding cache")
    bindings.add_argument("--format", choices=("table", "json"), default="table")
    revoke = lma_sub.add_parser("revoke", help="revoke a mobile node's binding (RFC 5846)")
    revoke.add_argument("mn_id", help="the MN-Identifier, e.g. alice@example.org")
    lma.set_defaults(handler=_lma)

    mag = sub.add_parser("mag", help="run the Mobile Access Gateway")
    mag.add_argument("--config", required=True, help="MAG configuration (TOML)")
    mag.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    mag.add_argument("--log-format", choices=("text", "json"), default="text",
                     help="log lines as text or JSON objects (default text)")  # fmt: skip
    mag.set_defaults(handler=_mag)

    demo = sub.add_parser(
        "demo",
        help="a live 802.1X handover in network namespaces (root; from a clone of the repository)",
        description="Builds FreeRADIUS, two hostapd+MAG pairs, the LMA, a CN and an MN, moves "
        "the MN and reports its address, the step timings and the packets lost. Its test bed "
        "(testbed/) is part of the repository, not of the installed package.",
    )
    demo.add_argument("--json", action="store_true", help="end with a JSON summary line")
    demo.set_defaults(handler=_demo)

    db = sub.add_parser("db", help="database schema migrations and retention")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="SUBCOMMAND")
    for name, default in (("upgrade", "head"), ("downgrade", None)):
        p = db_sub.add_parser(name, help=f"{name} the schema (Alembic)")
        p.add_argument("--db", required=True, help="SQLAlchemy URL, e.g. sqlite:///netlmm.db")
        if default is None:
            p.add_argument("revision", help="target revision ('base' for an empty schema)")
        else:
            p.add_argument("revision", nargs="?", default=default)
    prune = db_sub.add_parser(
        "prune",
        help="delete the raw rows older than an age (rollups and live state stay)",
        description="Deletes the rows of the audit, accounting, station, signalling, binding "
        "change and handover tables recorded before now minus AGE, in small transactions (the "
        "daemons may keep running), and records the run in audit_events (retention_pruned). "
        "The report rollups, bindings, policies and unsent accounting stay. The daemons do "
        "the same every hour when their configuration sets retention.",
    )
    prune.add_argument("--db", required=True, help="SQLAlchemy URL, e.g. sqlite:///netlmm.db")
    sample = db_sub.add_parser(
        "sample",
        help="fill a store with a synthetic site's records (for report writers)",
        description="Writes, through the daemons' own store, what a site's MAGs and LMA would "
        "record while STATIONS mobile nodes move between the APs of MAGS MAGs for DAYS days "
        "ending now: accounting (with usage, so radacct fills), station events, signalling, "
        "handovers and revocations, a few retransmitted or forged requests. The same site "
        "the reports benchmark uses; the database is migrated first.",
    )
    sample.add_argument("--db", required=True, help="SQLAlchemy URL, e.g. sqlite:///sample.db")
    sample.add_argument("--stations", type=int, default=200)
    sample.add_argument("--days", type=float, default=7.0)
    sample.add_argument("--moves-per-day", type=float, default=6.0,
                        help="moves (new sessions) per station and day")  # fmt: skip
    sample.add_argument("--mags", type=int, default=4)
    sample.add_argument("--aps-per-mag", type=int, default=4)
    prune.add_argument("--older-than", required=True, metavar="AGE",
                       help="36h, 90d, 12w (at least one day)")  # fmt: skip
    db.set_defaults(handler=_db)

    report = sub.add_parser("report", help="reports over the audit store")
    report_sub = report.add_subparsers(dest="report_command", required=True, metavar="REPORT")
    described = {
        "trail": "where a mobile node was and when (MAG/AP/SSID, prefix, from/until)",
        "handovers": "handover count and latency percentiles, per MAG pair and per hour",
        "aps": "attachments, handovers in/out and distinct mobile nodes per AP",
        "security": "rejected and suspicious events by reason and NAS",
        "signaling": "mobility messages per handover; messages from non-peers or malformed",
        "html": "one self-contained HTML report with charts",
    }
    for name, text in described.items():
        p = report_sub.add_parser(name, help=text, description=text)
        if name == "trail":
            p.add_argument("mn_id", metavar="MN-ID", help="the mobile node (NAI or CUI)")
        if name == "html":
            p.add_argument("output", metavar="OUT.html")
        p.add_argument("--db", help="SQLAlchemy URL of the audit store (or NETLMM_AAA_DB)")
        p.add_argument("--since", help="start: ISO 8601 time (UTC if naive) or 24h, 7d ...")
        p.add_argument("--until", help="end (exclusive), same forms as --since")
        if name != "html":
            p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.set_defaults(handler=_report)

    dataplane = sub.add_parser("dataplane", help="the kernel's tunnel data plane")
    dataplane_sub = dataplane.add_subparsers(dest="dataplane_command", required=True,
                                             metavar="SUBCOMMAND")  # fmt: skip
    probe = dataplane_sub.add_parser(
        "probe",
        help="which tunnel backends this kernel supports (root)",
        description="Opens every tunnel backend with one binding route in a scratch network "
        "namespace and prints one line per backend with the reason, then what backend = "
        '"auto" would choose. Exit status 1 when no encapsulating backend works.',
    )
    probe.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    dataplane.set_defaults(handler=_dataplane_probe)

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    check = config_sub.add_parser(
        "check",
        help="validate a configuration file",
        description="Reads a MAG or LMA configuration file and reports every problem in one "
        "pass, one line each: FILE:LINE: KEY.PATH: what is wrong. Exit status 1 when there "
        "is any. The keys: docs/configuration.md.",
    )
    check.add_argument("file")
    config.set_defaults(handler=_config_check)
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
