"""The Local Mobility Anchor: binding cache and RFC 5213 §5.3 PBU processing, sans-IO.

Rules / theory of operation
===========================

Fed events (:mod:`.events`) and a :class:`~.clock.Now`; returns actions (:mod:`.actions`) for the
runner to carry out in order. It never reads a clock or touches a socket, a route or a database.

PBU processing (RFC 5213 §5.3.1), checks in the RFC's order, each answered with its exact status:

1. IPsec authentication is the transport's business; here the source must be a configured MAG peer.
2. MH syntax was checked by the decoder (malformed packets arrive as ``MalformedPacketReceived``).
3. P flag clear: not a proxy registration we can serve (129, administratively prohibited).
4. No MN-ID option: 160, with a zero-length MN-ID in the PBA.
5-6. Source not a configured MAG, or a MAG the node's policy does not allow: 154.
7. Node without a policy profile while unknown nodes are rejected: 153.
8. Node not authorized for network-based mobility: 152.
9. Timestamp option: outside TimestampValidityWindow of our clock 156, not newer than the last
   accepted one 157 (both PBAs carry our current time). No Timestamp: 156 if timestamps are
   required, else sequence numbers (RFC 6275 §9.5.1), kept per MAG for each binding since MAGs
   do not share counters: not newer than the last one accepted from that MAG 135 (so a replayed
   PBU of a previous MAG cannot pull the binding back; a MAG new to the binding may start
   anywhere). An *equal* number is accepted when it revives a binding held after
   de-registration, because the OPMIP MAG reuses the de-registration's number.
10-12. No HNP option 158, no HI 161, no ATT 162 (ATT=0 is accepted as "unspecified").
13. F flag without AcceptForcedIPv4UDPEncapsulationRequest 129; GRE mode without GRE Key 163;
    then the binding cache decides (table below); prefix problems give 155 / 159, IPv4 ones
    170 / 171, IPv6 service 172, an empty pool 130.

Binding cache (one entry per MN-ID: a node attaches through one interface at a time):

=============  ======================  =====================================  =============
state          input                   action                                 next state
=============  ======================  =====================================  =============
(none)         REGISTRATION            create, allocate prefixes, routes      ACTIVE
DEREGISTERED   REGISTRATION            revive with the same prefixes          ACTIVE
ACTIVE         REFRESH                 extend lifetime (same MAG)             ACTIVE
ACTIVE         HANDOVER                move to the new MAG, BRI to the old    ACTIVE
ACTIVE         HANDOVER_UNKNOWN        HI=4: hold the PBU up to               ACTIVE
                                       MaxDelayBeforeNewBCEAssign for the
                                       old MAG's de-registration (§5.4.1)
ACTIVE         DEREGISTRATION          drop routes, hold MinDelayBeforeBCE-   DEREGISTERED
                                       Delete (§5.3.5)
ACTIVE         EXPIRY                  delete (lifetime ran out)              (none)
DEREGISTERED   EXPIRY                  delete (hold ran out)                  (none)
any            REVOCATION              BRI to the MAG (RFC 5846), delete      (none)
any            PEER_RESTART            delete (RFC 5847 §3: state lost)       (none)
=============  ======================  =====================================  =============

A lifetime-0 PBU from a MAG that is not the serving one is ignored for the binding (§5.3.5
step 1) but still acknowledged, so a late de-registration after a handover cannot move or delete
anything yet does not leave the old MAG retransmitting.

Heartbeats (RFC 5847): a request every HEARTBEAT_INTERVAL to every peer; more than
MISSING_HEARTBEATS_ALLOWED unanswered marks it unreachable; a changed Restart Counter in a response
means the MAG lost its state, and its bindings are released. Requests are always answered, with
our Restart Counter. A Binding Error (status 2) in reply stops heartbeats to that peer.
"""

from __future__ import annotations

import functools
import heapq
import ipaddress
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

from netlmm_aaa.core.actions import (
    BindingSnapshot,
    DeleteStoredBinding,
    InstallBindingRoutes,
    LmaAction,
    RecordAudit,
    RemoveBindingRoutes,
    SendMessage,
    StoreBinding,
    tunnel_endpoint,
)
from netlmm_aaa.core.address_pools import AddressPool, PoolExhausted, ipv6_prefix_value
from netlmm_aaa.core.addresses import format_ipv4, format_ipv6_network, pack_ipv4
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.codes import (
    BindingAcknowledgementFlag,
    BindingStatus,
    BindingUpdateFlag,
    HandoffIndicator,
    IPv4HomeAddressReplyStatus,
    RevocationFlag,
    RevocationTrigger,
)
from netlmm_aaa.core.errors import InvalidTransition
from netlmm_aaa.core.events import (
    AttachmentReported,
    LmaEvent,
    MalformedPacketReceived,
    MobilityMessageReceived,
    RevocationRequested,
    TimerFired,
    Transport,
)
from netlmm_aaa.core.lma_policy import (
    LmaPolicy,
    MagPeer,
    MobileNodePolicy,
    TunnelMode,
    UnknownMobileNodes,
)
from netlmm_aaa.core.messages import (
    LIFETIME_UNIT_SECONDS,
    BindingError,
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    Heartbeat,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
)
from netlmm_aaa.core.options import (
    AccessTechnologyTypeOption,
    GreKeyOption,
    HandoffIndicatorOption,
    HomeNetworkPrefixOption,
    IPv4DefaultRouterAddressOption,
    IPv4HomeAddressReplyOption,
    IPv4HomeAddressRequestOption,
    LinkLocalAddressOption,
    MobileNodeIdentifierOption,
    MobileNodeLinkLayerIdentifierOption,
    MobilityOption,
    RestartCounterOption,
    TimestampOption,
)
from netlmm_aaa.core.sequence_numbers import next_sequence, sequence_newer

log = logging.getLogger(__name__)

_ZERO16 = bytes(16)
_ZERO4 = bytes(4)
_TS_ONE_SECOND = 65536
# Flag tests on plain ints: an IntFlag's own ``&`` costs a microsecond.
_P_FLAG = int(BindingUpdateFlag.P)
_F_FLAG = int(BindingUpdateFlag.F)


class BindingState(Enum):
    """State of a binding cache entry."""

    ABSENT = auto()
    ACTIVE = auto()
    DEREGISTERED = auto()


class BindingInput(Enum):
    """What an event means for one binding cache entry."""

    REGISTRATION = auto()
    REFRESH = auto()
    HANDOVER = auto()
    HANDOVER_UNKNOWN = auto()
    DEREGISTRATION = auto()
    STRAY_DEREGISTRATION = auto()
    EXPIRY = auto()
    REVOCATION = auto()
    PEER_RESTART = auto()


class _Entry:
    """A binding cache entry (RFC 5213 §5.1); mutable, owned by the LMA."""

    __slots__ = (
        "access_technology",
        "deadline",
        "gre_key_downlink",
        "gre_key_uplink",
        "hnp_options",
        "ipv4_home_address",
        "last_handover_utc",
        "last_sequence",
        "last_timestamp",
        "lifetime",
        "link_layer_identifier",
        "link_local_address",
        "mn_id",
        "peer",
        "pending",
        "pending_deadline",
        "prefixes",
        "refreshed_utc",
        "registered_utc",
        "sequences",
        "signalling_address",
        "source_port",
        "state",
        "transport",
    )

    def __init__(self, mn_id: bytes) -> None:
        self.mn_id = mn_id
        self.state = BindingState.ABSENT
        self.prefixes: tuple[str, ...] = ()
        self.hnp_options: tuple[HomeNetworkPrefixOption, ...] = ()
        self.ipv4_home_address: str | None = None
        self.peer: MagPeer | None = None
        self.signalling_address = ""
        self.transport = Transport.IPV6
        self.source_port = 0
        self.link_layer_identifier = b""
        self.link_local_address = _ZERO16
        self.access_technology = 0
        self.lifetime = 0
        self.registered_utc = 0.0
        self.refreshed_utc = 0.0
        self.last_handover_utc: float | None = None
        self.last_sequence = 0
        # Last accepted sequence number of each MAG that served the node, made only once a
        # second MAG appears (most nodes never move: a dict each would cost 1M x 200 octets).
        self.sequences: dict[str, int] | None = None
        self.last_timestamp: int | None = None
        self.gre_key_downlink: int | None = None
        self.gre_key_uplink: int | None = None
        self.deadline = 0.0
        self.pending: _Pbu | None = None
        self.pending_deadline = 0.0

    def snapshot(self) -> BindingSnapshot:
        assert self.peer is not None
        return BindingSnapshot(
            mn_id=self.mn_id,
            home_network_prefixes=self.prefixes,
            ipv4_home_address=self.ipv4_home_address,
            mag=self.peer.name,
            proxy_coa=self.peer.tunnel_address,
            signalling_address=self.signalling_address,
            transport=self.transport,
            link_layer_identifier=self.link_layer_identifier,
            access_technology=self.access_technology,
            lifetime=self.lifetime,
            registered_utc=self.registered_utc,
            refreshed_utc=self.refreshed_utc,
            last_handover_utc=self.last_handover_utc,
            last_sequence=self.last_sequence,
            last_timestamp=self.last_timestamp,
            gre_key_downlink=self.gre_key_downlink,
            gre_key_uplink=self.gre_key_uplink,
            deregistered=self.state is BindingState.DEREGISTERED,
        )


