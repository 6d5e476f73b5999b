"""The SQL schema (a public interface: operators write reports against it; change it only with a
migration). Times are UTC ``timestamp with time zone``; MN-IDs are text (NAIs are UTF-8) with the
exact octets beside them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class LmaBinding(Base):
    """One binding cache entry of an LMA (RFC 5213 §5.1), as last committed."""

    __tablename__ = "lma_bindings"

    lma: Mapped[str] = mapped_column(String(64), primary_key=True)
    mn_id_raw: Mapped[bytes] = mapped_column(LargeBinary(255), primary_key=True)
    mn_id: Mapped[str] = mapped_column(Text, index=True)
    home_network_prefixes: Mapped[str] = mapped_column(Text)  # comma-separated
    ipv4_home_address: Mapped[str | None] = mapped_column(String(15))
    mag: Mapped[str] = mapped_column(String(64))
    proxy_coa: Mapped[str] = mapped_column(String(45))
    signalling_address: Mapped[str] = mapped_column(String(45))
    transport: Mapped[str] = mapped_column(String(8))
    link_layer_identifier: Mapped[str] = mapped_column(String(64))
    access_technology: Mapped[int] = mapped_column(Integer)
    lifetime: Mapped[int] = mapped_column(Integer)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_handover_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_sequence: Mapped[int] = mapped_column(Integer)
    last_timestamp: Mapped[int | None] = mapped_column(BigInteger)
    gre_key_downlink: Mapped[int | None] = mapped_column(BigInteger)
    gre_key_uplink: Mapped[int | None] = mapped_column(BigInteger)
    deregistered: Mapped[bool] = mapped_column(Boolean, default=False)


class NodeState(Base):
    """Small per-daemon state that must survive restarts (the RFC 5847 restart counter)."""

    __tablename__ = "node_state"

    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class UpstreamSpool(Base):
    """Accepted accounting not yet answered by the upstream accounting server: written in the
    transaction that lets the NAS's answer go, deleted once the upstream answered (a restart
    or an upstream outage of hours loses none)."""

    __tablename__ = "upstream_spool"

    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    enqueued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    datagram: Mapped[bytes] = mapped_column(LargeBinary)


class AuditEvent(Base):
    """The append-only audit trail: one row per thing that happened."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    node: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    mn_id: Mapped[str | None] = mapped_column(Text)
    peer: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_audit_events_kind_at", "kind", "at"),
        Index("ix_audit_events_mn_id_at", "mn_id", "at"),
    )


class MobileNodePolicyRow(Base):
    """Per-node policy profiles kept in SQL (the alternative to ``[[lma.mobile_node]]``).

    ``lma`` NULL applies to every LMA sharing the database. ``allowed_mags`` is a comma-separated
    list of MAG names, NULL for all.
    """

    __tablename__ = "mobile_node_policies"

    mn_id: Mapped[str] = mapped_column(Text, primary_key=True)
    lma: Mapped[str | None] = mapped_column(String(64))
    home_network_prefix: Mapped[str | None] = mapped_column(String(43))
    ipv4_home_address: Mapped[str | None] = mapped_column(String(15))
    proxy_mobility: Mapped[bool] = mapped_column(Boolean, default=True)
    ipv4_service: Mapped[bool] = mapped_column(Boolean, default=True)
    ipv6_service: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_mags: Mapped[str | None] = mapped_column(Text)


# ---------------------------------------------------------------------- report tables
# Append-only facts written by the daemons (rows are never updated or deleted by the code).
# The generic ``audit_events`` keeps every other kind; the view ``audit_trail`` unions them all.


def _id() -> Mapped[int]:
    return mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )


class AccountingRecord(Base):
    """One RADIUS Accounting-Request seen by a MAG: accepted, duplicate or rejected."""

    __tablename__ = "accounting_records"

    id: Mapped[int] = _id()
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    node: Mapped[str] = mapped_column(String(64))  # the MAG that received it
    nas: Mapped[str] = mapped_column(String(64))  # the NAS name, or the source address
    outcome: Mapped[str] = mapped_column(String(16))  # accepted | duplicate | rejected
    reason: Mapped[str | None] = mapped_column(String(64))
    status_type: Mapped[int | None] = mapped_column(Integer)  # Acct-Status-Type
    session_id: Mapped[str | None] = mapped_column(String(253))
    mn_id: Mapped[str | None] = mapped_column(Text)
    mac: Mapped[str | None] = mapped_column(String(64))  # Calling-Station-Id
    ap: Mapped[str | None] = mapped_column(String(64))  # Called-Station-Id, MAC part
    ssid: Mapped[str | None] = mapped_column(String(64))  # Called-Station-Id, SSID part
    detail: Mapped[str | None] = mapped_column(Text)
    # rejected packets of this origin and reason in one interval (aggregated); 1 otherwise
    packets: Mapped[int] = mapped_column(Integer, server_default=text("1"))

    __table_args__ = (
        Index("ix_accounting_records_at", "at"),
        Index("ix_accounting_records_outcome_at", "outcome", "at"),
    )


