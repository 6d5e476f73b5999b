"""Peer liveness toward MAGs (RFC 5847): periodic Heartbeat requests, answering theirs with our
Restart Counter, unreachability after MISSING_HEARTBEATS_ALLOWED silent intervals, and noticing
that a MAG restarted (its Restart Counter changed)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from netlmm_aaa.core.actions import LmaAction, RecordAudit, SendMessage
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.events import MobilityMessageReceived, Transport
from netlmm_aaa.core.heartbeat_exchange import answer_request, read_response
from netlmm_aaa.core.lma.timers import Timer, TimerHeap
from netlmm_aaa.core.lma_policy import LmaPolicy, MagPeer
from netlmm_aaa.core.messages import Heartbeat
from netlmm_aaa.core.options import RestartCounterOption


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


class PeerMonitor:
    """Liveness of every MAG address that registered a node or sent us a Heartbeat."""

    def __init__(self, policy: LmaPolicy, timers: TimerHeap) -> None:
        self._policy = policy
        self._timers = timers
        self._states: dict[str, _PeerState] = {}

    def reconfigure(self, policy: LmaPolicy) -> None:
        """A reload: the timers and limits of ``policy`` from the next event on."""
        self._policy = policy

    def replace_peers(self, peers: Mapping[str, MagPeer], now: Now) -> None:
        """A reload: the MAGs by name from now on. A MAG that left, or an address it no longer
        has, is no longer monitored; one whose heartbeats were switched on gets them from now
        on (its Restart Counter, once known, is kept across the change)."""
        for address, state in list(self._states.items()):
            peer = peers.get(state.peer.name)
            if peer is None or address not in peer.addresses:
                del self._states[address]
                continue
            if peer.heartbeats and not state.peer.heartbeats and self._policy.heartbeat_interval:
                state.next_heartbeat = now.monotonic + self._policy.heartbeat_interval
                self._timers.push(state.next_heartbeat, Timer.HEARTBEAT, address)
            state.peer = peer

    def track(self, peer: MagPeer, address: str, transport: Transport, now: Now) -> None:
        """Start heartbeats to ``address`` (a no-op when already tracked)."""
        self._state(peer, address, transport, now)

    def _state(self, peer: MagPeer, address: str, transport: Transport, now: Now) -> _PeerState:
        state = self._states.get(address)
        if state is None:
            state = _PeerState(peer=peer, address=address, transport=transport)
            self._states[address] = state
            if self._policy.heartbeat_interval > 0 and peer.heartbeats:
                state.next_heartbeat = now.monotonic + self._policy.heartbeat_interval
                self._timers.push(state.next_heartbeat, Timer.HEARTBEAT, address)
        return state

    def announce_restart(self) -> list[LmaAction]:
        """Unsolicited Heartbeat responses carrying our Restart Counter to every peer (§3.2)
        that takes heartbeats (none when ``heartbeat_interval`` is 0)."""
        if self._policy.heartbeat_interval <= 0:
            return []
        return [
            self._message(state, response=True, unsolicited=True)
            for state in self._states.values()
            if state.peer.heartbeats
        ]

    def binding_error(self, source: str, status: int) -> None:
        """A Binding Error with status 2 (unknown MH type) stops heartbeats to that peer."""
        state = self._states.get(source)
        if status == 2 and state is not None:
            state.heartbeats_disabled = True

    def received(
        self,
        event: MobilityMessageReceived,
        peer: MagPeer,
        message: Heartbeat,
        now: Now,
        actions: list[LmaAction],
    ) -> bool:
        """A Heartbeat from a configured peer. True when its Restart Counter changed: the MAG
        lost its state (RFC 5847 §3.2)."""
        state = self._state(peer, event.source, event.transport, now)
        if not message.response:
            actions.extend(
                answer_request(event, message, self._policy.restart_counter, peer.name, now)
            )
            return False
        if not message.unsolicited:
            if state.outstanding != message.sequence:
                return False  # stale or unknown response: §3.1 matches by sequence
            state.outstanding = None
            state.missing = 0
            if state.unreachable:
                state.unreachable = False
                actions.append(
                    RecordAudit(kind=AuditKind.PEER_REACHABLE, utc=now.utc, peer=peer.name)
                )
        counter, audit = read_response(message, peer.name, now)
        actions.append(audit)
        if counter is None:
            return False
        previous, state.restart_counter = state.restart_counter, counter
        if previous is None or previous == counter:
            return False
        actions.append(
            RecordAudit(
                kind=AuditKind.PEER_RESTARTED,
                utc=now.utc,
                peer=peer.name,
                fields={"old": previous, "new": counter},
            )
        )
        return True

    def is_current(self, deadline: float, address: str) -> bool:
        state = self._states.get(address)
        return (
            state is not None
            and state.next_heartbeat == deadline
            and state.peer.heartbeats
            and not state.heartbeats_disabled
        )

    def tick(self, address: str, now: Now, actions: list[LmaAction]) -> None:
        """Heartbeat time for ``address``: count a missing answer, send the next request."""
        state = self._states[address]
        if state.outstanding is not None:
            state.missing += 1
            if state.missing > self._policy.missing_heartbeats_allowed and not state.unreachable:
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
        actions.append(self._message(state, response=False))
        state.next_heartbeat = now.monotonic + self._policy.heartbeat_interval
        self._timers.push(state.next_heartbeat, Timer.HEARTBEAT, address)

    def _message(
        self, state: _PeerState, *, response: bool, unsolicited: bool = False
    ) -> SendMessage:
        options = (RestartCounterOption(self._policy.restart_counter),) if response else ()
        message = Heartbeat(state.heartbeat_sequence, response, unsolicited, options)
        return SendMessage(message=message, destination=state.address, transport=state.transport)