@dataclass(slots=True)
class _Pbu:
    """A received PBU, with its options sorted out once."""

    event: MobilityMessageReceived
    message: ProxyBindingUpdate
    peer: MagPeer | None
    mn_id: MobileNodeIdentifierOption | None
    prefixes: list[HomeNetworkPrefixOption]
    hi: HandoffIndicatorOption | None
    att: AccessTechnologyTypeOption | None
    ll_id: MobileNodeLinkLayerIdentifierOption | None
    lla: LinkLocalAddressOption | None
    timestamp: TimestampOption | None
    gre_key: GreKeyOption | None
    ipv4_request: IPv4HomeAddressRequestOption | None


_AAA_CHECKED = frozenset({
    BindingInput.REGISTRATION, BindingInput.HANDOVER, BindingInput.HANDOVER_UNKNOWN,
})  # fmt: skip


class _Reject(Exception):
    """A PBU check failed: answer with this status (and optionally an IPv4 HoA Reply status)."""

    def __init__(self, status: int, reason: str, ipv4_status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.ipv4_status = ipv4_status


@dataclass(slots=True)
class _PeerState:
    peer: MagPeer
    address: str
    transport: Transport
    heartbeat_sequence: int = 0
    outstanding: int | None = None
    missing: int = 0
    unreachable: bool = False
    heartbeats_disabled: bool = False
    restart_counter: int | None = None
    next_heartbeat: float = 0.0


@dataclass(slots=True)
class _OutstandingRevocation:
    mn_id: bytes
    message: BindingRevocationIndication
    destination: str
    transport: Transport
    port: int
    retries_left: int
    deadline: float


_Handler = Callable[["LocalMobilityAnchor", _Entry, "_Pbu | None", Now, list[LmaAction]], None]


class LocalMobilityAnchor:
    """The LMA's decisions. ``handle(event, now) -> actions``; ``next_deadline()`` for the timer."""

    def __init__(self, policy: LmaPolicy) -> None:
        self.policy = policy
        self._bindings: dict[bytes, _Entry] = {}
        self._peers_by_address: dict[str, MagPeer] = {}
        self._peers_by_name: dict[str, MagPeer] = {}
        for peer in policy.peers:
            self._peers_by_name[peer.name] = peer
            for address in peer.addresses:
                self._peers_by_address[_canonical(address)] = peer
        self._policies: dict[bytes, MobileNodePolicy] = {p.mn_id: p for p in policy.mobile_nodes}
        reserved4 = frozenset([policy.ipv4_default_router] if policy.ipv4_default_router else [])
        if policy.ipv4_pool:
            pool4 = ipaddress.IPv4Network(policy.ipv4_pool)
            if pool4.prefixlen <= 30:  # never hand out the subnet's network/broadcast address
                reserved4 |= {str(pool4.network_address), str(pool4.broadcast_address)}
        self._prefix_pool = (
            AddressPool(policy.prefix_pool, policy.prefix_length) if policy.prefix_pool else None
        )
        self._ipv4_pool = (
            AddressPool(policy.ipv4_pool, 32, reserved=reserved4) if policy.ipv4_pool else None
        )
        self._static_holders: dict[str, bytes] = {}
        for node in policy.mobile_nodes:
            for block in (node.home_network_prefix, node.ipv4_home_address):
                if block is None:
                    continue
                key = _canonical_block(block)
                other = self._static_holders.setdefault(key, node.mn_id)
                if other != node.mn_id:
                    raise ValueError(f"{block} is assigned to two mobile nodes")
                for pool in (self._prefix_pool, self._ipv4_pool):
                    if pool is not None and pool.contains(key):
                        pool.claim(key, node.mn_id)
        self._peer_states: dict[str, _PeerState] = {}
        self._revocations: dict[bytes, _OutstandingRevocation] = {}
        # RFC 5213 §11 cross-check: where the AAA places each node (MAG name, or None after a
        # Stop), and the PBUs waiting for the record that would place their node at their MAG
        # (MN-ID -> (PBU, arrival time, deadline)).
        self._attachments: dict[bytes, str | None] = {}
        self._awaiting_aaa: dict[bytes, tuple[_Pbu, Now, float]] = {}
        self._revocation_sequence = 0
        self._gre_key = 0
        self._timers: list[tuple[float, int, str, Any]] = []
        self._timer_count = 0

    # ------------------------------------------------------------------------- public interface

    def handle(self, event: LmaEvent, now: Now) -> list[LmaAction]:
        """Process one event; returns the actions to carry out, in order."""
        actions: list[LmaAction] = []
        match event:
            case MobilityMessageReceived():
                self._on_message(event, now, actions)
            case MalformedPacketReceived():
                self._on_malformed(event, now, actions)
            case RevocationRequested():
                self._on_revocation_request(event, now, actions)
            case TimerFired():
                self._on_timers(now, actions)
            case AttachmentReported():
                self._on_attachment(event, now, actions)
        return actions

    def next_deadline(self) -> float | None:
        """Monotonic time of the earliest timer, or None (stale heap entries are skipped)."""
        timers = self._timers
        while timers:
            deadline, _, kind, key = timers[0]
            if self._timer_is_current(deadline, kind, key):
                return deadline
            heapq.heappop(timers)
        return None

    def restore(
        self, bindings: Iterable[BindingSnapshot], now: Now, *, install_routes: bool = True
    ) -> list[LmaAction]:
        """Reload persisted bindings after a restart: live ones are reinstalled, dead ones go.
        ``install_routes=False``: no InstallBindingRoutes (the caller reconciles the kernel
        against :meth:`bindings` instead)."""
        actions: list[LmaAction] = []
        for snap in bindings:
            remaining = snap.refreshed_utc + snap.lifetime - now.utc
            peer = self._peers_by_name.get(snap.mag)
            if remaining <= 0 or peer is None:
                actions.append(DeleteStoredBinding(mn_id=snap.mn_id))
                actions.append(
                    RecordAudit(
                        kind=AuditKind.BINDING_DROPPED_ON_RESTORE,
                        utc=now.utc,
                        mn_id=snap.mn_id,
                        peer=snap.mag,
                        fields={"reason": "expired" if peer else "MAG no longer configured"},
                    )
                )
                continue
            entry = _Entry(snap.mn_id)
            entry.state = BindingState.DEREGISTERED if snap.deregistered else BindingState.ACTIVE
            entry.prefixes = snap.home_network_prefixes
            options = []
            for text in snap.home_network_prefixes:
                value, length = ipv6_prefix_value(text)
                options.append(HomeNetworkPrefixOption(value.to_bytes(16, "big"), length))
                if self._prefix_pool is not None:
                    self._prefix_pool.claim_value(value, length, snap.mn_id)
            entry.hnp_options = tuple(options)
            entry.ipv4_home_address = snap.ipv4_home_address
            entry.peer = peer
            entry.signalling_address = snap.signalling_address
            entry.transport = snap.transport
            entry.link_layer_identifier = snap.link_layer_identifier
            entry.access_technology = snap.access_technology
            entry.lifetime = snap.lifetime
            entry.registered_utc = snap.registered_utc
            entry.refreshed_utc = snap.refreshed_utc
            entry.last_handover_utc = snap.last_handover_utc
            entry.last_sequence = snap.last_sequence
            entry.last_timestamp = snap.last_timestamp
            entry.gre_key_downlink = snap.gre_key_downlink
            entry.gre_key_uplink = snap.gre_key_uplink
            if snap.gre_key_uplink is not None:  # the keys we assigned (RFC 5845 §3)
                self._gre_key = max(self._gre_key, snap.gre_key_uplink)
            if snap.ipv4_home_address is not None:
                self._hold_block(snap.ipv4_home_address, snap.mn_id)
            self._bindings[snap.mn_id] = entry
            if snap.deregistered:
                hold = min(remaining, self.policy.min_delay_before_bce_delete)
                self._set_deadline(entry, now.monotonic + hold)
                continue
            self._set_deadline(entry, now.monotonic + remaining)
            self._peer_state(peer, snap.signalling_address, snap.transport, now)
            if install_routes:
                actions.append(InstallBindingRoutes(binding=entry.snapshot()))
        return actions

    def announce_restart(self, now: Now) -> list[LmaAction]:
        """Unsolicited Heartbeat responses carrying our Restart Counter to every peer (§3.2)."""
        actions: list[LmaAction] = []
        for state in self._peer_states.values():
            actions.append(self._heartbeat_to(state, response=True, unsolicited=True))
        return actions

    def binding(self, mn_id: bytes) -> BindingSnapshot | None:
        """The binding of ``mn_id`` (active or held after de-registration), if any."""
        entry = self._bindings.get(mn_id)
        return entry.snapshot() if entry is not None else None

    def binding_state(self, mn_id: bytes) -> BindingState:
        """The state of ``mn_id``'s binding cache entry."""
        entry = self._bindings.get(mn_id)
        return entry.state if entry is not None else BindingState.ABSENT

    def bindings(self) -> list[BindingSnapshot]:
        """Every binding cache entry, as snapshots."""
        return [entry.snapshot() for entry in self._bindings.values()]

    def active_uplink_keys(self) -> dict[int, str]:
        """GRE mode: the uplink keys of the active bindings -> the serving MAG's tunnel address
        (the only source a packet with that key is accepted from)."""
        return {
            entry.gre_key_uplink: entry.peer.tunnel_address
            for entry in self._bindings.values()
            if entry.state is BindingState.ACTIVE
            and entry.peer is not None
            and entry.gre_key_uplink is not None
        }

    def active_routes(self) -> dict[str, str]:
        """The routes the active bindings need: destination (prefix, IPv4 HoA as /32) ->
        serving MAG's tunnel address (a restart reconciles the kernel against this; no
        snapshots: a million of them cost seconds)."""
        routes: dict[str, str] = {}
        active = BindingState.ACTIVE
        for entry in self._bindings.values():
            if entry.state is not active or entry.peer is None:
                continue
            target = tunnel_endpoint(entry.peer.tunnel_address, entry.gre_key_downlink)
            for prefix in entry.prefixes:
                routes[prefix] = target
            if entry.ipv4_home_address is not None:
                routes[f"{entry.ipv4_home_address}/32"] = target
        return routes

    def __len__(self) -> int:
        return len(self._bindings)

    def active_count(self) -> int:
        """Binding cache entries serving a node now (not in their de-registration hold)."""
        active = BindingState.ACTIVE
        return sum(1 for entry in self._bindings.values() if entry.state is active)

    # ------------------------------------------------------------------------- transitions

    _TRANSITIONS: dict[tuple[BindingState, BindingInput], tuple[_Handler, BindingState]]

    def _transition(
        self,
        entry: _Entry,
        what: BindingInput,
        pbu: _Pbu | None,
        now: Now,
        actions: list[LmaAction],
    ) -> None:
        try:
            handler, next_state = self._TRANSITIONS[(entry.state, what)]
        except KeyError:
            raise InvalidTransition(
                f"binding {entry.mn_id!r} in state {entry.state.name} cannot take {what.name}"
            ) from None
        previous = entry.state
        try:
            handler(self, entry, pbu, now, actions)
        except _AbortTransition:
            return  # a nested transition already set the final state
        entry.state = next_state
        if next_state is BindingState.ABSENT:
            self._bindings.pop(entry.mn_id, None)
        if previous is not next_state:
            log.debug("%s -> %s", previous.name, next_state.name)

    # ------------------------------------------------------------------------- messages

    def _on_message(
        self, event: MobilityMessageReceived, now: Now, actions: list[LmaAction]
    ) -> None:
        message = event.message
        if type(message) is ProxyBindingUpdate:
            self._on_pbu(self._parse_pbu(event, message), now, actions)
        elif type(message) is Heartbeat:
            self._on_heartbeat(event, message, now, actions)
        elif type(message) is BindingRevocationAcknowledgement:
            self._on_bra(event, message, now, actions)
        elif type(message) is BindingError:
            peer = self._peers_by_address.get(event.source)
            state = self._peer_states.get(event.source)
            if message.status == 2 and state is not None:
                state.heartbeats_disabled = True
            actions.append(
                RecordAudit(
                    kind=AuditKind.BINDING_ERROR_RECEIVED,
                    utc=now.utc,
                    peer=peer.name if peer else event.source,
                    fields={"status": int(message.status)},
                )
            )
        else:
            actions.append(
                RecordAudit(
                    kind=AuditKind.UNEXPECTED_MESSAGE,
                    utc=now.utc,
                    peer=event.source,
                    fields={"type": type(message).__name__},
                )
            )

    def _parse_pbu(self, event: MobilityMessageReceived, message: ProxyBindingUpdate) -> _Pbu:
        pbu = _Pbu(
            event=event,
            message=message,
            peer=self._peers_by_address.get(event.source),
            mn_id=None,
            prefixes=[],
            hi=None,
            att=None,
            ll_id=None,
            lla=None,
            timestamp=None,
            gre_key=None,
            ipv4_request=None,
        )
        for option in message.options:
            kind = type(option)
            if kind is HomeNetworkPrefixOption:
                pbu.prefixes.append(option)  # type: ignore[arg-type]
            elif kind is MobileNodeIdentifierOption:
                pbu.mn_id = pbu.mn_id or option  # type: ignore[assignment]
            elif kind is HandoffIndicatorOption:
                pbu.hi = pbu.hi or option  # type: ignore[assignment]
            elif kind is AccessTechnologyTypeOption:
                pbu.att = pbu.att or option  # type: ignore[assignment]
            elif kind is TimestampOption:
                pbu.timestamp = pbu.timestamp or option  # type: ignore[assignment]
            elif kind is MobileNodeLinkLayerIdentifierOption:
                pbu.ll_id = pbu.ll_id or option  # type: ignore[assignment]
            elif kind is LinkLocalAddressOption:
                pbu.lla = pbu.lla or option  # type: ignore[assignment]
            elif kind is GreKeyOption:
                pbu.gre_key = pbu.gre_key or option  # type: ignore[assignment]
            elif kind is IPv4HomeAddressRequestOption:
                pbu.ipv4_request = pbu.ipv4_request or option  # type: ignore[assignment]
        return pbu

    def _on_pbu(
        self, pbu: _Pbu, now: Now, actions: list[LmaAction], arrived: Now | None = None
    ) -> None:
        """``arrived``: when a PBU that waited for the AAA came in (its timestamp is judged
        against that instant)."""
        try:
            entry, what = self._check_pbu(pbu, arrived or now)
        except _Reject as reject:
            self._reply(
                pbu, reject.status, 0, None, now, actions, reject.reason, reject.ipv4_status
            )
            return
        if self._aaa_disagrees(entry, what, pbu):
            assert pbu.peer is not None
            if arrived is not None:  # it waited already: the AAA never confirmed
                self._aaa_mismatch(pbu, now, actions)
                return
            previous = self._awaiting_aaa.get(entry.mn_id)
            if previous is not None:  # superseded by this newer PBU
                self._aaa_mismatch(previous[0], now, actions, "superseded while waiting")
            deadline = now.monotonic + self.policy.aaa_attachment_wait
            self._awaiting_aaa[entry.mn_id] = (pbu, now, deadline)
            self._push_timer(deadline, "aaa", entry.mn_id)
            return
        self._process(entry, what, pbu, now, actions)

    def _aaa_disagrees(self, entry: _Entry, what: BindingInput, pbu: _Pbu) -> bool:
        """A new registration or a handover to a MAG where the AAA does not place the node."""
        if not self.policy.aaa_attachment_check or what not in _AAA_CHECKED:
            return False
        assert pbu.peer is not None
        return self._attachments.get(entry.mn_id) != pbu.peer.name

    def _aaa_mismatch(
        self, pbu: _Pbu, now: Now, actions: list[LmaAction], why: str | None = None
    ) -> None:
        assert pbu.mn_id is not None and pbu.peer is not None
        where = self._attachments.get(pbu.mn_id.identifier)
        reason = why or (
            f"AAA places the node at {where}" if where else "AAA places the node at no MAG"
        )
        self._reply(pbu, BindingStatus.MAG_NOT_AUTHORIZED_FOR_PROXY_REG, 0, None, now, actions,
                    f"{reason}, not at {pbu.peer.name} (RFC 5213 §11 check)")  # fmt: skip

    def _on_attachment(self, event: AttachmentReported, now: Now, actions: list[LmaAction]) -> None:
        self._attachments[event.mn_id] = event.mag
        waiting = self._awaiting_aaa.get(event.mn_id)
        if waiting is not None and event.mag is not None:
            pbu, arrived, _deadline = waiting
            assert pbu.peer is not None
            if pbu.peer.name == event.mag:
                del self._awaiting_aaa[event.mn_id]
                self._on_pbu(pbu, now, actions, arrived=arrived)

    def _process(
        self, entry: _Entry, what: BindingInput, pbu: _Pbu, now: Now, actions: list[LmaAction]
    ) -> None:
        """Run a PBU's transition; a check failing inside it answers that PBU, moves nothing."""
        try:
            self._transition(entry, what, pbu, now, actions)
        except _Reject as reject:
            self._reply(
                pbu, reject.status, 0, None, now, actions, reject.reason, reject.ipv4_status
            )

    def _check_pbu(self, pbu: _Pbu, now: Now) -> tuple[_Entry, BindingInput]:
        """RFC 5213 §5.3.1 steps 3-13; raises _Reject, or says what the PBU does to which BCE."""
        policy = self.policy
        message = pbu.message
        if not int(message.flags) & _P_FLAG:
            raise _Reject(BindingStatus.ADMINISTRATIVELY_PROHIBITED, "P flag clear: not a proxy BU")
        if pbu.mn_id is None or not pbu.mn_id.identifier:
            raise _Reject(BindingStatus.MISSING_MN_IDENTIFIER_OPTION, "no MN-ID option")
        mn_id = pbu.mn_id.identifier
        peer = pbu.peer
        if peer is None:
            raise _Reject(
                BindingStatus.MAG_NOT_AUTHORIZED_FOR_PROXY_REG, "source is not a MAG peer"
            )
        node = self._policies.get(mn_id)
        if (
            node is not None
            and node.allowed_mags is not None
            and peer.name not in node.allowed_mags
        ):
            raise _Reject(
                BindingStatus.MAG_NOT_AUTHORIZED_FOR_PROXY_REG,
                f"MAG {peer.name} may not register this node",
            )
        if node is None and policy.unknown_mobile_nodes is UnknownMobileNodes.REJECT:
            raise _Reject(BindingStatus.NOT_LMA_FOR_THIS_MOBILE_NODE, "no policy profile")
        if node is not None and not node.proxy_mobility:
            raise _Reject(BindingStatus.PROXY_REG_NOT_ENABLED, "proxy mobility not enabled")
        entry = self._bindings.get(mn_id)
        # Step 9: replay protection.
        if pbu.timestamp is not None:
            stamp = pbu.timestamp.timestamp
            skew = stamp / _TS_ONE_SECOND - now.utc
            if (
                not policy.mobile_node_generated_timestamp
                and abs(skew) > policy.timestamp_validity_window
            ):
                raise _Reject(BindingStatus.TIMESTAMP_MISMATCH, f"timestamp off by {skew:+.3f} s")
            if (
                entry is not None
                and entry.last_timestamp is not None
                and stamp <= entry.last_timestamp
            ):
                raise _Reject(
                    BindingStatus.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED,
                    "timestamp not newer than the last accepted one",
                )
        elif policy.require_timestamp:
            raise _Reject(BindingStatus.TIMESTAMP_MISMATCH, "no Timestamp option")
        elif (
            entry is not None
            and (last := _sequence_from(entry, peer.name)) is not None
            and not sequence_newer(message.sequence, last)
        ):
            # Sequence numbers are kept per MAG: MAGs do not share counters (RFC 5213 §5.5
            # assumes context transfer), yet a replay from a MAG that served the node before
            # must not move the binding back.
            reviving = (
                entry.state is BindingState.DEREGISTERED
                and message.sequence == last
                and message.lifetime > 0
            )
            if not reviving:
                raise _Reject(
                    BindingStatus.SEQUENCE_NUMBER_OUT_OF_WINDOW,
                    f"sequence {message.sequence} not newer than {last} from {peer.name}",
                )
        # Steps 10-12: mandatory options.
        if not pbu.prefixes:
            raise _Reject(BindingStatus.MISSING_HOME_NETWORK_PREFIX_OPTION, "no HNP option")
        if pbu.hi is None:
            raise _Reject(BindingStatus.MISSING_HANDOFF_INDICATOR_OPTION, "no HI option")
        if pbu.att is None:
            raise _Reject(BindingStatus.MISSING_ACCESS_TECH_TYPE_OPTION, "no ATT option")
        # Step 13: transport features, then the binding cache.
        if int(message.flags) & _F_FLAG and not policy.accept_forced_udp_encapsulation:
            raise _Reject(BindingStatus.ADMINISTRATIVELY_PROHIBITED, "F flag (UDP encapsulation)")
        if (
            policy.tunnel_mode is TunnelMode.GRE
            and (pbu.gre_key is None or pbu.gre_key.key is None)
            and message.lifetime
        ):
            raise _Reject(BindingStatus.GRE_KEY_OPTION_REQUIRED,
                          "GRE tunnelling needs the MAG's downlink GRE key")  # fmt: skip
        if message.lifetime == 0:
            if entry is None:
                return _Entry(mn_id), BindingInput.STRAY_DEREGISTRATION
            if entry.state is BindingState.ACTIVE and entry.peer is peer:
                return entry, BindingInput.DEREGISTRATION
            return entry, BindingInput.STRAY_DEREGISTRATION
        if entry is None:
            return _Entry(mn_id), BindingInput.REGISTRATION
        if entry.state is BindingState.DEREGISTERED:
            return entry, BindingInput.REGISTRATION
        if entry.peer is peer:
            return entry, BindingInput.REFRESH
        if (
            pbu.hi.indicator == HandoffIndicator.UNKNOWN
            and policy.max_delay_before_new_bce_assign > 0
        ):
            return entry, BindingInput.HANDOVER_UNKNOWN
        return entry, BindingInput.HANDOVER

    # ------------------------------------------------------------------------- handlers

    def _register(
        self, entry: _Entry, pbu: _Pbu | None, now: Now, actions: list[LmaAction]
    ) -> None:
        """(none | DEREGISTERED) + REGISTRATION: a new or revived mobility session (§5.3.2)."""
        assert pbu is not None and pbu.peer is not None
        reviving = entry.state is BindingState.DEREGISTERED
        prefixes, hnp_options, ipv4 = self._assign_addresses(entry, pbu)
        self._accept_into(entry, pbu, now)
        entry.prefixes, entry.hnp_options, entry.ipv4_home_address = prefixes, hnp_options, ipv4
        if not reviving:
            entry.registered_utc = now.utc
            self._bindings[entry.mn_id] = entry
        if self.policy.tunnel_mode is TunnelMode.GRE:
            # RFC 5845 §3: the MAG names the key we use toward it (downlink) in its PBU; we
            # assign the key it uses toward us (uplink) and return it in the PBA.
            assert pbu.gre_key is not None
            entry.gre_key_downlink = pbu.gre_key.key
            self._gre_key = (self._gre_key % 0xFFFF_FFFF) + 1
            entry.gre_key_uplink = self._gre_key
        entry.pending = None
        entry.state = BindingState.ACTIVE
        snapshot = entry.snapshot()
        actions.append(InstallBindingRoutes(binding=snapshot))
        actions.append(StoreBinding(binding=snapshot))
        actions.append(
            RecordAudit(
                kind=AuditKind.BINDING_REVIVED if reviving else AuditKind.BINDING_CREATED,
                utc=now.utc,
                mn_id=entry.mn_id,
                peer=entry.peer.name if entry.peer else None,
                fields={"prefixes": list(prefixes), "ipv4": ipv4, "lifetime": entry.lifetime},
            )
        )
        self._reply(pbu, BindingStatus.ACCEPTED, entry.lifetime, entry, now, actions)

    def _refresh(self, entry: _Entry, pbu: _Pbu | None, now: Now, actions: list[LmaAction]) -> None:
        """ACTIVE + REFRESH: the serving MAG re-registers (§5.3.3)."""
        assert pbu is not None
        self._check_prefix_set(entry, pbu)
        added_ipv4 = pbu.ipv4_request is not None and entry.ipv4_home_address is None
        if added_ipv4:
            ipv4 = self._assign_ipv4(entry, pbu, self._policies.get(entry.mn_id), None)
            try:
                assert entry.peer is not None
                self._check_peer_may_serve(entry.peer, (), ipv4)
            except _Reject:
                self._release_block(ipv4, entry.mn_id)
                raise
            entry.ipv4_home_address = ipv4
        self._accept_into(entry, pbu, now)
        new_key = (
            self.policy.tunnel_mode is TunnelMode.GRE
            and pbu.gre_key is not None
            and pbu.gre_key.key != entry.gre_key_downlink
        )
        if new_key:  # the MAG changed the downlink key of the session (RFC 5845 §3.2)
            assert pbu.gre_key is not None
            entry.gre_key_downlink = pbu.gre_key.key
        snapshot = entry.snapshot()
        if added_ipv4 or new_key:
            actions.append(InstallBindingRoutes(binding=snapshot))
        actions.append(StoreBinding(binding=snapshot))
        self._reply(pbu, BindingStatus.ACCEPTED, entry.lifetime, entry, now, actions)

    def _handover(
        self, entry: _Entry, pbu: _Pbu | None, now: Now, actions: list[LmaAction]
    ) -> None:
        """ACTIVE + HANDOVER: another MAG now serves the node (§5.3.4)."""
        assert pbu is not None and entry.peer is not None and pbu.peer is not None
        self._check_prefix_set(entry, pbu)
        self._check_peer_may_serve(pbu.peer, entry.prefixes, entry.ipv4_home_address)
        old_peer = entry.peer
        old_address, old_transport, old_port = (
            entry.signalling_address,
            entry.transport,
            entry.source_port,
        )
        old_att = entry.access_technology
        entry.pending = None
        self._accept_into(entry, pbu, now)
        entry.last_handover_utc = now.utc
        if self.policy.tunnel_mode is TunnelMode.GRE:
            # The new MAG's downlink key; the session's uplink key stays ours (RFC 5845 §3.1).
            assert pbu.gre_key is not None
            entry.gre_key_downlink = pbu.gre_key.key
        snapshot = entry.snapshot()
        actions.append(
            InstallBindingRoutes(binding=snapshot, previous_proxy_coa=old_peer.tunnel_address)
        )
        actions.append(StoreBinding(binding=snapshot))
        actions.append(
            RecordAudit(
                kind=AuditKind.HANDOVER,
                utc=now.utc,
                mn_id=entry.mn_id,
                peer=pbu.peer.name,
                fields={
                    "from_mag": old_peer.name,
                    "to_mag": pbu.peer.name,
                    "handoff_indicator": int(pbu.hi.indicator) if pbu.hi else None,
                    "sequence": pbu.message.sequence,
                    "prefixes": list(entry.prefixes),
                    "ipv4": entry.ipv4_home_address,
                },
            )
        )
        self._reply(pbu, BindingStatus.ACCEPTED, entry.lifetime, entry, now, actions)
        if self.policy.revoke_old_mag_on_handover:
            trigger = (
                RevocationTrigger.INTER_MAG_HANDOVER_SAME_ACCESS_TYPE
                if old_att == entry.access_technology
                else RevocationTrigger.INTER_MAG_HANDOVER_DIFFERENT_ACCESS_TYPE
            )
            self._send_revocation(
                entry, trigger, old_address, old_transport, old_port, now, actions
            )

    def _defer_handover(
        self, entry: _Entry, pbu: _Pbu | None, now: Now, actions: list[LmaAction]
    ) -> None:
        """ACTIVE + HANDOVER_UNKNOWN: HI=4, wait for the old MAG's de-registration (§5.4.1)."""
        assert pbu is not None
        first = entry.pending is None
        entry.pending = pbu
        if first:
            entry.pending_deadline = now.monotonic + self.policy.max_delay_before_new_bce_assign
            self._push_timer(entry.pending_deadline, "pending", entry.mn_id)
        actions.append(
            RecordAudit(
                kind=AuditKind.HANDOVER_DEFERRED,
                utc=now.utc,
                mn_id=entry.mn_id,
                peer=pbu.peer.name if pbu.peer else None,
                fields={"wait_s": self.policy.max_delay_before_new_bce_assign},
            )
        )

    def _deregister(
        self, entry: _Entry, pbu: _Pbu | None, now: Now, actions: list[LmaAction]
    ) -> None:
        """ACTIVE + DEREGISTRATION: drop routes, hold MinDelayBeforeBCEDelete (§5.3.5)."""
        assert pbu is not None and pbu.peer is not None
        entry.last_sequence = pbu.message.sequence
        if entry.sequences is not None:
            entry.sequences[pbu.peer.name] = pbu.message.sequence
        if pbu.timestamp is not None:
            entry.last_timestamp = pbu.timestamp.timestamp
        self._set_deadline(entry, now.monotonic + self.policy.min_delay_before_bce_delete)
        entry.state = BindingState.DEREGISTERED
        snapshot = entry.snapshot()
        actions.append(RemoveBindingRoutes(binding=snapshot))
        actions.append(StoreBinding(binding=snapshot))
        actions.append(
            RecordAudit(
                kind=AuditKind.BINDING_DEREGISTERED,
                utc=now.utc,
                mn_id=entry.mn_id,
                peer=entry.peer.name if entry.peer else None,
                fields={"hold_s": self.policy.min_delay_before_bce_delete},
            )
        )
        self._reply(pbu, BindingStatus.ACCEPTED, 0, entry, now, actions)
        pending = entry.pending
        if pending is not None:
            # The old MAG said goodbye while the new one waited (HI=4): serve the new one now.
            entry.pending = None
            entry.state = BindingState.DEREGISTERED
            self._process(entry, BindingInput.REGISTRATION, pending, now, actions)
            raise _AbortTransition

    def _acknowledge_stray(
        self, entry: _Entry, pbu: _Pbu | None, now: Now, actions: list[LmaAction]
    ) -> None:
        """Lifetime 0 from a MAG that does not serve the node, or for no binding: acknowledged,
        binding untouched (§5.3.5 step 1)."""
        assert pbu is not None
        actions.append(
            RecordAudit(
                kind=AuditKind.DEREGISTRATION_IGNORED,
                utc=now.utc,
                mn_id=entry.mn_id,
                peer=pbu.peer.name if pbu.peer else None,
                fields={
                    "binding_state": entry.state.name,
                    "serving_mag": entry.peer.name if entry.peer else None,
                },
            )
        )
        self._reply(pbu, BindingStatus.ACCEPTED, 0, None, now, actions)

    def _expire(self, entry: _Entry, pbu: _Pbu | None, now: Now, actions: list[LmaAction]) -> None:
        """ACTIVE + EXPIRY: the lifetime ran out without a refresh."""
        snapshot = entry.snapshot()
        actions.append(RemoveBindingRoutes(binding=snapshot))
        self._forget(entry, now, actions, AuditKind.BINDING_EXPIRED)

    def _delete(self, entry: _Entry, pbu: _Pbu | None, now: Now, actions: list[LmaAction]) -> None:
        """DEREGISTERED + EXPIRY: MinDelayBeforeBCEDelete passed with no revival."""
        self._forget(entry, now, actions, AuditKind.BINDING_DELETED)

    def _revoke(self, entry: _Entry, pbu: _Pbu | None, now: Now, actions: list[LmaAction]) -> None:
        """any + REVOCATION: the operator revoked the node (RFC 5846)."""
        if entry.state is BindingState.ACTIVE:
            actions.append(RemoveBindingRoutes(binding=entry.snapshot()))
            self._send_revocation(
                entry,
                RevocationTrigger.ADMINISTRATIVE_REASON,
                entry.signalling_address,
                entry.transport,
                entry.source_port,
                now,
                actions,
            )
        self._forget(entry, now, actions, AuditKind.BINDING_REVOKED)

    def _release(self, entry: _Entry, pbu: _Pbu | None, now: Now, actions: list[LmaAction]) -> None:
        """any + PEER_RESTART: the serving MAG lost its state (RFC 5847 §3)."""
        if entry.state is BindingState.ACTIVE:
            actions.append(RemoveBindingRoutes(binding=entry.snapshot()))
        self._forget(entry, now, actions, AuditKind.BINDING_RELEASED_PEER_RESTART)

    # ------------------------------------------------------------------------- helpers

    def _forget(self, entry: _Entry, now: Now, actions: list[LmaAction], kind: AuditKind) -> None:
        for block in (*entry.prefixes, entry.ipv4_home_address):
            if block is not None:
                self._release_block(block, entry.mn_id)
        actions.append(DeleteStoredBinding(mn_id=entry.mn_id))
        actions.append(
            RecordAudit(
                kind=kind,
                utc=now.utc,
                mn_id=entry.mn_id,
                peer=entry.peer.name if entry.peer else None,
                fields={"prefixes": list(entry.prefixes), "ipv4": entry.ipv4_home_address},
            )
        )

    def _accept_into(self, entry: _Entry, pbu: _Pbu, now: Now) -> None:
        """Copy an accepted PBU's registration values into the entry."""
        assert pbu.peer is not None
        message = pbu.message
        if entry.peer is not None and entry.peer is not pbu.peer:
            if entry.sequences is None:
                entry.sequences = {}
            entry.sequences[entry.peer.name] = entry.last_sequence
        entry.peer = pbu.peer
        event = pbu.event
        entry.signalling_address = event.source
        entry.transport = event.transport
        entry.source_port = event.source_port
        entry.link_layer_identifier = pbu.ll_id.link_layer_identifier if pbu.ll_id else b""
        entry.access_technology = int(pbu.att.access_technology) if pbu.att else 0
        if pbu.lla is not None and pbu.lla.address != _ZERO16:
            entry.link_local_address = pbu.lla.address
        entry.last_sequence = message.sequence
        if entry.sequences is not None:
            entry.sequences[pbu.peer.name] = message.sequence
        if pbu.timestamp is not None:
            entry.last_timestamp = pbu.timestamp.timestamp
        units = min(message.lifetime, self.policy.max_lifetime // LIFETIME_UNIT_SECONDS)
        entry.lifetime = units * LIFETIME_UNIT_SECONDS
        entry.refreshed_utc = now.utc
        self._set_deadline(entry, now.monotonic + entry.lifetime)
        self._peer_state(pbu.peer, event.source, event.transport, now)

    def _assign_addresses(
        self, entry: _Entry, pbu: _Pbu
    ) -> tuple[tuple[str, ...], tuple[HomeNetworkPrefixOption, ...], str | None]:
        """The prefixes and IPv4 HoA for a new or revived session (§5.3.2, RFC 5844 §3.1)."""
        assert pbu.peer is not None and pbu.mn_id is not None
        mn_id = pbu.mn_id.identifier
        node = self._policies.get(mn_id)
        requested = [
            _prefix_text(o) for o in pbu.prefixes if o.prefix != _ZERO16 or o.prefix_length
        ]
        if node is not None and not node.ipv6_service:
            raise _Reject(
                BindingStatus.NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE, "no IPv6 service for node"
            )
        fresh: HomeNetworkPrefixOption | None = None
        if entry.state is BindingState.DEREGISTERED:
            prefixes = entry.prefixes
            if requested and set(requested) != set(prefixes):
                raise _Reject(
                    BindingStatus.BCE_PBU_PREFIX_SET_DO_NOT_MATCH, "prefixes differ from the BCE"
                )
        elif node is not None and node.home_network_prefix is not None:
            prefixes = (_canonical_block(node.home_network_prefix),)
            if requested and requested != list(prefixes):
                raise _Reject(
                    BindingStatus.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
                    f"requested {requested}, policy says {prefixes[0]}",
                )
        elif requested:
            if len(requested) != 1 or not self._may_reclaim(requested[0], mn_id):
                raise _Reject(
                    BindingStatus.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
                    f"node is not authorized for {', '.join(requested)}",
                )
            prefixes = (requested[0],)
        else:
            pool = self._prefix_pool
            if pool is None:
                raise _Reject(BindingStatus.INSUFFICIENT_RESOURCES, "no prefix pool configured")
            try:
                text, packed = pool.allocate_with_address(mn_id)
            except PoolExhausted as exc:
                raise _Reject(BindingStatus.INSUFFICIENT_RESOURCES, str(exc)) from None
            prefixes = (text,)
            fresh = HomeNetworkPrefixOption(packed, pool.block_length)
        ipv4 = entry.ipv4_home_address if entry.state is BindingState.DEREGISTERED else None
        try:
            if pbu.ipv4_request is not None:
                ipv4 = self._assign_ipv4(entry, pbu, node, ipv4)
            self._check_peer_may_serve(pbu.peer, prefixes, ipv4)
        except _Reject:
            if entry.state is not BindingState.DEREGISTERED:
                for block in (*prefixes, ipv4):
                    if block is not None:
                        self._release_block(block, mn_id)
            raise
        if fresh is not None:  # just allocated: already held, option built from the pool
            return prefixes, (fresh,), ipv4
        for block in prefixes:
            self._hold_block(block, mn_id)
        hnp_options = tuple(HomeNetworkPrefixOption.from_network(p) for p in prefixes)
        return prefixes, hnp_options, ipv4

    def _assign_ipv4(
        self, entry: _Entry, pbu: _Pbu, node: MobileNodePolicy | None, current: str | None
    ) -> str:
        assert pbu.ipv4_request is not None and pbu.mn_id is not None
        mn_id = pbu.mn_id.identifier
        if node is not None and not node.ipv4_service:
            raise _Reject(
                BindingStatus.NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE,
                "no IPv4 service for node",
                IPv4HomeAddressReplyStatus.ADMINISTRATIVELY_PROHIBITED,
            )
        asked = pbu.ipv4_request.address
        wanted = format_ipv4(asked) if asked != _ZERO4 else None
        if current is not None:
            chosen = current
        elif node is not None and node.ipv4_home_address is not None:
            chosen = _canonical_block(node.ipv4_home_address)
        elif wanted is not None:
            if not self._may_reclaim(wanted, mn_id):
                raise _Reject(
                    BindingStatus.NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS,
                    f"node is not authorized for {wanted}",
                    IPv4HomeAddressReplyStatus.INCORRECT_IPV4_HOME_ADDRESS,
                )
            chosen = wanted
        else:
            if self._ipv4_pool is None:
                raise _Reject(
                    BindingStatus.NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE,
                    "no IPv4 pool configured",
                    IPv4HomeAddressReplyStatus.DYNAMIC_IPV4_HOME_ADDRESS_ASSIGNMENT_NOT_AVAILABLE,
                )
            try:
                chosen = self._ipv4_pool.allocate(mn_id)
            except PoolExhausted as exc:
                raise _Reject(
                    BindingStatus.INSUFFICIENT_RESOURCES,
                    str(exc),
                    IPv4HomeAddressReplyStatus.DYNAMIC_IPV4_HOME_ADDRESS_ASSIGNMENT_NOT_AVAILABLE,
                ) from None
        if wanted is not None and wanted != chosen:
            raise _Reject(
                BindingStatus.NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS,
                f"requested {wanted}, node has {chosen}",
                IPv4HomeAddressReplyStatus.INCORRECT_IPV4_HOME_ADDRESS,
            )
        self._hold_block(chosen, mn_id)
        return chosen

    def _may_reclaim(self, block: str, mn_id: bytes) -> bool:
        """A node may ask for a specific prefix/address only if it held it last and nobody does."""
        static = self._static_holders.get(block)
        if static is not None:
            return static == mn_id
        for pool in (self._prefix_pool, self._ipv4_pool):
            if pool is not None and pool.contains(block):
                return pool.holder(block) in (None, mn_id) and pool.last_block_of(mn_id) == block
        return False

    def _hold_block(self, block: str, mn_id: bytes) -> None:
        for pool in (self._prefix_pool, self._ipv4_pool):
            if pool is not None and pool.contains(block):
                pool.claim(block, mn_id)

    def _release_block(self, block: str, mn_id: bytes) -> None:
        for pool in (self._prefix_pool, self._ipv4_pool):
            if pool is not None and pool.contains(block):
                pool.release(block, mn_id)

    def _check_prefix_set(self, entry: _Entry, pbu: _Pbu) -> None:
        requested = {
            _prefix_text(o) for o in pbu.prefixes if o.prefix != _ZERO16 or o.prefix_length
        }
        if requested and requested != set(entry.prefixes):
            raise _Reject(
                BindingStatus.BCE_PBU_PREFIX_SET_DO_NOT_MATCH,
                f"PBU prefixes {sorted(requested)} differ from the BCE's {list(entry.prefixes)}",
            )

    def _check_peer_may_serve(
        self, peer: MagPeer, prefixes: Iterable[str], ipv4: str | None
    ) -> None:
        if not peer.allowed_prefixes:
            return
        allowed = [ipaddress.ip_network(n) for n in peer.allowed_prefixes]
        for block in prefixes:
            net = ipaddress.ip_network(block)
            if not any(net.version == a.version and net.subnet_of(a) for a in allowed):  # type: ignore[arg-type]
                raise _Reject(
                    BindingStatus.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
                    f"MAG {peer.name} may not serve {block}",
                )
        if ipv4 is not None:
            net4 = ipaddress.ip_network(ipv4)
            if not any(net4.version == a.version and net4.subnet_of(a) for a in allowed):  # type: ignore[arg-type]
                raise _Reject(
                    BindingStatus.NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS,
                    f"MAG {peer.name} may not serve {ipv4}",
                    IPv4HomeAddressReplyStatus.ADMINISTRATIVELY_PROHIBITED,
                )

    def _reply(
        self,
        pbu: _Pbu,
        status: int,
        lifetime: int,
        entry: _Entry | None,
        now: Now,
        actions: list[LmaAction],
        reason: str | None = None,
        ipv4_status: int | None = None,
    ) -> None:
        """Build and send the PBA exactly as RFC 5213 §5.3.6 lists its options."""
        message = pbu.message
        accepted = status < 128
        options: list[MobilityOption] = [
            pbu.mn_id if pbu.mn_id is not None else MobileNodeIdentifierOption(b"")
        ]
        if accepted and entry is not None and entry.hnp_options:
            options.extend(entry.hnp_options)
        elif pbu.prefixes:
            options.extend(pbu.prefixes)
        else:
            options.append(HomeNetworkPrefixOption(_ZERO16, 0))
        options.append(pbu.hi if pbu.hi is not None else HandoffIndicatorOption(0))
        options.append(pbu.att if pbu.att is not None else AccessTechnologyTypeOption(0))
        if pbu.timestamp is not None or status in (
            BindingStatus.TIMESTAMP_MISMATCH,
            BindingStatus.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED,
        ):
            if status in (
                BindingStatus.TIMESTAMP_MISMATCH,
                BindingStatus.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED,
            ):
                options.append(TimestampOption.from_seconds(now.utc))
            else:
                assert pbu.timestamp is not None
                options.append(pbu.timestamp)
        if pbu.ll_id is not None:
            options.append(pbu.ll_id)
        if pbu.lla is not None:
            if accepted and entry is not None and pbu.lla.address == _ZERO16:
                options.append(LinkLocalAddressOption(entry.link_local_address))
            else:
                options.append(pbu.lla)
        gre_mode = self.policy.tunnel_mode is TunnelMode.GRE
        if accepted and pbu.gre_key is not None and not gre_mode:
            status = BindingStatus.GRE_KEY_OPTION_NOT_REQUIRED
        elif accepted and gre_mode and entry is not None and message.lifetime:
            options.append(GreKeyOption(entry.gre_key_uplink))
            if int(message.flags) & BindingUpdateFlag.T:
                status = BindingStatus.GRE_TUNNELING_BUT_TLV_HEADER_NOT_SUPPORTED
        if pbu.ipv4_request is not None:
            if accepted and entry is not None and entry.ipv4_home_address is not None:
                options.append(
                    IPv4HomeAddressReplyOption(
                        IPv4HomeAddressReplyStatus.SUCCESS,
                        _v4_packed(entry.ipv4_home_address),
                        self.policy.ipv4_prefix_length,
                    )
                )
                if self.policy.ipv4_default_router:
                    options.append(
                        IPv4DefaultRouterAddressOption(_v4_packed(self.policy.ipv4_default_router))
                    )
            elif not accepted:
                options.append(
                    IPv4HomeAddressReplyOption(
                        ipv4_status or IPv4HomeAddressReplyStatus.FAILURE_REASON_UNSPECIFIED,
                        pbu.ipv4_request.address,
                        pbu.ipv4_request.prefix_length,
                    )
                )
        flags = BindingAcknowledgementFlag.P if int(message.flags) & _P_FLAG else 0
        pba = ProxyBindingAcknowledgement(
            status, message.sequence, lifetime // LIFETIME_UNIT_SECONDS, flags, tuple(options)
        )
        event = pbu.event
        actions.append(
            SendMessage(
                message=pba,
                destination=event.source,
                source=event.destination,
                transport=event.transport,
                destination_port=event.source_port or 5436,
            )
        )
        actions.append(
            RecordAudit(
                kind=AuditKind.PBU,
                utc=now.utc,
                mn_id=pbu.mn_id.identifier if pbu.mn_id is not None else None,
                peer=pbu.peer.name if pbu.peer is not None else event.source,
                fields={
                    "status": int(status),
                    "sequence": message.sequence,
                    "lifetime": lifetime,
                    "handoff_indicator": int(pbu.hi.indicator) if pbu.hi else None,
                    "transport": event.transport.value,
                    "reason": reason,
                },
            )
        )

    # ------------------------------------------------------------------------- revocation

    def _send_revocation(
        self,
        entry: _Entry,
        trigger: int,
        destination: str,
        transport: Transport,
        port: int,
        now: Now,
        actions: list[LmaAction],
    ) -> None:
        self._revocation_sequence = next_sequence(self._revocation_sequence)
        options: list[MobilityOption] = [MobileNodeIdentifierOption(entry.mn_id)]
        options.extend(entry.hnp_options)
        flags = RevocationFlag.P
        if entry.ipv4_home_address is not None:
            options.append(
                IPv4HomeAddressRequestOption(
                    _v4_packed(entry.ipv4_home_address),
                    self.policy.ipv4_prefix_length,
                )
            )
        bri = BindingRevocationIndication(trigger, self._revocation_sequence, flags, tuple(options))
        outstanding = _OutstandingRevocation(
            mn_id=entry.mn_id,
            message=bri,
            destination=destination,
            transport=transport,
            port=port or 5436,
            retries_left=self.policy.bri_max_retries,
            deadline=now.monotonic + self.policy.bri_retransmit_delay,
        )
        self._revocations[entry.mn_id] = outstanding
        self._push_timer(outstanding.deadline, "bri", entry.mn_id)
        actions.append(
            SendMessage(
                message=bri,
                destination=destination,
                transport=transport,
                destination_port=outstanding.port,
            )
        )
        actions.append(
            RecordAudit(
                kind=AuditKind.BRI_SENT,
                utc=now.utc,
                mn_id=entry.mn_id,
                peer=destination,
                fields={"trigger": int(trigger), "sequence": bri.sequence},
            )
        )

    def _on_bra(
        self,
        event: MobilityMessageReceived,
        message: BindingRevocationAcknowledgement,
        now: Now,
        actions: list[LmaAction],
    ) -> None:
        mn_option = next(
            (o for o in message.options if type(o) is MobileNodeIdentifierOption), None
        )
        match = None
        for mn_id, outstanding in self._revocations.items():
            if outstanding.message.sequence == message.sequence and (
                mn_option is None or mn_option.identifier == mn_id
            ):
                match = mn_id
                break
        if match is None or self._revocations[match].destination != event.source:
            actions.append(
                RecordAudit(
                    kind=AuditKind.BRA_UNMATCHED,
                    utc=now.utc,
                    peer=event.source,
                    fields={"sequence": message.sequence},
                )
            )
            return
        del self._revocations[match]
        actions.append(
            RecordAudit(
                kind=AuditKind.BRA_RECEIVED,
                utc=now.utc,
                mn_id=match,
                peer=event.source,
                fields={"status": int(message.status), "sequence": message.sequence},
            )
        )

    def _on_revocation_request(
        self, event: RevocationRequested, now: Now, actions: list[LmaAction]
    ) -> None:
        entry = self._bindings.get(event.mn_id)
        if entry is None:
            actions.append(
                RecordAudit(
                    kind=AuditKind.REVOCATION_FAILED,
                    utc=now.utc,
                    mn_id=event.mn_id,
                    fields={"reason": "no binding"},
                )
            )
            return
        self._transition(entry, BindingInput.REVOCATION, None, now, actions)

    # ------------------------------------------------------------------------- heartbeat

    def _peer_state(
        self, peer: MagPeer, address: str, transport: Transport, now: Now
    ) -> _PeerState:
        state = self._peer_states.get(address)
        if state is None:
            state = _PeerState(peer=peer, address=address, transport=transport)
            self._peer_states[address] = state
            if self.policy.heartbeat_interval > 0:
                state.next_heartbeat = now.monotonic + self.policy.heartbeat_interval
                self._push_timer(state.next_heartbeat, "heartbeat", address)
        return state

    def _heartbeat_to(
        self,
        state: _PeerState,
        *,
        response: bool,
        unsolicited: bool = False,
        sequence: int | None = None,
    ) -> SendMessage:
        options: tuple[MobilityOption, ...] = ()
        if response:
            options = (RestartCounterOption(self.policy.restart_counter),)
        message = Heartbeat(
            sequence if sequence is not None else state.heartbeat_sequence,
            response,
            unsolicited,
            options,
        )
        return SendMessage(message=message, destination=state.address, transport=state.transport)

    def _on_heartbeat(
        self, event: MobilityMessageReceived, message: Heartbeat, now: Now, actions: list[LmaAction]
    ) -> None:
        peer = self._peers_by_address.get(event.source)
        if peer is None:
            actions.append(
                RecordAudit(
                    kind=AuditKind.HEARTBEAT_FROM_UNKNOWN_PEER, utc=now.utc, peer=event.source
                )
            )
            return
        state = self._peer_state(peer, event.source, event.transport, now)
        if not message.response:
            reply = Heartbeat(
                message.sequence, True, False, (RestartCounterOption(self.policy.restart_counter),)
            )
            actions.append(
                SendMessage(
                    message=reply,
                    destination=event.source,
                    source=event.destination,
                    transport=event.transport,
                    destination_port=event.source_port or 5436,
                )
            )
            actions.append(
                RecordAudit(
                    kind=AuditKind.HEARTBEAT_ANSWERED,
                    utc=now.utc,
                    peer=peer.name,
                    fields={"sequence": message.sequence},
                )
            )
            return
        if not message.unsolicited:
            if state.outstanding != message.sequence:
                return  # stale or unknown response: ignored (RFC 5847 §3.1 matches by sequence)
            state.outstanding = None
            state.missing = 0
            if state.unreachable:
                state.unreachable = False
                actions.append(
                    RecordAudit(kind=AuditKind.PEER_REACHABLE, utc=now.utc, peer=peer.name)
                )
        counter = next((o for o in message.options if type(o) is RestartCounterOption), None)
        actions.append(
            RecordAudit(
                kind=AuditKind.HEARTBEAT_RESPONSE,
                utc=now.utc,
                peer=peer.name,
                fields={
                    "sequence": message.sequence,
                    "restart_counter": counter.counter if counter is not None else None,
                },
            )
        )
        if counter is None:
            return
        value = counter.counter
        if state.restart_counter is not None and state.restart_counter != value:
            actions.append(
                RecordAudit(
                    kind=AuditKind.PEER_RESTARTED,
                    utc=now.utc,
                    peer=peer.name,
                    fields={"old": state.restart_counter, "new": value},
                )
            )
            if self.policy.release_bindings_on_peer_restart:
                for entry in [e for e in self._bindings.values() if e.peer is peer]:
                    self._transition(entry, BindingInput.PEER_RESTART, None, now, actions)
        state.restart_counter = value

    # ------------------------------------------------------------------------- timers

    def _push_timer(self, deadline: float, kind: str, key: Any) -> None:
        self._timer_count += 1
        heapq.heappush(self._timers, (deadline, self._timer_count, kind, key))

    def _set_deadline(self, entry: _Entry, deadline: float) -> None:
        entry.deadline = deadline
        self._push_timer(deadline, "binding", entry.mn_id)

    def _timer_is_current(self, deadline: float, kind: str, key: Any) -> bool:
        if kind == "binding":
            entry = self._bindings.get(key)
            return entry is not None and entry.deadline == deadline
        if kind == "pending":
            entry = self._bindings.get(key)
            return (
                entry is not None
                and entry.pending is not None
                and entry.pending_deadline == deadline
            )
        if kind == "bri":
            outstanding = self._revocations.get(key)
            return outstanding is not None and outstanding.deadline == deadline
        if kind == "aaa":
            waiting = self._awaiting_aaa.get(key)
            return waiting is not None and waiting[2] == deadline
        state = self._peer_states.get(key)
        return (
            state is not None and state.next_heartbeat == deadline and not state.heartbeats_disabled
        )

    def _on_timers(self, now: Now, actions: list[LmaAction]) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now.monotonic:
            deadline, _, kind, key = heapq.heappop(timers)
            if not self._timer_is_current(deadline, kind, key):
                continue
            if kind == "binding":
                entry = self._bindings[key]
                self._transition(entry, BindingInput.EXPIRY, None, now, actions)
            elif kind == "pending":
                entry = self._bindings[key]
                pending = entry.pending
                assert pending is not None
                actions.append(
                    RecordAudit(
                        kind=AuditKind.HANDOVER_WAIT_EXPIRED,
                        utc=now.utc,
                        mn_id=key,
                        peer=pending.peer.name if pending.peer else None,
                    )
                )
                entry.pending = None
                self._process(entry, BindingInput.HANDOVER, pending, now, actions)
            elif kind == "aaa":
                pbu, _arrived, _deadline = self._awaiting_aaa.pop(key)
                self._aaa_mismatch(pbu, now, actions)
            elif kind == "bri":
                outstanding = self._revocations[key]
                if outstanding.retries_left > 0:
                    outstanding.retries_left -= 1
                    outstanding.deadline = now.monotonic + self.policy.bri_retransmit_delay
                    self._push_timer(outstanding.deadline, "bri", key)
                    actions.append(
                        SendMessage(
                            message=outstanding.message,
                            destination=outstanding.destination,
                            transport=outstanding.transport,
                            destination_port=outstanding.port,
                        )
                    )
                else:
                    del self._revocations[key]
                    actions.append(
                        RecordAudit(
                            kind=AuditKind.BRI_UNANSWERED,
                            utc=now.utc,
                            mn_id=key,
                            peer=outstanding.destination,
                        )
                    )
            else:
                self._heartbeat_tick(self._peer_states[key], now, actions)

    def _heartbeat_tick(self, state: _PeerState, now: Now, actions: list[LmaAction]) -> None:
        if state.outstanding is not None:
            state.missing += 1
            if state.missing > self.policy.missing_heartbeats_allowed and not state.unreachable:
                state.unreachable = True
                actions.append(
                    RecordAudit(
                        kind=AuditKind.PEER_UNREACHABLE,
                        utc=now.utc,
                        peer=state.peer.name,
                        fields={"missing_heartbeats": state.missing},
                    )
                )
        state.heartbeat_sequence = (state.heartbeat_sequence + 1) & 0xFFFF_FFFF
        state.outstanding = state.heartbeat_sequence
        actions.append(self._heartbeat_to(state, response=False))
        state.next_heartbeat = now.monotonic + self.policy.heartbeat_interval
        self._push_timer(state.next_heartbeat, "heartbeat", state.address)

    # ------------------------------------------------------------------------- malformed input

    def _on_malformed(
        self, event: MalformedPacketReceived, now: Now, actions: list[LmaAction]
    ) -> None:
        peer = self._peers_by_address.get(event.source)
        actions.append(
            RecordAudit(
                kind=AuditKind.MALFORMED_PACKET,
                utc=now.utc,
                peer=peer.name if peer else event.source,
                fields={
                    "reason": event.reason,
                    "length": event.length,
                    "transport": event.transport.value,
                    "known_peer": peer is not None,
                },
            )
        )
        if event.unknown_mh_type is not None and peer is not None:
            # RFC 6275 §9.2: an unrecognized MH type is answered with a Binding Error, status 2
            # (only to configured peers: an unknown source gets nothing to reflect).
            actions.append(
                SendMessage(
                    message=BindingError(2),
                    destination=event.source,
                    transport=event.transport,
                    destination_port=event.source_port or 5436,
                )
            )


class _AbortTransition(Exception):
    """Raised by a handler that already answered (a late reject) or ran a nested transition."""


LocalMobilityAnchor._TRANSITIONS = {
    (BindingState.ABSENT, BindingInput.REGISTRATION): (
        LocalMobilityAnchor._register,
        BindingState.ACTIVE,
    ),
    (BindingState.DEREGISTERED, BindingInput.REGISTRATION): (
        LocalMobilityAnchor._register,
        BindingState.ACTIVE,
    ),
    (BindingState.ACTIVE, BindingInput.REFRESH): (
        LocalMobilityAnchor._refresh,
        BindingState.ACTIVE,
    ),
    (BindingState.ACTIVE, BindingInput.HANDOVER): (
        LocalMobilityAnchor._handover,
        BindingState.ACTIVE,
    ),
    (BindingState.ACTIVE, BindingInput.HANDOVER_UNKNOWN): (
        LocalMobilityAnchor._defer_handover,
        BindingState.ACTIVE,
    ),
    (BindingState.ACTIVE, BindingInput.DEREGISTRATION): (
        LocalMobilityAnchor._deregister,
        BindingState.DEREGISTERED,
    ),
    (BindingState.ABSENT, BindingInput.STRAY_DEREGISTRATION): (
        LocalMobilityAnchor._acknowledge_stray,
        BindingState.ABSENT,
    ),
    (BindingState.ACTIVE, BindingInput.STRAY_DEREGISTRATION): (
        LocalMobilityAnchor._acknowledge_stray,
        BindingState.ACTIVE,
    ),
    (BindingState.DEREGISTERED, BindingInput.STRAY_DEREGISTRATION): (
        LocalMobilityAnchor._acknowledge_stray,
        BindingState.DEREGISTERED,
    ),
    (BindingState.ACTIVE, BindingInput.EXPIRY): (LocalMobilityAnchor._expire, BindingState.ABSENT),
    (BindingState.DEREGISTERED, BindingInput.EXPIRY): (
        LocalMobilityAnchor._delete,
        BindingState.ABSENT,
    ),
    (BindingState.ACTIVE, BindingInput.REVOCATION): (
        LocalMobilityAnchor._revoke,
        BindingState.ABSENT,
    ),
    (BindingState.DEREGISTERED, BindingInput.REVOCATION): (
        LocalMobilityAnchor._revoke,
        BindingState.ABSENT,
    ),
    (BindingState.ACTIVE, BindingInput.PEER_RESTART): (
        LocalMobilityAnchor._release,
        BindingState.ABSENT,
    ),
    (BindingState.DEREGISTERED, BindingInput.PEER_RESTART): (
        LocalMobilityAnchor._release,
        BindingState.ABSENT,
    ),
}


def _sequence_from(entry: _Entry, mag: str) -> int | None:
    """The last sequence number accepted from ``mag`` for this binding, if it ever served it."""
    if entry.sequences is not None and mag in entry.sequences:
        return entry.sequences[mag]
    if entry.peer is not None and entry.peer.name == mag:
        return entry.last_sequence
    return None


@functools.lru_cache(maxsize=65536)
def _v4_packed(address: str) -> bytes:
    """An IPv4 address's four octets (cached: ipaddress parsing costs ~15 us a call, several
    times per PBU)."""
    return pack_ipv4(address)


@functools.lru_cache(maxsize=65536)
def _canonical(address: str) -> str:
    return str(ipaddress.ip_address(address))


def _canonical_block(block: str) -> str:
    if "/" in block:
        net = ipaddress.ip_network(block, strict=False)
        if net.version == 4 and net.prefixlen == 32:
            return str(net.network_address)
        return str(net)
    return str(ipaddress.ip_address(block))


@functools.lru_cache(maxsize=65536)
def _prefix_text(option: HomeNetworkPrefixOption) -> str:
    return format_ipv6_network(option.prefix, option.prefix_length)
