"""When does an 802.1X station count as attached, and under which MN-ID? (sans-IO)

Rules / theory of operation
===========================

The only trust placed in a mobile node is its network-access authentication (RFC 4831 §6.4):

- From hostapd: ``AP-STA-CONNECTED`` (unauthorized -> authorized) or ``CTRL-EVENT-EAP-SUCCESS2``
  (also sent on the re-authentication of a known station) counts only when ``STA <mac>`` confirms
  the port is authorized; the MN-ID is the identity hostapd reports (the inner identity when the
  AAA server returns it). ``AP-STA-DISCONNECTED`` detaches.
- From RADIUS accounting (WLAN controllers, or hostapd): Start / Interim-Update attach only when
  ``Acct-Authentic`` is RADIUS (no PSK or open sessions) and the station's MAC is given; the MN-ID
  is the authenticated User-Name (the same identity hostapd reports, so both intake paths agree),
  else the Chargeable-User-Identity when the name is absent or anonymous (controllers that hide
  it). Stop detaches; Accounting-On/Off detach every station the NAS had.
- Never the MAC as MN-ID, never an anonymous outer identity (``anonymous@realm``, ``@realm``).
- 802.1X only: an accounting session with Service-Type Call-Check, a User-Name equal to or
  shaped like a MAC (MAC authentication bypass), a NAS-Port-Type other than an IEEE 802 link
  (Ethernet, 802.11, Token-Ring, FDDI, 802.16/20/22), or a WLAN-AKM-Suite (RFC 7268, the EAP
  evidence hostapd and controllers send for Wi-Fi stations) that is not an EAP-based one
  (802.1X, FT-802.1X, Suite B, FILS; PSK, SAE and OWE are not) is refused, unless its NAS is
  opted in (``mab_nases``): such a session proves a MAC or a shared key, not a user.
- A Stop acts only on the session it names: it detaches the station only when it comes from the
  NAS that holds the station's session, names that Acct-Session-Id and the identity that started
  it, and is dated inside the replay window and not before the session began. Anything else is
  audited as a refusal (with the identity it claims) and moves nothing; so the old NAS's late
  Stop cannot log off a station that has moved to another NAS. Likewise an Interim of another
  session than the one that attached the station is refused (it would pull the station back).
- A MAC that is attached under one identity and shows up under another is an alarm (MAC spoofing
  by another authenticated user, or a shared device): audited, and nothing moves. So is one
  identity attached from a second MAC while the first is still there (one account on two
  devices: RFC 5213 §6.6 wants one MN-ID per device; use the CUI to tell them apart).
- Replays (the Request Authenticator gives integrity, not freshness): a Start, Interim or Stop
  whose send time (Event-Timestamp + Acct-Delay-Time; without Event-Timestamp, our receive
  time less Acct-Delay-Time) is further than ``replay_window`` seconds from our clock is
  refused, and so is any Start or Interim of a session that has already stopped (a tombstone
  per stopped session, void for Starts dated after the Stop; a Stop that arrives before its
  Start leaves one too, so the late Start cannot resurrect it). Both are audited as replays;
  nothing moves. A Start sent before a Stop we received at R is stale from R + ``replay_window``
  on, so each tombstone lives exactly that long (memory: the Stops of one window), and the
  daemon reloads the Stops it committed in the last window at start
  (:meth:`StationIntake.restore_stops`): a restart or a flood of newer records cannot make a
  stopped session's captured Start valid again. Memory has a hard bound (``tombstones``, 2**20
  Stops in one window); past it the oldest are dropped, and a Start or Interim of a session we
  do not hold that is dated before the latest dropped Stop was received is refused as
  ``replay_unverifiable``: a miss is never taken for a new session.
- hostapd's success events are confirmed with ``STA <mac>`` (:class:`QueryStation`), except when
  our RADIUS relay passed the station's Access-Accept moments ago: that Accept's User-Name is
  hostapd's identity for it, and it confirms each of the two success events (EAP success, port
  authorized) once, until a new authentication, a failure, a disconnection or 5 s void it.
- A hook datagram is only a trigger: its disconnection detaches only once ``STA`` shows the
  station unauthorized or gone.
- An Access-Accept's profile (RFC 6572 prefix, IPv4 HoA, LMA) applies to the station's next
  attachment within ``profile_ttl``; a station whose profile names no LMA goes to the LMA of its
  realm (:func:`select_lma`), else the configured one.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import OrderedDict
from collections.abc import Iterable

from netlmm_aaa.core.actions import QueryStation, RecordAudit, RefuseHookLine
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.events import (
    AccessAcceptRelayed,
    AccessProfile,
    AccountingSession,
    ConfirmedStation,
    StationAttached,
    StationDetached,
    StationEvent,
    StationEventKind,
    StationEventReported,
    StationQueried,
)
from netlmm_aaa.core.lma_selection import LmaSelection, select_lma

_ATTACH_EVENTS = (StationEventKind.AUTHORIZED, StationEventKind.AUTHENTICATED)
IntakeOutput = StationAttached | StationDetached | RecordAudit
ReportOutput = IntakeOutput | QueryStation | RefuseHookLine

_IEEE_802_PORT_TYPES = frozenset({15, 19, 20, 21, 26, 27, 28})
"""NAS-Port-Types of the links 802.1X authenticates: Ethernet, Wireless - IEEE 802.11,
Token-Ring, FDDI, Wireless - IEEE 802.16 / 802.20 / 802.22 (RFC 2865 §5.41, IANA)."""
_CALL_CHECK = 10
"""Service-Type Call-Check: a NAS checking a MAC (MAC authentication bypass), no user."""
_IEEE_OUI = 0x000FAC
_EAP_AKMS = frozenset({1, 3, 5, 11, 12, 13, 14, 15, 16, 17, 22, 23})
"""IEEE 802.11 AKM suite types (OUI 00-0F-AC) whose keys come from an EAP authentication:
802.1X (plain, FT, SHA-256, Suite B, SHA-384) and FILS (EAP re-authentication). The others are
PSK, SAE, OWE, TDLS, PASN: no 802.1X at all."""

_ACCEPT_CONFIRMS = 5.0
"""Seconds an Access-Accept stands in for ``STA <mac>`` (hostapd reports success at once)."""
_CACHE_LIMIT = 4096
"""Profiles / Accepts held before expired ones are swept (a flood of Accepts stays bounded)."""

__all__ = [
    "AccountingSession",
    "ConfirmedStation",
    "IntakeOutput",
    "ReportOutput",
    "StationIntake",
    "accounting_mn_id",
    "is_anonymous",
    "split_called_station_id",
]


_HEX = frozenset("0123456789abcdef")


@functools.lru_cache(maxsize=4096)
def split_called_station_id(value: str | None) -> tuple[str | None, str | None]:
    """``AA-BB-CC-DD-EE-FF:Corp`` -> (``aa:bb:cc:dd:ee:ff``, ``Corp``) (RFC 3580 §3.20); a value
    that does not start with a MAC is kept whole as the AP's name."""
    if not value:
        return None, None
    if len(value) >= 17 and value[2] == ":":  # colon-separated MAC, then ":SSID"
        ap, ssid = value[:17], value[18:]
    else:
        ap, _, ssid = value.partition(":")
    digits = ap.replace("-", "").replace(":", "").lower()
    if len(digits) == 12 and _HEX.issuperset(digits):
        ap = ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    else:
        ap, ssid = value, ""
    return ap, ssid or None