TRAIL_EVENTS = (
    "registered", "detached", "deregistered", "revoked", "replaced", "refresh_rejected",
    "pbu_unanswered",
)  # fmt: skip
"""The station events of a location trail: a registration starts a stay, the others end it."""
TRAIL_EVENTS_SQL = "event IN (" + ", ".join(f"'{e}'" for e in TRAIL_EVENTS) + ")"
"""The condition of ``ix_station_events_mn_id_at``; a query that names it, verbatim, can use
that index (SQLite matches a partial index's condition term by term)."""

AP_KEY_SQL = "COALESCE(NULLIF(COALESCE(ap, interface), ''), '?')"
"""What an AP is called in ``report aps``: its address, else the MAG's access interface."""

SSID_KEY_SQL = "COALESCE(ssid, '')"

REFUSED_STATION_SQL = "event IN ('rejected', 'conflict', 'registration_rejected')"
"""The condition of ``ix_station_events_refused`` (the station refusals the security report and
the ``rejections`` view read); queries name it verbatim to use that index."""

REJECTED_PBU_SQL = "message = 'PBU' AND direction = 'received' AND status >= 128"
"""The condition of ``ix_signaling_rejected_pbu`` (the PBUs an LMA refused, in ``rejections``)."""

MAG_PBU_SQL = "message = 'PBU' AND direction = 'sent'"
"""The condition of ``ix_signaling_node_sequence``: the PBUs a MAG sent and got answered, the
rows ``handover_timings`` joins; a query that names it verbatim can use that index."""


class StationEvent(Base):
    """A station's life at a MAG: attached, registered (PBA accepted), detached, rejected."""

    __tablename__ = "station_events"

    id: Mapped[int] = _id()
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    node: Mapped[str] = mapped_column(String(64))  # the MAG
    event: Mapped[str] = mapped_column(String(32))
    mn_id: Mapped[str | None] = mapped_column(Text)
    mac: Mapped[str | None] = mapped_column(String(17))
    interface: Mapped[str | None] = mapped_column(String(64))
    ap: Mapped[str | None] = mapped_column(String(64))
    ssid: Mapped[str | None] = mapped_column(String(64))
    prefixes: Mapped[str | None] = mapped_column(Text)  # comma-separated, on "registered"
    ipv4_home_address: Mapped[str | None] = mapped_column(String(15))
    reason: Mapped[str | None] = mapped_column(Text)
    nas: Mapped[str | None] = mapped_column(String(64))  # the NAS of an accounting-path event

    __table_args__ = (
        # Partial: only the events a location trail reads (an index with one insertion point
        # per node is paid for on every insert; ``attached`` alone is a third of the rows).
        # The columns after (mn_id, at) are what ``report aps`` reads: its walk over every
        # registration of a period then reads the index alone.
        Index(
            "ix_station_events_mn_id_at",
            "mn_id",
            "at",
            "id",
            "event",
            "node",
            "ap",
            "interface",
            "ssid",
            sqlite_where=text(TRAIL_EVENTS_SQL),
            postgresql_where=text(TRAIL_EVENTS_SQL),
        ),
        Index("ix_station_events_at", "at"),
        # Partial: a node's registrations at one AP, in time order (the ``report_ap_rollup``
        # trigger finds the previous and next visit there).
        Index(
            "ix_station_events_visit",
            "mn_id",
            "node",
            text(AP_KEY_SQL),
            text(SSID_KEY_SQL),
            "at",
            "id",
            sqlite_where=text("event = 'registered'"),
            postgresql_where=text("event = 'registered'"),
        ),
        # Partial: refusals are rare, and the security report reads all of them.
        Index(
            "ix_station_events_refused",
            "at",
            sqlite_where=text(REFUSED_STATION_SQL),
            postgresql_where=text(REFUSED_STATION_SQL),
        ),
    )


