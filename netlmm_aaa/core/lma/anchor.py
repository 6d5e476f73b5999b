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

A PBA with status 0 promises that the binding's routes are in the kernel, so the runner sends
the PBAs (and the BRIs, the stored rows) of a batch only after carrying out its routes, and then
reports :class:`~.events.RoutesProgrammed`. When the kernel refused a binding's routes, that
binding goes back to what it was before the PBU (a new one is deleted, a handed-over one returns
to its old MAG, its routes reinstalled), the PBU is answered with 128 (reason unspecified), the
failure is audited, and the runner withholds what the failed change had emitted.

Heartbeats (RFC 5847): a request every HEARTBEAT_INTERVAL to every peer; more than
MISSING_HEARTBEATS_ALLOWED unanswered marks it unreachable; a changed Restart Counter in a response
means the MAG lost its state, and its bindings are released. Requests are always answered, with
our Restart Counter. A Binding Error (status 2) in reply stops heartbeats to that peer.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import logging
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import replace
from enum import Enum, auto
from typing import assert_never

from netlmm_aaa.core.actions import (
    MH_UDP_PORT,
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
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.codes import BindingStatus
from netlmm_aaa.core.errors import ConfigError, InvalidTransition
from netlmm_aaa.core.events import (
    AttachmentReported,
    LmaEvent,
    MalformedPacketReceived,
    MobilityMessageReceived,
    RevocationRequested,
    RoutesProgrammed,
    TimerFired,
)
from netlmm_aaa.core.lma.binding_cache import (
    BindingEntry,
    BindingInput,
    BindingState,
    ReceivedPbu,
)
from netlmm_aaa.core.lma.heartbeats import PeerMonitor
from netlmm_aaa.core.lma.home_addresses import (
    HomeAddresses,
)
from netlmm_aaa.core.lma.pba import answer_pbu, refuse_pbu
from netlmm_aaa.core.lma.pbu_checks import PbuRejected, classify_pbu
from netlmm_aaa.core.lma.revocation import Revocations
from netlmm_aaa.core.lma.steps import BindingSteps
from netlmm_aaa.core.lma.timers import Timer, TimerHeap
from netlmm_aaa.core.lma_policy import LmaPolicy, MagPeer, MobileNodePolicy
from netlmm_aaa.core.messages import (
    BindingError,
    BindingRevocationAcknowledgement,
    Heartbeat,
    ProxyBindingUpdate,
)
from netlmm_aaa.core.policy_changes import refuse_fixed_changes

log = logging.getLogger(__name__)


class _Step(Enum):
    """What a transition does; each is one handler method below."""

    REGISTER = auto()
    REFRESH = auto()
    HANDOVER = auto()
    DEFER_HANDOVER = auto()
    DEREGISTER = auto()
    ACKNOWLEDGE_STRAY = auto()
    EXPIRE = auto()
    DELETE = auto()
    REVOKE = auto()
    RELEASE = auto()


_S, _I = BindingState, BindingInput
_TRANSITIONS: dict[tuple[BindingState, BindingInput], tuple[_Step, BindingState]] = {
    (_S.ABSENT, _I.REGISTRATION): (_Step.REGISTER, _S.ACTIVE),
    (_S.DEREGISTERED, _I.REGISTRATION): (_Step.REGISTER, _S.ACTIVE),
    (_S.ACTIVE, _I.REFRESH): (_Step.REFRESH, _S.ACTIVE),
    (_S.ACTIVE, _I.HANDOVER): (_Step.HANDOVER, _S.ACTIVE),
    (_S.ACTIVE, _I.HANDOVER_UNKNOWN): (_Step.DEFER_HANDOVER, _S.ACTIVE),
    (_S.ACTIVE, _I.DEREGISTRATION): (_Step.DEREGISTER, _S.DEREGISTERED),
    (_S.ABSENT, _I.STRAY_DEREGISTRATION): (_Step.ACKNOWLEDGE_STRAY, _S.ABSENT),
    (_S.ACTIVE, _I.STRAY_DEREGISTRATION): (_Step.ACKNOWLEDGE_STRAY, _S.ACTIVE),
    (_S.DEREGISTERED, _I.STRAY_DEREGISTRATION): (_Step.ACKNOWLEDGE_STRAY, _S.DEREGISTERED),
    (_S.ACTIVE, _I.EXPIRY): (_Step.EXPIRE, _S.ABSENT),
    (_S.DEREGISTERED, _I.EXPIRY): (_Step.DELETE, _S.ABSENT),
    (_S.ACTIVE, _I.REVOCATION): (_Step.REVOKE, _S.ABSENT),
    (_S.DEREGISTERED, _I.REVOCATION): (_Step.REVOKE, _S.ABSENT),
    (_S.ACTIVE, _I.PEER_RESTART): (_Step.RELEASE, _S.ABSENT),
    (_S.DEREGISTERED, _I.PEER_RESTART): (_Step.RELEASE, _S.ABSENT),
}
"""(state, input) -> (step, next state); a pair not listed is an InvalidTransition."""

_AAA_CHECKED = frozenset({_I.REGISTRATION, _I.HANDOVER, _I.HANDOVER_UNKNOWN})
_ROUTED = frozenset({_I.REGISTRATION, _I.REFRESH, _I.HANDOVER})
"""Inputs whose PBA promises routes: undone when the kernel refuses them."""

_Handler = Callable[
    [BindingEntry, "ReceivedPbu | None", Now, list[LmaAction]], "ReceivedPbu | None"
]
"""A step's handler. It returns a PBU to process next as a REGISTRATION of the same entry once
the transition has set its state (the HI=4 handover that waited for this de-registration)."""


class LocalMobilityAnchor(BindingSteps):
    """The LMA's decisions. ``handle(event, now) -> actions``; ``next_deadline()`` for the timer."""

    def __init__(self, policy: LmaPolicy) -> None:
        self.policy = policy
        self._bindings: dict[bytes, BindingEntry] = {}
        self._peers_by_address: dict[str, MagPeer] = {}
        self._peers_by_name: dict[str, MagPeer] = {}
        for peer in policy.peers:
            self._peers_by_name[peer.name] = peer
            for address in peer.addresses:
                self._peers_by_address[_canonical(address)] = peer
        self._policies: dict[bytes, MobileNodePolicy] = {p.mn_id: p for p in policy.mobile_nodes}
        self._addresses = HomeAddresses(policy)
        self._timers = TimerHeap(self._timer_is_current)
        self._peer_monitor = PeerMonitor(policy, self._timers)
        self._revocations = Revocations(policy, self._timers)
        # RFC 5213 §11 cross-check: where the AAA places each node (MAG name, or None after a
        # Stop), and the PBUs waiting for the record that would place their node at their MAG
        # (MN-ID -> (PBU, arrival time, deadline)).
        self._attachments: dict[bytes, str | None] = {}
        self._awaiting_aaa: dict[bytes, tuple[ReceivedPbu, Now, float]] = {}
        self._gre_key = 0
        # Bindings whose routes the runner has not confirmed yet: MN-ID -> (the entry as it
        # was before the PBU, None if there was none; the PBU), until RoutesProgrammed.
        self._undo: dict[bytes, tuple[BindingEntry | None, ReceivedPbu]] = {}
        self._handlers: dict[_Step, _Handler] = {
            _Step.REGISTER: self._register,
            _Step.REFRESH: self._refresh,
            _Step.HANDOVER: self._handover,
            _Step.DEFER_HANDOVER: self._defer_handover,
            _Step.DEREGISTER: self._deregister,
            _Step.ACKNOWLEDGE_STRAY: self._acknowledge_stray,
            _Step.EXPIRE: self._expire,
            _Step.DELETE: self._delete,
            _Step.REVOKE: self._revoke,
            _Step.RELEASE: self._release,
        }

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
            case RoutesProgrammed():
                self._on_routes(event, now, actions)
            case _:
                assert_never(event)
        return actions

    def next_deadline(self) -> float | None:
        """Monotonic time of the earliest timer, or None."""
        return self._timers.next_deadline()

    RELOADABLE = frozenset({
        "max_lifetime", "min_delay_before_bce_delete", "max_delay_before_new_bce_assign",
        "timestamp_validity_window", "missing_heartbeats_allowed", "bri_retransmit_delay",
        "bri_max_retries", "unknown_mobile_nodes", "require_timestamp",
        "mobile_node_generated_timestamp", "accept_forced_udp_encapsulation",
        "revoke_old_mag_on_handover", "release_bindings_on_peer_restart",
        "honour_requested_blocks", "aaa_attachment_wait",
    })  # fmt: skip
    """The policy fields :meth:`reconfigure` may change with bindings in the cache: rules read
    when a message or timer is handled. (Pools, peers, node profiles, the tunnel mode and the
    heartbeat interval shape state made at start.)"""

    def reconfigure(self, policy: LmaPolicy) -> None:
        """A configuration reload: take ``policy``, which may differ from the current one only
        in :attr:`RELOADABLE` fields (ConfigError otherwise). The binding cache, its timers and
        the peers' states stay; the new rules apply from the next event."""
        refuse_fixed_changes(self.policy, policy, self.RELOADABLE, "lma")
        self.policy = policy
        self._peer_monitor.reconfigure(policy)
        self._revocations.reconfigure(policy)
        self._addresses.honour_requested = policy.honour_requested_blocks

    def check_peers(self, peers: Iterable[MagPeer]) -> None:
        """ConfigError if :meth:`replace_peers` could not take ``peers`` now: a name or an
        address twice, or a MAG that leaves or changes its addresses while it serves a node
        (a binding, held ones included, or a PBU waiting to be processed)."""
        problems: list[str] = []
        by_name: dict[str, MagPeer] = {}
        by_address: dict[str, str] = {}
        for peer in peers:
            if by_name.setdefault(peer.name, peer) is not peer:
                problems.append(f"{peer.name} is named twice")
            for address in peer.addresses:
                other = by_address.setdefault(_canonical(address), peer.name)
                if other != peer.name:
                    problems.append(f"{address} is both {other}'s and {peer.name}'s")
        serving = self._nodes_per_peer()
        for old in self._peers_by_name.values():
            new = by_name.get(old.name)
            moved = new is None or (new.addresses, new.tunnel_address) != (
                old.addresses,
                old.tunnel_address,
            )
            if moved and serving.get(old.name):
                what = "leave" if new is None else "change its addresses"
                problems.append(
                    f"{old.name} may not {what} while it serves {serving[old.name]} mobile "
                    "nodes (revoke their bindings first, or restart)"
                )
        if problems:
            raise ConfigError("lma.mag: " + "; ".join(problems))

    def replace_peers(self, peers: Sequence[MagPeer], now: Now) -> None:
        """A configuration reload: the MAGs allowed to register nodes from now on (the data
        plane decapsulates from new ones first). A MAG's rules (``allowed_prefixes``, the
        heartbeat and revocation switches) apply from the next event; a MAG that serves no node
        may change its addresses or leave. ConfigError, changing nothing, where
        :meth:`check_peers` says."""
        self.check_peers(peers)
        self._peers_by_name = {p.name: p for p in peers}
        self._peers_by_address = {_canonical(address): p for p in peers for address in p.addresses}
        for entry in self._bindings.values():
            if entry.peer is not None:
                entry.peer = self._peers_by_name.get(entry.peer.name, entry.peer)
        self._peer_monitor.replace_peers(self._peers_by_name, now)
        self.policy = replace(self.policy, peers=tuple(peers))

    def _nodes_per_peer(self) -> Counter[str]:
        """How many nodes each MAG serves or asks for: bindings and PBUs yet to be processed."""
        serving: Counter[str] = Counter()
        for entry in self._bindings.values():
            for peer in (entry.peer, entry.pending.peer if entry.pending else None):
                if peer is not None:
                    serving[peer.name] += 1
        for waiting, _, _ in self._awaiting_aaa.values():
            if waiting.peer is not None:
                serving[waiting.peer.name] += 1
        return serving

    def check_mobile_nodes(self, nodes: Iterable[MobileNodePolicy]) -> None:
        """ConfigError if :meth:`set_mobile_nodes` could not take ``nodes`` now: a static block
        named twice, or one that another node's binding holds (until that binding ends)."""
        try:
            problems = self._addresses.static_conflicts(nodes, self._bound_blocks())
        except ValueError as exc:
            raise ConfigError(f"lma.mobile_node: {exc}") from None
        if problems:
            raise ConfigError("lma.mobile_node: " + "; ".join(problems))

    def set_mobile_nodes(self, nodes: tuple[MobileNodePolicy, ...]) -> None:
        """A configuration reload: the node profiles from now on. Every PBU is checked against
        its node's profile (a node no longer authorized is refused at its next refresh); a
        binding keeps the blocks it holds, a new static block applies from its node's next
        registration. ConfigError, changing nothing, where :meth:`check_mobile_nodes` says."""
        self.check_mobile_nodes(nodes)
        self._addresses.replace_statics(nodes, self._bound_blocks())
        self._policies = {p.mn_id: p for p in nodes}
        self.policy = replace(self.policy, mobile_nodes=nodes)

    def _bound_blocks(self) -> dict[str, bytes]:
        """Every block a binding holds (held ones included) -> its node."""
        return {
            block: entry.mn_id
            for entry in self._bindings.values()
            for block in (*entry.prefixes, entry.ipv4_home_address)
            if block is not None
        }

    def restore(
        self, bindings: Iterable[BindingSnapshot], now: Now, *, install_routes: bool = True
    ) -> list[LmaAction]:
        """Reload persisted bindings after a restart: live ones are reinstalled, dead ones go.
        ``install_routes=False``: no InstallBindingRoutes (the caller reconciles the kernel
        against :meth:`active_routes` instead)."""
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
            options = self._addresses.restore(snap.home_network_prefixes, snap.mn_id)
            entry = BindingEntry.from_snapshot(snap, peer, options)
            if snap.gre_key_uplink is not None:  # the keys we assigned (RFC 5845 §3)
                self._gre_key = max(self._gre_key, snap.gre_key_uplink)
            if snap.ipv4_home_address is not None:
                self._addresses.hold(snap.ipv4_home_address, snap.mn_id)
            self._bindings[snap.mn_id] = entry
            if snap.deregistered:
                hold = min(remaining, self.policy.min_delay_before_bce_delete)
                self._set_deadline(entry, now.monotonic + hold)
                continue
            self._set_deadline(entry, now.monotonic + remaining)
            self._peer_monitor.track(peer, snap.signalling_address, snap.transport, now)
            if install_routes:
                actions.append(InstallBindingRoutes(binding=entry.snapshot()))
        return actions

    def announce_restart(self, now: Now) -> list[LmaAction]:
        """Unsolicited Heartbeat responses carrying our Restart Counter to every peer (§3.2)."""
        return self._peer_monitor.announce_restart()

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
            entry.gre_key_uplink: entry.tunnel_address
            for entry in self._bindings.values()
            if entry.state is BindingState.ACTIVE
            and entry.peer is not None
            and entry.gre_key_uplink is not None
        }

    def active_routes(self) -> dict[str, str]:
        """The routes the active bindings need: destination (prefix, IPv4 HoA as /32) ->
        serving MAG's tunnel address (a restart reconciles the kernel against this, without
        building a snapshot per binding)."""
        routes: dict[str, str] = {}
        active = BindingState.ACTIVE
        for entry in self._bindings.values():
            if entry.state is not active or entry.peer is None:
                continue
            target = tunnel_endpoint(entry.tunnel_address, entry.gre_key_downlink)
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

    def _transition(
        self,
        entry: BindingEntry,
        what: BindingInput,
        pbu: ReceivedPbu | None,
        now: Now,
        actions: list[LmaAction],
    ) -> None:
        try:
            step, next_state = _TRANSITIONS[(entry.state, what)]
        except KeyError:
            raise InvalidTransition(
                f"binding {entry.mn_id!r} in state {entry.state.name} cannot take {what.name}"
            ) from None
        previous = entry.state
        mark = len(actions)
        track = pbu is not None and what in _ROUTED and entry.mn_id not in self._undo
        saved = copy.copy(entry) if track and previous is not BindingState.ABSENT else None
        follow_up = self._handlers[step](entry, pbu, now, actions)
        if track and any(type(a) is InstallBindingRoutes for a in actions[mark:]):
            assert pbu is not None
            self._undo[entry.mn_id] = (saved, pbu)
        entry.state = next_state
        if next_state is BindingState.ABSENT:
            self._bindings.pop(entry.mn_id, None)
        if previous is not next_state:
            log.debug("binding %r: %s -> %s", entry.mn_id, previous, next_state)  # formatted lazily
        if follow_up is not None:
            self._process(entry, BindingInput.REGISTRATION, follow_up, now, actions)

    def _process(
        self,
        entry: BindingEntry,
        what: BindingInput,
        pbu: ReceivedPbu,
        now: Now,
        actions: list[LmaAction],
    ) -> None:
        """Run a PBU's transition; a check failing inside it answers that PBU, moves nothing."""
        try:
            self._transition(entry, what, pbu, now, actions)
        except PbuRejected as reject:
            refuse_pbu(self.policy, pbu, reject, now, actions)

    def _on_routes(self, event: RoutesProgrammed, now: Now, actions: list[LmaAction]) -> None:
        """The routes of the last batch are in, except ``event.failed``'s: those bindings go
        back to what they were before their PBU, which is answered with 128."""
        undo, self._undo = self._undo, {}
        for mn_id in sorted(event.failed):
            record = undo.get(mn_id)
            if record is None:
                continue
            saved, pbu = record
            current = self._bindings.get(mn_id)
            self._revocations.forget(mn_id)  # the handover's BRI is withheld: none follows
            if current is not None:
                actions.append(RemoveBindingRoutes(binding=current.snapshot()))
                kept = {*saved.prefixes, saved.ipv4_home_address} if saved else set()
                for block in (*current.prefixes, current.ipv4_home_address):
                    if block is not None and block not in kept:
                        self._addresses.release(block, mn_id)
            if saved is None:
                self._bindings.pop(mn_id, None)
                actions.append(DeleteStoredBinding(mn_id=mn_id))
            else:
                self._bindings[mn_id] = saved
                self._set_deadline(saved, saved.deadline)
                if saved.state is BindingState.ACTIVE:
                    actions.append(InstallBindingRoutes(binding=saved.snapshot()))
                actions.append(StoreBinding(binding=saved.snapshot()))
            actions.append(
                RecordAudit(
                    kind=AuditKind.BINDING_ROUTES_FAILED,
                    utc=now.utc,
                    mn_id=mn_id,
                    peer=pbu.peer.name if pbu.peer is not None else None,
                    fields={
                        "error": event.error,
                        "restored_mag": saved.peer.name if saved and saved.peer else None,
                    },
                )
            )
            reason = f"routes not installed: {event.error}"
            answer_pbu(self.policy, pbu, BindingStatus.REASON_UNSPECIFIED, 0, None, now,
                       actions, reason)  # fmt: skip

    # ------------------------------------------------------------------------- messages

    def _on_message(
        self, event: MobilityMessageReceived, now: Now, actions: list[LmaAction]
    ) -> None:
        message = event.message
        kind = type(message)
        if kind is ProxyBindingUpdate:
            pbu = ReceivedPbu.parse(event, self._peers_by_address.get(event.source))
            self._on_pbu(pbu, now, actions)
            return
        peer = self._peers_by_address.get(event.source)
        if kind is Heartbeat:
            assert isinstance(message, Heartbeat)
            if peer is None:
                actions.append(
                    RecordAudit(
                        kind=AuditKind.HEARTBEAT_FROM_UNKNOWN_PEER, utc=now.utc, peer=event.source
                    )
                )
            elif (
                self._peer_monitor.received(event, peer, message, now, actions)
                and self.policy.release_bindings_on_peer_restart
            ):  # the MAG restarted and lost its state: its nodes must register again
                for entry in [e for e in self._bindings.values() if e.peer is peer]:
                    self._transition(entry, BindingInput.PEER_RESTART, None, now, actions)
        elif kind is BindingRevocationAcknowledgement:
            assert isinstance(message, BindingRevocationAcknowledgement)
            self._revocations.acknowledged(event, message, now, actions)
        elif kind is BindingError:
            assert isinstance(message, BindingError)
            self._peer_monitor.binding_error(event.source, int(message.status))
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
                    fields={"type": kind.__name__},
                )
            )

    def _on_pbu(
        self, pbu: ReceivedPbu, now: Now, actions: list[LmaAction], arrived: Now | None = None
    ) -> None:
        """``arrived``: when a PBU that waited for the AAA came in (its timestamp is judged
        against that instant)."""
        try:
            entry, what = classify_pbu(
                pbu, arrived or now, self.policy, self._policies, self._bindings
            )
        except PbuRejected as reject:
            refuse_pbu(self.policy, pbu, reject, now, actions)
            return
        if self._aaa_disagrees(entry, what, pbu):
            if arrived is not None:  # it waited already: the AAA never confirmed
                self._aaa_mismatch(pbu, now, actions)
                return
            previous = self._awaiting_aaa.get(entry.mn_id)
            if previous is not None:  # superseded by this newer PBU
                self._aaa_mismatch(previous[0], now, actions, "superseded while waiting")
            deadline = now.monotonic + self.policy.aaa_attachment_wait
            self._awaiting_aaa[entry.mn_id] = (pbu, now, deadline)
            self._timers.push(deadline, Timer.AAA_WAIT, entry.mn_id)
            return
        self._process(entry, what, pbu, now, actions)

    def _aaa_disagrees(self, entry: BindingEntry, what: BindingInput, pbu: ReceivedPbu) -> bool:
        """A new registration or a handover to a MAG where the AAA does not place the node."""
        if not self.policy.aaa_attachment_check or what not in _AAA_CHECKED:
            return False
        assert pbu.peer is not None
        return self._attachments.get(entry.mn_id) != pbu.peer.name

    def _aaa_mismatch(
        self, pbu: ReceivedPbu, now: Now, actions: list[LmaAction], why: str | None = None
    ) -> None:
        assert pbu.mn_id is not None and pbu.peer is not None
        where = self._attachments.get(pbu.mn_id.identifier)
        reason = why or (
            f"AAA places the node at {where}" if where else "AAA places the node at no MAG"
        )
        status = BindingStatus.MAG_NOT_AUTHORIZED_FOR_PROXY_REG
        reason = f"{reason}, not at {pbu.peer.name} (RFC 5213 §11 check)"
        answer_pbu(self.policy, pbu, status, 0, None, now, actions, reason)

    def _on_attachment(self, event: AttachmentReported, now: Now, actions: list[LmaAction]) -> None:
        self._attachments[event.mn_id] = event.mag
        waiting = self._awaiting_aaa.get(event.mn_id)
        if waiting is not None and event.mag is not None:
            pbu, arrived, _deadline = waiting
            assert pbu.peer is not None
            if pbu.peer.name == event.mag:
                del self._awaiting_aaa[event.mn_id]
                self._on_pbu(pbu, now, actions, arrived=arrived)

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
                    destination_port=event.source_port or MH_UDP_PORT,
                )
            )

    # ------------------------------------------------------------------------- handlers

    # ------------------------------------------------------------------------- timers

    def _timer_is_current(self, deadline: float, kind: Timer, key: Hashable) -> bool:
        match kind:
            case Timer.BINDING:
                entry = self._bindings.get(key)  # type: ignore[call-overload]
                return entry is not None and entry.deadline == deadline
            case Timer.PENDING_HANDOVER:
                entry = self._bindings.get(key)  # type: ignore[call-overload]
                return (
                    entry is not None
                    and entry.pending is not None
                    and entry.pending_deadline == deadline
                )
            case Timer.AAA_WAIT:
                waiting = self._awaiting_aaa.get(key)  # type: ignore[call-overload]
                return waiting is not None and waiting[2] == deadline
            case Timer.BRI_RETRANSMIT:
                return self._revocations.is_current(deadline, key)  # type: ignore[arg-type]
            case Timer.HEARTBEAT:
                return self._peer_monitor.is_current(deadline, key)  # type: ignore[arg-type]
            case _:
                assert_never(kind)

    def _on_timers(self, now: Now, actions: list[LmaAction]) -> None:
        while (due := self._timers.pop_due(now.monotonic)) is not None:
            kind, key = due
            match kind:
                case Timer.BINDING:
                    entry = self._bindings[key]  # type: ignore[index]
                    self._transition(entry, BindingInput.EXPIRY, None, now, actions)
                case Timer.PENDING_HANDOVER:
                    entry = self._bindings[key]  # type: ignore[index]
                    pending, entry.pending = entry.pending, None
                    assert pending is not None
                    actions.append(
                        RecordAudit(
                            kind=AuditKind.HANDOVER_WAIT_EXPIRED,
                            utc=now.utc,
                            mn_id=entry.mn_id,
                            peer=pending.peer.name if pending.peer else None,
                        )
                    )
                    self._process(entry, BindingInput.HANDOVER, pending, now, actions)
                case Timer.AAA_WAIT:
                    pbu, _arrived, _deadline = self._awaiting_aaa.pop(key)  # type: ignore[call-overload]
                    self._aaa_mismatch(pbu, now, actions)
                case Timer.BRI_RETRANSMIT:
                    self._revocations.retransmit(key, now, actions)  # type: ignore[arg-type]
                case Timer.HEARTBEAT:
                    self._peer_monitor.tick(key, now, actions)  # type: ignore[arg-type]
                case _:
                    assert_never(kind)


@functools.lru_cache(maxsize=65536)
def _canonical(address: str) -> str:
    return str(ipaddress.ip_address(address))