def looks_like_mac(name: str) -> bool:
    """True for a User-Name that is a MAC address in any usual spelling (``aabbccddeeff``,
    ``AA-BB-CC-DD-EE-FF``, ``aabb.ccdd.eeff``, with colons): the mark of MAC authentication
    bypass."""
    digits = name.strip().lower()
    for separator in ":-.":
        digits = digits.replace(separator, "")
    return len(digits) == 12 and _HEX.issuperset(digits)


def is_anonymous(identity: str) -> bool:
    """True for outer identities that name nobody (``anonymous@realm``, ``@realm``, empty)."""
    user = identity.split("@", 1)[0].strip().lower()
    return user in ("", "anonymous", "anon")


def accounting_mn_id(user_name: str | None, chargeable_user_identity: bytes | None) -> bytes | None:
    """The MN-ID an accounting record names: the authenticated User-Name, else the CUI when
    the name is absent or anonymous; None when neither identifies a device."""
    if user_name and not is_anonymous(user_name):
        return user_name.encode("utf-8")
    return chargeable_user_identity or None


class StationIntake:
    """Turns authenticator reports into StationAttached / StationDetached (and audit records)."""

    def __init__(
        self,
        name: str,
        *,
        replay_window: float = 300.0,
        tombstones: int = 1 << 20,
        profile_ttl: float = 60.0,
        lma_selection: tuple[LmaSelection, ...] = (),
        mab_nases: frozenset[str] = frozenset(),
    ) -> None:
        self.name = name
        self.mab_nases = mab_nases
        self.replay_window = replay_window
        self.profile_ttl = profile_ttl
        self.lma_selection = lma_selection
        # MAC -> (the profile of its last Access-Accept, monotonic expiry)
        self._profiles: dict[str, tuple[AccessProfile, float]] = {}
        # MAC -> (that Accept's User-Name, expiry, the success events it may still confirm)
        self._accepted: dict[str, tuple[str, float, frozenset[StationEventKind]]] = {}
        self._attached: dict[str, bytes] = {}  # MAC -> MN-ID
        self._interface: dict[str, str] = {}  # MAC -> access interface
        self._device_of: dict[bytes, str] = {}  # MN-ID -> the MAC it is attached from
        self._by_nas: dict[str, set[str]] = {}
        # (NAS, session) -> (when it stopped: its Event-Timestamp, else our clock; when we
        # received the Stop, by our clock), oldest reception first
        self._stopped: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()
        # MAC -> the accounting session that attached it: (NAS, Acct-Session-Id, MN-ID, began)
        self._sessions: dict[str, tuple[str, str | None, bytes, float]] = {}
        self._tombstones = tombstones
        # Past the hard bound, tombstones are dropped oldest first; this is the latest
        # reception time among the dropped: a Start sent before it may belong to a dropped
        # session, so it cannot be judged new (refused as unverifiable, never "new").
        self._dropped_until = float("-inf")

    def session_of(self, mac: str) -> tuple[str, str | None] | None:
        """The NAS and Acct-Session-Id of the accounting session ``mac`` is attached by (None
        for a station a hostapd reported, or none attached)."""
        held = self._sessions.get(mac)
        return None if held is None else (held[0], held[1])

    def attached(self, mac: str) -> bytes | None:
        return self._attached.get(mac)

    def on_access_accept(self, event: AccessAcceptRelayed, now: Now) -> None:
        """Keep the Accept's profile for the attachment that follows (hostapd's event or the
        accounting Start, moments later) and let its User-Name confirm hostapd's success."""
        mac, profile = event.mac, event.profile
        expiry = now.monotonic + self.profile_ttl
        if len(self._profiles) > _CACHE_LIMIT:
            self._profiles = {m: e for m, e in self._profiles.items() if e[1] > now.monotonic}
        self._profiles[mac] = (profile, expiry)
        if profile.user_name:
            if len(self._accepted) > _CACHE_LIMIT:
                self._accepted = {m: e for m, e in self._accepted.items() if e[1] > now.monotonic}
            name = profile.user_name.decode("utf-8", "replace")
            until = min(expiry, now.monotonic + _ACCEPT_CONFIRMS)
            self._accepted[mac] = (name, until, frozenset(_ATTACH_EVENTS))

    def on_reported(self, report: StationEventReported, now: Now) -> list[ReportOutput]:
        """A hostapd event: decided now, or after ``STA <mac>`` (:class:`QueryStation`)."""
        event = report.event
        if report.via_hook and event.kind is StationEventKind.DISCONNECTED:
            return [QueryStation(interface=report.interface, event=event, via_hook=True)]
        accepted = None if report.via_hook else self.accepted_for(event, now)
        if accepted is not None:
            confirmed = ConfirmedStation(mac=event.mac, authorized=True, identity=accepted)
            return [*self.on_hostapd(event, confirmed, report.interface, now)]
        if event.kind in _ATTACH_EVENTS:
            return [QueryStation(interface=report.interface, event=event, via_hook=report.via_hook)]
        return list(self.on_hostapd(event, None, report.interface, now))

    def on_queried(self, answer: StationQueried, now: Now) -> list[ReportOutput]:
        """hostapd's answer to a :class:`QueryStation`."""
        event, station = answer.event, answer.station
        if answer.via_hook and event.kind is StationEventKind.DISCONNECTED:
            if station is not None and station.authorized:
                return [RefuseHookLine(line=event.raw, reason="hostapd still reports the station")]
            station = None
        return list(self.on_hostapd(event, station, answer.interface, now))

    def accepted_for(self, event: StationEvent, now: Now) -> str | None:
        """The User-Name of the Access-Accept that ``event`` (a hostapd success event) reports,
        if the relay passed one for the station moments ago and it has not confirmed an event
        of this kind yet; any other event about the station voids the Accept."""
        kind = event.kind
        if kind not in _ATTACH_EVENTS:  # a new authentication, a failure, a disconnection
            self._accepted.pop(event.mac, None)
            return None
        entry = self._accepted.get(event.mac)
        if entry is None:
            return None
        name, expiry, left = entry
        if expiry < now.monotonic:
            del self._accepted[event.mac]
            return None
        if kind not in left:
            return None
        left = left - {kind}
        if left:
            self._accepted[event.mac] = (name, expiry, left)
        else:
            del self._accepted[event.mac]
        return name

    def on_hostapd(
        self, event: StationEvent, confirmed: ConfirmedStation | None, interface: str, now: Now
    ) -> list[IntakeOutput]:
        if event.kind is StationEventKind.DISCONNECTED:
            if self._interface.get(event.mac) not in (None, interface):
                return []  # the link the station left: it is attached on another one of ours
            return self._detach(event.mac, now, "hostapd disconnect")
        if event.kind not in _ATTACH_EVENTS:
            return []
        if confirmed is None or not confirmed.authorized:
            return [
                self._reject(event.mac, now, "not_authorized", "STA does not show [AUTHORIZED]")
            ]
        if not confirmed.identity:
            return [self._reject(event.mac, now, "no_identity", "hostapd reports no identity")]
        return self._attach(event.mac, confirmed.identity.encode("utf-8"), interface, now)

    def on_resync(
        self, interface: str, stations: list[ConfirmedStation], now: Now
    ) -> list[IntakeOutput]:
        """hostapd's full station list for ``interface`` (after every (re)attach: events may
        have been missed while detached): stations it no longer has detach, authorized ones we
        do not know attach (with the same checks as an event), the rest stay as they are."""
        listed = {s.mac: s for s in stations}
        out: list[IntakeOutput] = []
        for mac in sorted(m for m, i in self._interface.items() if i == interface):
            info = listed.get(mac)
            if info is None or not info.authorized:
                out += self._detach(mac, now, "not listed by hostapd after re-attach")
        for mac, info in sorted(listed.items()):
            if info.authorized and mac not in self._attached and info.identity:
                out += self._attach(mac, info.identity.encode("utf-8"), interface, now)
        return out

    def on_accounting(self, session: AccountingSession, now: Now) -> list[IntakeOutput]:
        if session.status in (7, 8):  # Accounting-On / -Off: the NAS lost or drops everything
            out: list[IntakeOutput] = []
            for mac in sorted(self._by_nas.pop(session.nas, set())):
                out += self._detach(mac, now, "accounting on/off")
            return out
        if session.mac is None:
            return [
                self._reject(
                    None, now, "no_calling_station_id", f"from NAS {session.nas}", nas=session.nas
                )
            ]
        claimed = accounting_mn_id(session.user_name, session.chargeable_user_identity)
        if claimed is None and session.user_name:
            claimed = session.user_name.encode("utf-8")  # anonymous: refused below, audited
        if session.status in (1, 2, 3):
            if session.event_timestamp is not None:
                age = now.utc - (session.event_timestamp + session.delay_time)
            else:  # judged by when it reached us, less the delay the NAS declares
                age = float(session.delay_time)
            if abs(age) > self.replay_window:
                detail = f"sent {age:+.0f} s from now (window {self.replay_window:g} s)"
                return [
                    self._reject(
                        session.mac, now, "replay_stale_timestamp", detail, claimed, nas=session.nas
                    )
                ]
        if session.session_id is not None:
            key = (session.nas, session.session_id)
            if session.status == 2:
                stopped_at = session.event_timestamp
                self._bury(key, float(stopped_at) if stopped_at is not None else now.utc, now.utc)
            elif key in self._stopped and (
                session.event_timestamp is None or session.event_timestamp <= self._stopped[key][0]
            ):
                # (a NAS that reuses a session id for a later session dates that Start after
                # the Stop: hostapd keeps one id per station entry)
                detail = f"session {session.session_id} of NAS {session.nas} has stopped"
                return [
                    self._reject(
                        session.mac, now, "replay_after_stop", detail, claimed, nas=session.nas
                    )
                ]
            elif (
                session.status in (1, 3)
                and self._sessions.get(session.mac, (None, None))[:2] != key
                and _dated(session, now) < self._dropped_until
            ):
                detail = (
                    f"session {session.session_id} of NAS {session.nas} was sent before the"
                    " oldest Stop still remembered (more Stops in one window than the bound)"
                )
                return [
                    self._reject(
                        session.mac, now, "replay_unverifiable", detail, claimed, nas=session.nas
                    )
                ]
        if session.status == 2:
            return self._stop(session, claimed, now)
        if session.authentic != 1:
            detail = f"Acct-Authentic {session.authentic} (only RADIUS is trusted)"
            return [self._reject(session.mac, now, "not_8021x", detail, claimed, nas=session.nas)]
        if session.nas not in self.mab_nases:
            refusal = _not_8021x(session)
            if refusal is not None:
                return [
                    self._reject(session.mac, now, refusal[0], refusal[1], claimed, nas=session.nas)
                ]
        if claimed is None:
            return [
                self._reject(
                    session.mac, now, "no_identity", "neither CUI nor User-Name", nas=session.nas
                )
            ]
        held = self._sessions.get(session.mac)
        if (
            session.status == 3
            and held is not None
            and held[:2] != (session.nas, session.session_id)
        ):
            # An Interim of another session than the one that attached the station (the old
            # NAS's, late, after a move): it must not pull the station back.
            detail = f"Interim of session {session.session_id} from NAS {session.nas}"
            detail += f"; the station's is {held[1]} at NAS {held[0]}"
            return [self._reject(session.mac, now, "interim_not_of_session", detail, claimed,
                                 nas=session.nas)]  # fmt: skip
        ap, ssid = split_called_station_id(session.called_station_id)
        out = self._attach(session.mac, claimed, session.interface, now, ap, ssid, session.nas)
        if any(type(o) is StationAttached for o in out):
            self._by_nas.setdefault(session.nas, set()).add(session.mac)
            began = session.event_timestamp if session.event_timestamp is not None else now.utc
            self._sessions[session.mac] = (session.nas, session.session_id, claimed, float(began))
        return out

    def restore_stops(self, stops: Iterable[tuple[str, str, float]], now: Now) -> None:
        """At start: the Stops accepted (and so committed) within the replay window before the
        restart, as (NAS, Acct-Session-Id, received at), oldest first: their sessions' captured
        Starts stay void across the restart."""
        for nas, session_id, received in stops:
            self._bury((nas, session_id), received, received)
        self._forget_stops(now.utc)

    def _bury(self, key: tuple[str, str], stopped_at: float, received: float) -> None:
        self._stopped[key] = (stopped_at, received)
        self._stopped.move_to_end(key)
        self._forget_stops(received)
        while len(self._stopped) > self._tombstones:  # a hard bound, far above the window's
            _, (_, dropped) = self._stopped.popitem(last=False)
            self._dropped_until = max(self._dropped_until, dropped)

    def _forget_stops(self, utc: float) -> None:
        """A Start sent before a Stop we received at time R is refused as stale once our clock
        passes R + replay_window, so that is how long the Stop's tombstone must live."""
        stopped = self._stopped
        horizon = utc - self.replay_window
        while stopped and next(iter(stopped.values()))[1] < horizon:
            stopped.popitem(last=False)

    def _stop(
        self, session: AccountingSession, claimed: bytes | None, now: Now
    ) -> list[IntakeOutput]:
        """A Stop detaches only the session it names (see the module's rules)."""
        mac = session.mac
        assert mac is not None
        attached = self._attached.get(mac)
        if attached is None:
            return []  # nothing to detach: not attached here (or refused before)
        held = self._sessions.get(mac)
        if held is None:
            # Attached from hostapd's events: the Stop must at least name that identity and
            # come from the NAS of the station's access interface.
            problem = None
            if claimed != attached:
                problem = "names another identity than the attached one"
            elif self._interface.get(mac) != session.interface:
                problem = f"comes from NAS {session.nas}, not the station's access link"
        else:
            nas, session_id, mn_id, began = held
            stamp = session.event_timestamp
            problem = None
            if session.nas != nas:
                problem = f"comes from NAS {session.nas}; the session is held by NAS {nas}"
            elif session.session_id != session_id:
                problem = f"names session {session.session_id}; the station's is {session_id}"
            elif claimed != mn_id:
                problem = "names another identity than the one that started the session"
            elif stamp is not None and stamp < began:
                problem = f"is dated {began - stamp:.0f} s before the session began"
        if problem is not None:
            detail = f"Stop {problem}"
            return [self._reject(mac, now, "stop_not_of_session", detail, claimed, nas=session.nas)]
        return self._detach(mac, now, "accounting stop")

    # ------------------------------------------------------------------ helpers

    def _attach(
        self,
        mac: str,
        mn_id: bytes,
        interface: str,
        now: Now,
        ap: str | None = None,
        ssid: str | None = None,
        nas: str | None = None,
    ) -> list[IntakeOutput]:
        text = mn_id.decode("utf-8", "replace")
        if is_anonymous(text):
            return [self._reject(mac, now, "anonymous_identity", text, mn_id, nas=nas)]
        current = self._attached.get(mac)
        if current is not None and current != mn_id:
            return [
                RecordAudit(
                    kind=AuditKind.MAC_IDENTITY_CONFLICT,
                    utc=now.utc,
                    mn_id=mn_id,
                    peer=self.name,
                    fields={
                        "mac": mac,
                        "attached_as": current.decode("utf-8", "replace"),
                        "nas": nas,
                    },
                )
            ]
        other = self._device_of.get(mn_id)
        if other is not None and other != mac and self._attached.get(other) == mn_id:
            # One identity on two devices at once (a shared account, or a cloned identity):
            # RFC 5213 §6.6 wants one MN-ID per device, so the second moves nothing.
            return [
                RecordAudit(
                    kind=AuditKind.MAC_IDENTITY_CONFLICT,
                    utc=now.utc,
                    mn_id=mn_id,
                    peer=self.name,
                    fields={
                        "mac": mac,
                        "reason": f"identity already attached from {other}",
                        "nas": nas,
                    },
                )
            ]
        self._attached[mac] = mn_id
        self._device_of[mn_id] = mac
        self._interface[mac] = interface
        attached = StationAttached(mac=mac, mn_id=mn_id, interface=interface, ap=ap, ssid=ssid)
        out: list[IntakeOutput] = []
        entry = self._profiles.pop(mac, None) if self._profiles else None
        if entry is not None and entry[1] >= now.monotonic:
            profile = entry[0]
            out.append(RecordAudit(
                kind=AuditKind.AAA_PROFILE, utc=now.utc, mn_id=mn_id, peer=self.name,
                fields={"mac": mac, "prefix": profile.home_network_prefix,
                        "ipv4": profile.ipv4_home_address, "lma": profile.lma_address},
            ))  # fmt: skip
            attached = dataclasses.replace(
                attached,
                home_network_prefix=profile.home_network_prefix,
                ipv4_home_address=profile.ipv4_home_address,
                lma_address=profile.lma_address,
            )
        if attached.lma_address is None and self.lma_selection:
            chosen = select_lma(mn_id, self.lma_selection)
            if chosen is not None:
                attached = dataclasses.replace(attached, lma_address=chosen)
        out.append(attached)
        return out

    def _detach(self, mac: str, now: Now, why: str) -> list[IntakeOutput]:
        self._interface.pop(mac, None)
        self._sessions.pop(mac, None)
        mn_id = self._attached.pop(mac, None)
        if mn_id is None:
            return []
        if self._device_of.get(mn_id) == mac:
            del self._device_of[mn_id]
        for macs in self._by_nas.values():
            macs.discard(mac)
        return [StationDetached(mac=mac)]

    def _reject(
        self,
        mac: str | None,
        now: Now,
        reason: str,
        detail: str,
        claimed: bytes | None = None,
        *,
        nas: str | None = None,
    ) -> RecordAudit:
        """The refusal's audit record, with the identity the input claimed and the NAS that
        sent it (forensics)."""
        return RecordAudit(
            kind=AuditKind.STATION_REJECTED,
            utc=now.utc,
            mn_id=claimed,
            peer=self.name,
            fields={"mac": mac, "reason": reason, "detail": detail, "nas": nas},
        )


def _dated(session: AccountingSession, now: Now) -> float:
    """When the session's event happened: its Event-Timestamp, else our clock less the delay."""
    if session.event_timestamp is not None:
        return float(session.event_timestamp)
    return now.utc - session.delay_time


def _not_8021x(session: AccountingSession) -> tuple[str, str] | None:
    """Why an accounting session is not 802.1X-authenticated (reason, detail), or None."""
    if session.service_type == _CALL_CHECK:
        return "mac_authentication_bypass", "Service-Type Call-Check"
    name = session.user_name
    if name and (looks_like_mac(name) or name.strip().lower() == session.mac):
        return "mac_authentication_bypass", "User-Name is a MAC address"
    if session.nas_port_type is not None and session.nas_port_type not in _IEEE_802_PORT_TYPES:
        return "not_8021x_port_type", f"NAS-Port-Type {session.nas_port_type}"
    akm = session.akm_suite
    if akm is not None and akm >> 8 == _IEEE_OUI and akm & 0xFF not in _EAP_AKMS:
        # The NAS tells how the station's keys were made (RFC 7268), and it was not EAP.
        return "not_8021x_akm", f"WLAN-AKM-Suite 00-0F-AC:{akm & 0xFF}"
    return None