class SignalingRecord(Base):
    """One mobility signaling exchange (PBU/PBA, BRI/BRA, heartbeat state) at a MAG or LMA."""

    __tablename__ = "signaling"

    id: Mapped[int] = _id()
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    node: Mapped[str] = mapped_column(String(64))
    peer: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(String(8))  # PBU | BRI | BRA | MH
    direction: Mapped[str] = mapped_column(String(8))  # sent | received
    mn_id: Mapped[str | None] = mapped_column(Text)
    sequence: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[int | None] = mapped_column(Integer)  # the PBA/BRA status answered/received
    handoff_indicator: Mapped[int | None] = mapped_column(Integer)
    lifetime: Mapped[int | None] = mapped_column(Integer)
    rtt_ms: Mapped[float | None] = mapped_column(Float)  # PBU first sent -> PBA received
    event_to_ack_ms: Mapped[float | None] = mapped_column(Float)  # station event -> PBA
    retransmissions: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_signaling_at", "at"),
        # Partial: only the MAGs' own PBUs, which ``handover_timings`` looks up by sequence
        # (an LMA's answered PBUs carry all its MAGs' sequences: random insertion points).
        Index(
            "ix_signaling_node_sequence",
            "node",
            "sequence",
            sqlite_where=text(MAG_PBU_SQL),
            postgresql_where=text(MAG_PBU_SQL),
        ),
        Index(
            "ix_signaling_rejected_pbu",
            "at",
            sqlite_where=text(REJECTED_PBU_SQL),
            postgresql_where=text(REJECTED_PBU_SQL),
        ),
    )


class BindingChange(Base):
    """A binding cache entry at an LMA was created, revived, moved, deregistered or expired."""

    __tablename__ = "binding_changes"

    id: Mapped[int] = _id()
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    node: Mapped[str] = mapped_column(String(64))  # the LMA
    change: Mapped[str] = mapped_column(String(32))
    mn_id: Mapped[str | None] = mapped_column(Text)
    mag: Mapped[str | None] = mapped_column(String(64))
    prefixes: Mapped[str | None] = mapped_column(Text)
    ipv4_home_address: Mapped[str | None] = mapped_column(String(15))

    __table_args__ = (Index("ix_binding_changes_at", "at"),)


class Handover(Base):
    """A binding moved from one MAG to another at an LMA (one row per handover)."""

    __tablename__ = "handovers"

    id: Mapped[int] = _id()
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    node: Mapped[str] = mapped_column(String(64))  # the LMA
    mn_id: Mapped[str | None] = mapped_column(Text)
    from_mag: Mapped[str] = mapped_column(String(64))
    to_mag: Mapped[str] = mapped_column(String(64))
    handoff_indicator: Mapped[int | None] = mapped_column(Integer)
    sequence: Mapped[int | None] = mapped_column(Integer)
    prefixes: Mapped[str | None] = mapped_column(Text)
    route_switch_ms: Mapped[float | None] = mapped_column(Float)  # PBU in -> routes moved

    __table_args__ = (Index("ix_handovers_at", "at"),)


