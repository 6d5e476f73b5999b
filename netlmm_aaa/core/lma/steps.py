"""The steps of the LMA's binding cache transitions (the table is in :mod:`.anchor`): what
registering, refreshing, handing over, de-registering, expiring, revoking and releasing do to
one entry, and the actions each emits in order (routes, then storage, then audit, then the PBA).

A step may raise :class:`PbuRejected` before it changes anything; the anchor then answers the
PBU with that status and the entry stays as it was.
"""

from __future__ import annotations

from netlmm_aaa.core.actions import (
    DeleteStoredBinding,
    InstallBindingRoutes,
    LmaAction,
    RecordAudit,
    RemoveBindingRoutes,
    StoreBinding,
)
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.codes import BindingStatus, RevocationTrigger
from netlmm_aaa.core.lma.binding_cache import ZERO16, BindingEntry, BindingState, ReceivedPbu
from netlmm_aaa.core.lma.heartbeats import PeerMonitor
from netlmm_aaa.core.lma.home_addresses import (
    HomeAddresses,
    check_peer_may_serve,
    check_prefix_set,
)
from netlmm_aaa.core.lma.pba import answer_pbu
from netlmm_aaa.core.lma.pbu_checks import PbuRejected
from netlmm_aaa.core.lma.revocation import Revocations
from netlmm_aaa.core.lma.timers import Timer, TimerHeap
from netlmm_aaa.core.lma_policy import LmaPolicy, MobileNodePolicy, TunnelMode
from netlmm_aaa.core.messages import LIFETIME_UNIT_SECONDS


