"""Helpers for driving the LMA core in tests: peers, a policy, PBU builders, action filters."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

from netlmm_aaa.core.actions import (
    InstallBindingRoutes,
    LmaAction,
    RecordAudit,
    RemoveBindingRoutes,
    SendMessage,
)
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.codes import BindingUpdateFlag
from netlmm_aaa.core.events import MobilityMessageReceived, Transport
from netlmm_aaa.core.lma_policy import LmaPolicy, MagPeer
from netlmm_aaa.core.lma import LocalMobilityAnchor
from netlmm_aaa.core.messages import ProxyBindingAcknowledgement, ProxyBindingUpdate
from netlmm_aaa.core.options import (
    AccessTechnologyTypeOption,
    HandoffIndicatorOption,
    HomeNetworkPrefixOption,
    MobileNodeIdentifierOption,
    MobileNodeLinkLayerIdentifierOption,
    MobilityOption,
    TimestampOption,
)

LMAA = "2001:db8:ff::1"
MAG1_ADDR = "2001:db8:ff::11"
MAG2_ADDR = "2001:db8:ff::12"
MAG1_V4 = "192.0.2.11"
MAG1 = MagPeer(name="mag1", addresses=frozenset({MAG1_ADDR, MAG1_V4}), tunnel_address=MAG1_ADDR)
MAG2 = MagPeer(name="mag2", addresses=frozenset({MAG2_ADDR}), tunnel_address=MAG2_ADDR)
ALICE = b"alice@example.org"
BOB = b"bob@example.org"
T0 = Now(1000.0, 1_700_000_000.0)
ZERO_HNP = HomeNetworkPrefixOption(bytes(16), 0)

_A = TypeVar("_A")


def make_policy(**changes: Any) -> LmaPolicy:
    base = LmaPolicy(
        peers=(MAG1, MAG2),
        prefix_pool="2001:db8:1000::/60",
        ipv4_pool="203.0.113.0/24",
        ipv4_default_router="203.0.113.1",
        heartbeat_interval=0,
    )
    return replace(base, **changes)


def make_lma(**changes: Any) -> LocalMobilityAnchor:
    return LocalMobilityAnchor(make_policy(**changes))


def pbu(
    sequence: int = 1,
    lifetime: int = 900,
    *,
    mn_id: bytes | None = ALICE,
    hnps: tuple[HomeNetworkPrefixOption, ...] | None = (ZERO_HNP,),
    hi: int | None = 1,
    att: int | None = 4,
    timestamp: float | None = None,
    extra: tuple[MobilityOption, ...] = (),
    flags: int = BindingUpdateFlag.A | BindingUpdateFlag.P,
) -> ProxyBindingUpdate:
    options: list[MobilityOption] = []
    if mn_id is not None:
        options.append(MobileNodeIdentifierOption(mn_id))
    options.extend(hnps or ())
    if hi is not None:
        options.append(HandoffIndicatorOption(hi))
    if att is not None:
        options.append(AccessTechnologyTypeOption(att))
    options.append(MobileNodeLinkLayerIdentifierOption.from_mac("02:00:00:00:01:01"))
    if timestamp is not None:
        options.append(TimestampOption.from_seconds(timestamp))
    options.extend(extra)
    return ProxyBindingUpdate(sequence, lifetime, flags, tuple(options))


def receive(
    lma: LocalMobilityAnchor,
    message: Any,
    now: Now = T0,
    source: str = MAG1_ADDR,
    transport: Transport = Transport.IPV6,
    port: int = 0,
) -> list[LmaAction]:
    destination = LMAA if transport is Transport.IPV6 else "192.0.2.1"
    event = MobilityMessageReceived(
        message=message,
        source=source,
        destination=destination,
        transport=transport,
        source_port=port,
    )
    return lma.handle(event, now)


def of_type(actions: list[LmaAction], kind: type[_A]) -> list[_A]:
    return [a for a in actions if type(a) is kind]  # type: ignore[misc]


def sent(actions: list[LmaAction]) -> list[SendMessage]:
    return of_type(actions, SendMessage)


def pba(actions: list[LmaAction]) -> ProxyBindingAcknowledgement:
    replies = [s.message for s in sent(actions) if type(s.message) is ProxyBindingAcknowledgement]
    assert len(replies) == 1, replies
    return replies[0]  # type: ignore[return-value]


def audits(actions: list[LmaAction], kind: str) -> list[RecordAudit]:
    return [a for a in of_type(actions, RecordAudit) if a.kind == kind]


def installs(actions: list[LmaAction]) -> list[InstallBindingRoutes]:
    return of_type(actions, InstallBindingRoutes)


def removals(actions: list[LmaAction]) -> list[RemoveBindingRoutes]:
    return of_type(actions, RemoveBindingRoutes)
