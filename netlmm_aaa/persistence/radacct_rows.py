"""Accepted accounting as ``radacct`` sessions (models.Radacct): which statement each accounting
record becomes, with its parameters, as FreeRADIUS's rlm_sql would write them (its value
spellings: ``Wireless-802.11``, ``RADIUS``, ``User-Request`` ...).

A session is identified by the MAG, the NAS and its Acct-Session-Id (``acctuniqueid``, an MD5
like rlm_sql's). Times are the NAS's (Event-Timestamp, else our reception) less Acct-Delay-Time;
a session whose Start was lost starts at its first record's time less its Acct-Session-Time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

RADACCT_COLUMNS = (
    "acctsessionid", "acctuniqueid", "username", "realm", "nasipaddress", "nasportid",
    "nasporttype", "acctstarttime", "acctupdatetime", "acctstoptime", "acctsessiontime",
    "acctauthentic", "acctinputoctets", "acctoutputoctets", "calledstationid",
    "callingstationid", "acctterminatecause", "servicetype", "framedipaddress",
    "framedipv6prefix", "node", "nasname", "mn_id", "acctinputpackets", "acctoutputpackets",
)  # fmt: skip
_INET = frozenset({"nasipaddress", "framedipaddress", "framedipv6prefix"})
_COUNTERS = ("acctsessiontime", "acctinputoctets", "acctoutputoctets", "acctinputpackets",
             "acctoutputpackets")  # fmt: skip
_KEPT = (*_COUNTERS, "framedipaddress", "framedipv6prefix")
"""What an Interim-Update or Stop updates when it carries it (its values follow the row's)."""

TERMINATE_CAUSES = {
    1: "User-Request", 2: "Lost-Carrier", 3: "Lost-Service", 4: "Idle-Timeout",
    5: "Session-Timeout", 6: "Admin-Reset", 7: "Admin-Reboot", 8: "Port-Error", 9: "NAS-Error",
    10: "NAS-Request", 11: "NAS-Reboot", 12: "Port-Unneeded", 13: "Port-Preempted",
    14: "Port-Suspended", 15: "Service-Unavailable", 16: "Callback", 17: "User-Error",
    18: "Host-Request",
}  # fmt: skip
"""Acct-Terminate-Cause (RFC 2866 §5.10) by the names FreeRADIUS's dictionary gives them."""
PORT_TYPES = {0: "Async", 5: "Virtual", 15: "Ethernet", 19: "Wireless-802.11"}
AUTHENTIC = {1: "RADIUS", 2: "Local", 3: "Remote"}
SERVICE_TYPES = {1: "Login-User", 2: "Framed-User", 10: "Call-Check"}

START, STOP, INTERIM, ACCOUNTING_ON, ACCOUNTING_OFF = 1, 2, 3, 7, 8


def statements(mark: str, inet: Callable[[str], str]) -> dict[str, str]:
    """The statements: ``start``, ``interim``, ``stop`` (an upsert of the session's row),
    ``close`` (the NAS's open sessions ended by its Accounting-On/Off) and ``addresses`` (the
    home network prefix and IPv4 home address the station registered with, into its open
    session where the NAS sent none). ``mark``: the driver's
    placeholder; ``inet(mark)``: a placeholder for an address column."""

    def value(column: str) -> str:
        if column in _INET:
            return inet(mark)
        # rlm_sql starts a session's counters at 0; a record without them changes none.
        return f"COALESCE({mark}, 0)" if column in _COUNTERS else mark

    values = ", ".join(map(value, RADACCT_COLUMNS))
    head = (f"INSERT INTO radacct ({', '.join(RADACCT_COLUMNS)}) VALUES ({values}) "
            "ON CONFLICT (acctuniqueid) DO UPDATE SET ")  # fmt: skip
    kept = ", ".join(f"{c} = COALESCE({inet(mark) if c in _INET else mark}, radacct.{c})"
                     for c in _KEPT)  # fmt: skip
    return {
        "start": head + "acctstarttime = excluded.acctstarttime",
        "interim": head + f"acctupdatetime = excluded.acctupdatetime, {kept}",
        "stop": head
        + (
            f"acctstoptime = excluded.acctstoptime, {kept}, "
            "acctterminatecause = excluded.acctterminatecause"
        ),
        "close": (
            f"UPDATE radacct SET acctstoptime = {mark}, acctterminatecause = 'NAS-Reboot' "
            f"WHERE node = {mark} AND nasname = {mark} AND acctstoptime IS NULL"
        ),
        "addresses": (
            f"UPDATE radacct SET framedipv6prefix = COALESCE(framedipv6prefix, {inet(mark)}), "
            f"framedipaddress = COALESCE(framedipaddress, {inet(mark)}) "
            f"WHERE node = {mark} AND callingstationid = {mark} AND acctstoptime IS NULL"
        ),
    }


def unique_id(node: str, nas: str, session_id: str) -> str:
    return hashlib.md5(f"{node},{nas},{session_id}".encode(), usedforsecurity=False).hexdigest()


def radacct_operation(
    node: str, utc: float, nas: str, mn: str | None, f: dict[str, Any], when: Callable[[float], Any]
) -> tuple[str, tuple[Any, ...]] | None:
    """The statement name and parameters for one accepted accounting record (its audit fields
    ``f``, received at ``utc``); None for a record that names no session."""
    status = f.get("status")
    moment = (f.get("event_timestamp") or utc) - (f.get("delay") or 0)
    if status in (ACCOUNTING_ON, ACCOUNTING_OFF):
        return "close", (when(moment), node, nas)
    session = f.get("session_id")
    if not session or status not in (START, STOP, INTERIM):
        return None
    elapsed = f.get("session_time")
    started = moment if status == START or elapsed is None else moment - elapsed
    user = f.get("user_name")
    realm = user.split("@", 1)[1] if user and "@" in user else None
    row = (
        session, unique_id(node, nas, session), user, realm,
        f.get("nas_ip") or "0.0.0.0", f.get("nas_port_id"),
        _named(PORT_TYPES, f.get("nas_port_type")), when(started),
        when(moment) if status != STOP else None, when(moment) if status == STOP else None,
        elapsed, _named(AUTHENTIC, f.get("authentic")), f.get("in_octets"), f.get("out_octets"),
        f.get("called_station_id"), f.get("mac"),
        _named(TERMINATE_CAUSES, f.get("terminate_cause")) if status == STOP else None,
        _named(SERVICE_TYPES, f.get("service_type")), f.get("framed_ip"),
        f.get("framed_ipv6_prefix"), node, nas, mn, f.get("in_packets"), f.get("out_packets"),
    )  # fmt: skip
    if status == START:
        return "start", row
    kept = (elapsed, f.get("in_octets"), f.get("out_octets"), f.get("in_packets"),
            f.get("out_packets"), f.get("framed_ip"), f.get("framed_ipv6_prefix"))  # fmt: skip
    return ("stop" if status == STOP else "interim"), (*row, *kept)


def _named(names: dict[int, str], value: Any) -> str | None:
    return None if value is None else names.get(value, str(value))


def addresses_operation(node: str, f: dict[str, Any]) -> tuple[str, tuple[Any, ...]] | None:
    """A station registered (its audit fields ``f``): its home network prefix (the first) and
    IPv4 home address for its open session at this MAG; None when it has neither."""
    prefixes = f.get("prefixes") or ()
    prefix = prefixes[0] if prefixes else None
    if (prefix is None and f.get("ipv4") is None) or not f.get("mac"):
        return None
    return "addresses", (prefix, f.get("ipv4"), node, f["mac"])