class ReportRollup(Base):
    """Aggregates the writers keep beside the facts, for reports over long periods.

    ``period``: ``YYYY-MM-DD HH`` (UTC hour) for ``route_switch`` (the handover latency
    histogram, 0.1 ms buckets); ``YYYY-MM-DD`` (UTC day) for ``pair`` (key1/key2 = from/to MAG,
    1 ms buckets), ``registration`` and ``pbu_rtt`` (key1 = MAG, 0.1 ms buckets), ``signaling``
    (key1 = node, key2 e.g. ``PBU sent``; ``total`` = retransmissions) and ``strangers``
    (mobility messages from non-peers). Bucket -1: no value. ``n`` = how many, ``total`` = sum
    of values, ``maximum``.
    """

    __tablename__ = "report_rollup"

    period: Mapped[str] = mapped_column(String(13), primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    key1: Mapped[str] = mapped_column(String(64), primary_key=True)
    key2: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[float] = mapped_column(Float)
    maximum: Mapped[float | None] = mapped_column(Float)


class ReportApRollup(Base):
    """What ``report aps`` reads for whole UTC days, kept by a trigger on ``station_events`` in
    the transaction that inserts each ``registered`` row (migration 0014; on PostgreSQL once
    per statement, 0015), in the time order of the registrations whatever order they are
    inserted in.

    Per ``day`` and AP (``node`` = its MAG, ``ap`` = :data:`AP_KEY_SQL`, ``ssid`` =
    :data:`SSID_KEY_SQL`): ``attachments`` (registrations there), ``handovers_in``
    (registrations there of a node whose previous registration was at another AP) and
    ``handovers_out`` (registrations elsewhere of a node whose previous one was here). The
    handovers are on rows with ``since = ''``. ``by_node``: the MAG whose registration's insert
    made the change, so that each MAG's writer updates rows of its own only (those of another
    MAG's AP too) and writers of several MAGs on one database never wait for each other's rows.
    ``since``: the day the same node was last registered at this AP before (``''``: never), so
    the distinct nodes of days [a, b) are the attachments of those days with ``since < a``.
    """

    __tablename__ = "report_ap_rollup"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    ap: Mapped[str] = mapped_column(String(64), primary_key=True)
    ssid: Mapped[str] = mapped_column(String(64), primary_key=True)
    since: Mapped[str] = mapped_column(String(10), primary_key=True)
    by_node: Mapped[str] = mapped_column(String(64), primary_key=True)
    attachments: Mapped[int] = mapped_column(BigInteger)
    handovers_in: Mapped[int] = mapped_column(BigInteger)
    handovers_out: Mapped[int] = mapped_column(BigInteger)


def _inet() -> Any:
    """An address or prefix column: ``inet`` on PostgreSQL (as FreeRADIUS's schema), text on
    SQLite."""
    return Text().with_variant(INET(), "postgresql")


RADACCT_OPEN_SQL = "acctstoptime IS NULL"
"""The condition of the partial indexes over sessions still open (the online stations)."""


class Radacct(Base):
    """One row per accounting session, in FreeRADIUS rlm_sql's ``radacct`` layout (its column
    names and types), kept by the store from the accepted accounting: started by a Start (or the
    first Interim-Update when the Start was lost), updated by each Interim-Update, closed by the
    Stop or by the NAS's Accounting-On/Off (``NAS-Reboot``). ``acctstoptime IS NULL`` = online.
    The home network prefix and IPv4 home address the station registered with fill
    ``framedipv6prefix`` / ``framedipaddress`` where the NAS sent none.
    Beyond rlm_sql: the MAG (``node``) and NAS (``nasname``) that took the session, the
    MN-ID, and packet counts."""

    __tablename__ = "radacct"

    radacctid: Mapped[int] = _id()
    acctsessionid: Mapped[str] = mapped_column(Text)
    acctuniqueid: Mapped[str] = mapped_column(Text, unique=True)
    username: Mapped[str | None] = mapped_column(Text)
    realm: Mapped[str | None] = mapped_column(Text)
    nasipaddress: Mapped[str] = mapped_column(_inet())
    nasportid: Mapped[str | None] = mapped_column(Text)
    nasporttype: Mapped[str | None] = mapped_column(Text)
    acctstarttime: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acctupdatetime: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acctstoptime: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acctinterval: Mapped[int | None] = mapped_column(BigInteger)
    acctsessiontime: Mapped[int | None] = mapped_column(BigInteger)
    acctauthentic: Mapped[str | None] = mapped_column(Text)
    connectinfo_start: Mapped[str | None] = mapped_column(Text)
    connectinfo_stop: Mapped[str | None] = mapped_column(Text)
    acctinputoctets: Mapped[int | None] = mapped_column(BigInteger)
    acctoutputoctets: Mapped[int | None] = mapped_column(BigInteger)
    calledstationid: Mapped[str | None] = mapped_column(Text)
    callingstationid: Mapped[str | None] = mapped_column(Text)
    acctterminatecause: Mapped[str | None] = mapped_column(Text)
    servicetype: Mapped[str | None] = mapped_column(Text)
    framedprotocol: Mapped[str | None] = mapped_column(Text)
    framedipaddress: Mapped[str | None] = mapped_column(_inet())
    framedipv6address: Mapped[str | None] = mapped_column(_inet())
    framedipv6prefix: Mapped[str | None] = mapped_column(_inet())
    framedinterfaceid: Mapped[str | None] = mapped_column(Text)
    delegatedipv6prefix: Mapped[str | None] = mapped_column(_inet())
    class_: Mapped[str | None] = mapped_column("class", Text)
    node: Mapped[str] = mapped_column(String(64))
    nasname: Mapped[str] = mapped_column(String(64))
    mn_id: Mapped[str | None] = mapped_column(Text)
    acctinputpackets: Mapped[int | None] = mapped_column(BigInteger)
    acctoutputpackets: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_radacct_acctstarttime_username", "acctstarttime", "username"),
        Index("ix_radacct_username_acctstarttime", "username", "acctstarttime"),
        # The open sessions by MAG and station: the addresses a registration fills in, and a
        # NAS's Accounting-On/Off by the leading column (one such index: see migration 0012).
        Index(
            "ix_radacct_open_node_callingstationid",
            "node",
            "callingstationid",
            sqlite_where=text(RADACCT_OPEN_SQL),
            postgresql_where=text(RADACCT_OPEN_SQL),
        ),
    )
