"""hostapd control-interface lines -> typed station events; ``STA <mac>`` replies -> StationInfo.

Lines arrive in two shapes:

- from a socket ATTACHed to hostapd's control interface: ``<3>AP-STA-CONNECTED 02:88:00:00:aa:01``
  (a ``<level>`` prefix, the event name, the station, optional ``key=value`` words);
- from ``hostapd_cli -a script``: ``<ifname> AP-STA-CONNECTED 02:88:00:00:aa:01``.

Events about stations that matter to the MAG are returned as :class:`StationEvent`; every other
well-formed event returns None. A line that names a station event but carries no valid MAC, or that
is not text at all, raises :class:`HostapdLineError` (the caller records and drops it). Nothing
else escapes, for any input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from netlmm_aaa.core.errors import NetlmmError
from netlmm_aaa.core.events import StationEvent, StationEventKind

#: The longest line we accept (hostapd's own ctrl-iface buffer is 4096 octets).
MAX_LINE = 4096

_EVENTS = {
    "AP-STA-CONNECTED": StationEventKind.AUTHORIZED,
    "CTRL-EVENT-EAP-SUCCESS2": StationEventKind.AUTHENTICATED,
    "CTRL-EVENT-EAP-STARTED": StationEventKind.AUTHENTICATION_STARTED,
    "CTRL-EVENT-EAP-FAILURE2": StationEventKind.AUTHENTICATION_FAILED,
    "CTRL-EVENT-EAP-TIMEOUT-FAILURE": StationEventKind.AUTHENTICATION_FAILED,
    "AP-STA-DISCONNECTED": StationEventKind.DISCONNECTED,
}
_LEVEL = re.compile(r"<\d{1,2}>")
_MAC = re.compile(
    r"[0-9A-Fa-f]{2}(?P<s>[:-])[0-9A-Fa-f]{2}(?:(?P=s)[0-9A-Fa-f]{2}){4}"
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}|[0-9A-Fa-f]{12}"
)
_SEPARATORS = re.compile(r"[:.-]")


class HostapdLineError(NetlmmError):
    """A control-interface line or ``STA`` reply we cannot trust."""


def normalize_mac(text: str) -> str:
    """``02-88-00-00-AA-01``, ``02:88:00:00:aa:01``, ``0288.0000.aa01`` or ``02880000aa01`` ->
    ``02:88:00:00:aa:01``. Raises HostapdLineError for anything else: mixed or other separators,
    inner spaces, 5 or 7 octets (near-misses are never correlated with a station)."""
    match = _MAC.fullmatch(text.strip())
    if match is None:
        raise HostapdLineError(f"{text[:40]!r} is not a MAC address")
    mac = match.group(0)
    if match.group("s"):  # the common case, colons or dashes: no digits to regroup
        return mac.replace("-", ":").lower()
    digits = _SEPARATORS.sub("", mac).lower()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def parse_hostapd_event(line: str | bytes) -> StationEvent | None:
    """The station event on ``line``, None for events the MAG does not use."""
    if isinstance(line, bytes | bytearray):
        if len(line) > MAX_LINE:
            raise HostapdLineError(f"line of {len(line)} octets is longer than {MAX_LINE}")
        try:
            line = bytes(line).decode("utf-8")
        except UnicodeDecodeError:
            raise HostapdLineError("line is not UTF-8 text") from None
    if len(line) > MAX_LINE:
        raise HostapdLineError(f"line of {len(line)} characters is longer than {MAX_LINE}")
    text = line.strip()
    interface: str | None = None
    level = _LEVEL.match(text)
    if level:
        text = text[level.end() :]
    words = text.split()
    if not words:
        return None
    if words[0] not in _EVENTS and len(words) > 1 and words[1] in _EVENTS:
        interface, words = words[0], words[1:]  # the hostapd_cli -a form
    kind = _EVENTS.get(words[0])
    if kind is None:
        return None
    if len(words) < 2:
        raise HostapdLineError(f"{words[0]} without a station address")
    return StationEvent(
        kind=kind, mac=normalize_mac(words[1]), interface=interface, raw=line.strip()
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class StationInfo:
    """What ``STA <mac>`` (or STA-FIRST / STA-NEXT) says about a station."""

    mac: str
    """The station, lower-case with colons."""
    authorized: bool
    """True when 802.1X authorized the port: ``[AUTHORIZED]`` in flags and, when present,
    ``dot1xAuthAuthControlledPortStatus=1``."""
    identity: str | None
    """``dot1xAuthSessionUserName``: the (inner, when the AAA server returns it) identity."""
    session_id: str | None
    """``dot1xAuthSessionId``, equal to the accounting Acct-Session-Id."""
    eap_type: int | None
    """``last_eap_type_as``: the EAP method (25 PEAP, 21 TTLS, 13 TLS)."""


def parse_sta_info(reply: str) -> StationInfo | None:
    """Parse a ``STA``-family reply; None for an empty reply or ``FAIL`` (no such station)."""
    if len(reply) > 16 * MAX_LINE:
        raise HostapdLineError("STA reply is implausibly long")
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if not lines or lines[0] in ("FAIL", "UNKNOWN COMMAND"):
        return None
    mac = normalize_mac(lines[0])
    fields: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition("=")
        if sep:
            fields[key] = value
    flags = fields.get("flags", "")
    port = fields.get("dot1xAuthAuthControlledPortStatus")
    authorized = "[AUTHORIZED]" in flags and port in (None, "1")
    eap = fields.get("last_eap_type_as")
    return StationInfo(
        mac=mac,
        authorized=authorized,
        identity=fields.get("dot1xAuthSessionUserName") or None,
        session_id=fields.get("dot1xAuthSessionId") or None,
        eap_type=int(eap) if eap and eap.isdigit() else None,
    )
