"""A synthetic but consistent site for report writers and the reports bench (``netlmm-aaa db
sample``): mobile nodes moving between the APs of several MAGs, and per move every record the
daemons would write (accounting Start, Interim-Update with usage and the old session's Stop,
station attached/registered, the PBU exchange, the LMA's handover and RFC 5846 revocation),
with now and then a retransmitted or forged accounting request. Records go through the
daemons' own ``SqlStore``, so every table (``radacct`` and the rollups included) is filled as
the daemons fill it.
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any

from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.persistence.database import make_engine
from netlmm_aaa.persistence.store import SqlStore

DAY = 86400.0
RECORDS_PER_MOVE = 11
"""About how many records one move writes (all nodes together)."""
FOLLOW_UP = 300.0  # a move's accounting Interim-Update comes this much later


class Site:
    """Synthetic but consistent activity: sequence numbers, prefixes, APs all line up."""

    def __init__(self, mobile_nodes: int, mags: int, aps_per_mag: int, seed: int = 7) -> None:
        self.random = random.Random(seed)
        self.mags = [f"mag{i + 1}" for i in range(mags)]
        self.aps = {m: [f"02-aa-{i:02x}-{j:02x}-00-01" for j in range(aps_per_mag)]
                    for i, m in enumerate(self.mags)}  # fmt: skip
        self.sequence = dict.fromkeys(self.mags, 0)
        self.nodes = [f"user{i:06d}@corp.example" for i in range(mobile_nodes)]
        self.where: dict[int, tuple[str, str]] = {}
        self.sessions: dict[int, tuple[str, float]] = {}
        """Each node's open accounting session: (Acct-Session-Id, when it started)."""
        self.moves = [0] * mobile_nodes
        self.session = 0
        # The timeline: the store-insert samples continue it (``clock``), and the month of the
        # fill ends where it starts (``origin``), so that every record is written in time
        # order, as a daemon writes them (samples restarting from the wall clock would write
        # into the middle of the previous ones' synthetic minutes and make each index's
        # insertions random instead of appends: measured -25% over six samples).
        self.origin = self.clock = time.time()

    def _next_sequence(self, mag: str) -> int:
        self.sequence[mag] = (self.sequence[mag] + 1) & 0xFFFF
        return self.sequence[mag]

    def move(self, t: float) -> dict[str, list[RecordAudit]]:
        """One node moves (or attaches first): the records each node writes."""
        r = self.random
        i = r.randrange(len(self.nodes))
        self.moves[i] += 1
        mn = self.nodes[i].encode()
        mac = f"02:00:{i >> 16 & 0xFF:02x}:{i >> 8 & 0xFF:02x}:{i & 0xFF:02x}:01"
        prefix = f"2001:db8:{i >> 16:x}:{i & 0xFFFF:x}::/64"
        ipv4 = f"10.{i >> 16 & 0xFF}.{i >> 8 & 0xFF}.{i & 0xFF}"
        old = self.where.get(i)
        if old is None or r.random() < 0.1:  # first attachment, or a jump across the site
            mag = r.choice(self.mags)
        else:  # most moves are to a neighbouring building/floor
            here = self.mags.index(old[0])
            mag = self.mags[(here + r.choice((-2, -1, 1, 2))) % len(self.mags)]
        if old is not None and old[0] == mag:
            mag = self.mags[(self.mags.index(mag) + 1) % len(self.mags)]
        ap = r.choice(self.aps[mag])
        self.where[i] = (mag, ap)
        seq = self._next_sequence(mag)
        hi = 2 if old is not None else 1
        rtt = r.lognormvariate(1.1, 0.25)  # ~3 ms
        route = rtt * 0.4
        self.session += 1
        called = f"{ap.upper()}:Corp"
        out: dict[str, list[RecordAudit]] = {mag: [], "lma1": []}
        session = f"{self.session:016X}"
        previous = self.sessions.get(i)
        self.sessions[i] = (session, t)
        nas_ip = f"192.0.2.{self.mags.index(mag) % 250 + 1}"
        acct = {"status": 1, "session_id": session, "mac": mac, "called_station_id": called,
                "authentic": 1, "user_name": self.nodes[i], "event_timestamp": int(t),
                "nas_ip": nas_ip, "nas_port_type": 19}  # fmt: skip
        # Usage by the Interim-Update: a few MB, most of it downloaded.
        down = int(r.lognormvariate(14.5, 1.2))
        usage = {"session_time": int(FOLLOW_UP), "in_octets": down // 8, "out_octets": down,
                 "in_packets": down // 8 // 600 + 1, "out_packets": down // 1200 + 1}  # fmt: skip
        out[mag] += [
            RecordAudit(kind=AuditKind.ACCOUNTING, utc=t, mn_id=mn, peer=f"nas-{mag}", fields=acct),
            RecordAudit(kind=AuditKind.STATION_ATTACHED, utc=t + 0.0005, mn_id=mn, peer=mag,
                        fields={"mac": mac, "interface": "acc0", "ap": ap.replace("-", ":"),
                                "ssid": "Corp"}),
            RecordAudit(kind=AuditKind.PBA, utc=t + 0.0005 + rtt / 1000, mn_id=mn, peer=mag,
                        fields={"status": 0, "sequence": seq, "lifetime": 3600, "rtt_ms": rtt,
                                "retransmissions": 0, "handoff_indicator": hi,
                                "event_to_ack_ms": rtt + 0.5}),
            RecordAudit(kind=AuditKind.STATION_REGISTERED, utc=t + 0.0006 + rtt / 1000, mn_id=mn,
                        peer=mag, fields={"mac": mac, "interface": "acc0",
                                          "ap": ap.replace("-", ":"), "ssid": "Corp",
                                          "prefixes": [prefix], "ipv4": ipv4}),
            RecordAudit(kind=AuditKind.ACCOUNTING, utc=t + FOLLOW_UP, mn_id=mn, peer=f"nas-{mag}",
                        fields={**acct, "status": 3, "event_timestamp": int(t + FOLLOW_UP),
                                **usage}),
        ]  # fmt: skip
        if r.random() < 0.02:
            out[mag].append(RecordAudit(kind=AuditKind.ACCOUNTING_DUPLICATE, utc=t + 0.01, mn_id=mn,
                                        peer=f"nas-{mag}", fields=acct))  # fmt: skip
        if r.random() < 0.005:
            out[mag].append(RecordAudit(kind=AuditKind.ACCOUNTING_REJECTED, utc=t + 0.02,
                                        peer=f"192.0.2.{r.randrange(1, 255)}",
                                        fields={"reason": "bad_authenticator",
                                                "detail": "forged"}))  # fmt: skip
        lma = out["lma1"]
        lma.append(RecordAudit(kind=AuditKind.PBU, utc=t + 0.001, mn_id=mn, peer=mag,
                               fields={"status": 0, "sequence": seq, "lifetime": 3600,
                                       "handoff_indicator": hi, "transport": "ipv6"}))  # fmt: skip
        if old is None:
            created = {"prefixes": [prefix], "ipv4": ipv4}
            lma.append(RecordAudit(kind=AuditKind.BINDING_CREATED, utc=t + 0.001, mn_id=mn,
                                   peer=mag, fields=created))  # fmt: skip
            return out
        lma += [
            RecordAudit(kind=AuditKind.HANDOVER, utc=t + 0.001, mn_id=mn, peer=mag,
                        fields={"from_mag": old[0], "to_mag": mag, "handoff_indicator": hi,
                                "sequence": seq, "prefixes": [prefix], "ipv4": ipv4,
                                "route_switch_ms": route}),
            RecordAudit(kind=AuditKind.BRI_SENT, utc=t + 0.001, mn_id=mn, peer=old[0],
                        fields={"sequence": seq, "reason": "inter-MAG handover"}),
            RecordAudit(kind=AuditKind.BRA_RECEIVED, utc=t + 0.003, mn_id=mn, peer=old[0],
                        fields={"sequence": seq, "status": 0}),
        ]  # fmt: skip
        out.setdefault(old[0], []).extend([
            RecordAudit(kind=AuditKind.BINDING_REVOKED, utc=t + 0.002, mn_id=mn, peer=old[0],
                        fields={"mac": mac, "trigger": 3}),
            RecordAudit(kind=AuditKind.ACCOUNTING, utc=t + 0.004, mn_id=mn, peer=f"nas-{old[0]}",
                        fields=self._stop(previous, t, acct, old)),
        ])  # fmt: skip
        return out

    def _stop(
        self,
        previous: tuple[str, float] | None,
        t: float,
        acct: dict[str, Any],
        old: tuple[str, str],
    ) -> dict[str, Any]:
        """The Stop of the node's previous session, at the MAG it left."""
        session, began = previous if previous is not None else (acct["session_id"], t)
        elapsed = max(0, int(t - began))
        down = int(self.random.lognormvariate(15.0, 1.2))
        return {**acct, "status": 2, "session_id": session, "event_timestamp": int(t),
                "called_station_id": f"{old[1].upper()}:Corp", "session_time": elapsed,
                "terminate_cause": 1, "nas_ip": f"192.0.2.{self.mags.index(old[0]) % 250 + 1}",
                "in_octets": down // 8, "out_octets": down, "in_packets": down // 8 // 600 + 1,
                "out_packets": down // 1200 + 1}  # fmt: skip


def fill(
    url: str, rows: int, site: Site, days: float, progress: bool, *, until_now: bool = False
) -> dict[str, Any]:
    """Write about ``rows`` records over the ``days`` before ``site.origin`` (with
    ``until_now``, none after it); returns rows written, store seconds, moves."""
    engine = make_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    stores: dict[str, SqlStore] = {}
    written = handovers = 0
    store_seconds = 0.0
    start = site.origin - days * DAY - FOLLOW_UP - 1.0  # the month before the samples' records
    # Spread the moves over the period.
    step = days * DAY / max(1, rows / RECORDS_PER_MOVE)
    t = start
    chunk: dict[str, list[RecordAudit]] = {}
    in_chunk = 0
    last_report = time.monotonic()

    def flush() -> None:
        nonlocal store_seconds, written
        began = time.perf_counter()
        futures = []
        for node, records in chunk.items():
            store = stores.get(node)
            if store is None:
                # One WAL checkpointer per SQLite file is enough.
                store = stores[node] = SqlStore(
                    engine, node, lma=node == "lma1", checkpoints=not stores
                )
            futures.append(store.submit(audit=records))
            if sqlite:  # one writer at a time: SQLite has one write lock per file
                futures[-1].result(600)
        for f in futures:
            f.result(600)
        store_seconds += time.perf_counter() - began
        written += sum(len(v) for v in chunk.values())
        chunk.clear()

    while written + in_chunk < rows and not (until_now and t >= site.origin - FOLLOW_UP):
        for node, records in site.move(t).items():
            chunk.setdefault(node, []).extend(records)
            in_chunk += len(records)
        handovers += 1
        t += step * site.random.uniform(0.5, 1.5)
        if in_chunk >= 500_000:
            flush()
            in_chunk = 0
            if progress and time.monotonic() - last_report > 5:
                last_report = time.monotonic()
                print(f"  {written:,}/{rows:,} rows, {written / store_seconds:,.0f} rows/s",
                      file=sys.stderr, flush=True)  # fmt: skip
    flush()
    for store in stores.values():
        store.close()
    engine.dispose()
    return {"rows": written, "store_seconds": store_seconds, "moves": handovers}