class BindingSteps:
    """The handlers; :class:`~.anchor.LocalMobilityAnchor` owns the state they work on."""

    policy: LmaPolicy
    _bindings: dict[bytes, BindingEntry]
    _policies: dict[bytes, MobileNodePolicy]
    _addresses: HomeAddresses
    _timers: TimerHeap
    _peer_monitor: PeerMonitor
    _revocations: Revocations
    _gre_key: int

    def _register(
        self, entry: BindingEntry, pbu: ReceivedPbu | None, now: Now, actions: list[LmaAction]
    ) -> None:
        """(none | DEREGISTERED) + REGISTRATION: a new or revived mobility session (§5.3.2)."""
        assert pbu is not None and pbu.peer is not None
        reviving = entry.state is BindingState.DEREGISTERED
        prefixes, hnp_options, ipv4 = self._addresses.assign(
            entry, pbu, self._policies.get(entry.mn_id)
        )
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
                peer=pbu.peer.name,
                fields={"prefixes": list(prefixes), "ipv4": ipv4, "lifetime": entry.lifetime},
            )
        )
        answer_pbu(self.policy, pbu, BindingStatus.ACCEPTED, entry.lifetime, entry, now, actions)

    def _refresh(
        self, entry: BindingEntry, pbu: ReceivedPbu | None, now: Now, actions: list[LmaAction]
    ) -> None:
        """ACTIVE + REFRESH: the serving MAG re-registers (§5.3.3)."""
        assert pbu is not None and entry.peer is not None
        check_prefix_set(entry, pbu)
        added_ipv4 = pbu.ipv4_request is not None and entry.ipv4_home_address is None
        if added_ipv4:
            ipv4 = self._addresses.assign_ipv4(pbu, self._policies.get(entry.mn_id), None)
            try:
                check_peer_may_serve(entry.peer, (), ipv4)
            except PbuRejected:
                self._addresses.release(ipv4, entry.mn_id)
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
        answer_pbu(self.policy, pbu, BindingStatus.ACCEPTED, entry.lifetime, entry, now, actions)

    def _handover(
        self, entry: BindingEntry, pbu: ReceivedPbu | None, now: Now, actions: list[LmaAction]
    ) -> None:
        """ACTIVE + HANDOVER: another MAG now serves the node (§5.3.4)."""
        assert pbu is not None and entry.peer is not None and pbu.peer is not None
        check_prefix_set(entry, pbu)
        check_peer_may_serve(pbu.peer, entry.prefixes, entry.ipv4_home_address)
        old_peer, old_tunnel = entry.peer, entry.tunnel_address
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
        actions.append(InstallBindingRoutes(binding=snapshot, previous_proxy_coa=old_tunnel))
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
        answer_pbu(self.policy, pbu, BindingStatus.ACCEPTED, entry.lifetime, entry, now, actions)
        if self.policy.revoke_old_mag_on_handover and old_peer.revocation:
            trigger = (
                RevocationTrigger.INTER_MAG_HANDOVER_SAME_ACCESS_TYPE
                if old_att == entry.access_technology
                else RevocationTrigger.INTER_MAG_HANDOVER_DIFFERENT_ACCESS_TYPE
            )
            self._revocations.send(
                entry, trigger, old_address, old_transport, old_port, now, actions
            )

    def _defer_handover(
        self, entry: BindingEntry, pbu: ReceivedPbu | None, now: Now, actions: list[LmaAction]
    ) -> None:
        """ACTIVE + HANDOVER_UNKNOWN: HI=4, wait for the old MAG's de-registration (§5.4.1)."""
        assert pbu is not None
        first = entry.pending is None
        entry.pending = pbu
        if first:
            entry.pending_deadline = now.monotonic + self.policy.max_delay_before_new_bce_assign
            self._timers.push(entry.pending_deadline, Timer.PENDING_HANDOVER, entry.mn_id)
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
        self, entry: BindingEntry, pbu: ReceivedPbu | None, now: Now, actions: list[LmaAction]
    ) -> ReceivedPbu | None:
        """ACTIVE + DEREGISTRATION: drop routes, hold MinDelayBeforeBCEDelete (§5.3.5). A new
        MAG's PBU that waited for this (HI=4) is served next, as a revival."""
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
                peer=pbu.peer.name,
                fields={"hold_s": self.policy.min_delay_before_bce_delete},
            )
        )
        answer_pbu(self.policy, pbu, BindingStatus.ACCEPTED, 0, entry, now, actions)
        waiting, entry.pending = entry.pending, None
        return waiting

    def _acknowledge_stray(
        self, entry: BindingEntry, pbu: ReceivedPbu | None, now: Now, actions: list[LmaAction]
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
        answer_pbu(self.policy, pbu, BindingStatus.ACCEPTED, 0, None, now, actions)

    def _expire(
        self, entry: BindingEntry, pbu: ReceivedPbu | None, now: Now, actions: list[LmaAction]
    ) -> None:
        """ACTIVE + EXPIRY: the lifetime ran out without a refresh."""
        actions.append(RemoveBindingRoutes(binding=entry.snapshot()))
        self._forget(entry, now, actions, AuditKind.BINDING_EXPIRED)

    def _delete(
        self, entry: BindingEntry, pbu: ReceivedPbu | None, now: Now, actions: list[LmaAction]
    ) -> None:
        """DEREGISTERED + EXPIRY: MinDelayBeforeBCEDelete passed with no revival."""
        self._forget(entry, now, actions, AuditKind.BINDING_DELETED)

    def _revoke(
        self, entry: BindingEntry, pbu: ReceivedPbu | None, now: Now, actions: list[LmaAction]
    ) -> None:
        """any + REVOCATION: the operator revoked the node (RFC 5846)."""
        if entry.state is BindingState.ACTIVE:
            actions.append(RemoveBindingRoutes(binding=entry.snapshot()))
        if entry.state is BindingState.ACTIVE and entry.peer is not None and entry.peer.revocation:
            self._revocations.send(
                entry,
                RevocationTrigger.ADMINISTRATIVE_REASON,
                entry.signalling_address,
                entry.transport,
                entry.source_port,
                now,
                actions,
            )
        self._forget(entry, now, actions, AuditKind.BINDING_REVOKED)

    def _release(
        self, entry: BindingEntry, pbu: ReceivedPbu | None, now: Now, actions: list[LmaAction]
    ) -> None:
        """any + PEER_RESTART: the serving MAG lost its state (RFC 5847 §3)."""
        if entry.state is BindingState.ACTIVE:
            actions.append(RemoveBindingRoutes(binding=entry.snapshot()))
        self._forget(entry, now, actions, AuditKind.BINDING_RELEASED_PEER_RESTART)

    # ------------------------------------------------------------------------- helpers

    def _forget(
        self, entry: BindingEntry, now: Now, actions: list[LmaAction], kind: AuditKind
    ) -> None:
        self._addresses.release_session(entry)
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

    def _accept_into(self, entry: BindingEntry, pbu: ReceivedPbu, now: Now) -> None:
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
        if pbu.lla is not None and pbu.lla.address != ZERO16:
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
        self._peer_monitor.track(pbu.peer, event.source, event.transport, now)

    # ------------------------------------------------------------------------- timers

    def _set_deadline(self, entry: BindingEntry, deadline: float) -> None:
        entry.deadline = deadline
        self._timers.push(deadline, Timer.BINDING, entry.mn_id)
