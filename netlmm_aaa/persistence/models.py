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
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
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
