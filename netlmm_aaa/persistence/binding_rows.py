"""The ``lma_bindings`` table: binding writes as queue items, items as rows, rows back as
:class:`~netlmm_aaa.core.actions.BindingSnapshot` at restart."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netlmm_aaa.core.actions import BindingSnapshot
from netlmm_aaa.core.events import Transport
from netlmm_aaa.persistence.report_rows import mac_text, mn_id_text

# Writes travel as plain tuples (cheap to build, and to pickle to a writer process):
#   ("u", <the BindingSnapshot fields, transport as text>)   upsert a binding
#   ("d", mn_id)                                             delete a binding
#   ("a", utc, kind, mn_id, peer, fields)                    append an audit record
Item = tuple[Any, ...]


BINDING_COLUMNS = (
    "lma", "mn_id_raw", "mn_id", "home_network_prefixes", "ipv4_home_address", "mag",
    "proxy_coa", "signalling_address", "transport", "link_layer_identifier",
    "access_technology", "lifetime", "registered_at", "refreshed_at", "last_handover_at",
    "last_sequence", "last_timestamp", "gre_key_downlink", "gre_key_uplink", "deregistered",
)  # fmt: skip


def upsert_item(b: BindingSnapshot) -> Item:
    return (
        "u", b.mn_id, b.home_network_prefixes, b.ipv4_home_address, b.mag, b.proxy_coa,
        b.signalling_address, b.transport.value, b.link_layer_identifier, b.access_technology,
        b.lifetime, b.registered_utc, b.refreshed_utc, b.last_handover_utc, b.last_sequence,
        b.last_timestamp, b.gre_key_downlink, b.gre_key_uplink, b.deregistered,
    )  # fmt: skip


def binding_row(node: str, when: Callable[[float], Any], i: Item) -> tuple[Any, ...]:
    """An upsert item as an ``lma_bindings`` row (``when`` formats times for the dialect)."""
    (_, mn_id, prefixes, ipv4, mag, proxy_coa, signalling, transport, lli, att, lifetime,
     registered, refreshed, handover, sequence, stamp, gre_down, gre_up, deregistered,
     ) = i  # fmt: skip
    return (
        node, mn_id, mn_id_text(mn_id), ",".join(prefixes), ipv4, mag, proxy_coa,
        signalling, transport, mac_text(lli), att, lifetime, when(registered),
        when(refreshed), when(handover) if handover is not None else None, sequence, stamp,
        gre_down, gre_up, deregistered,
    )  # fmt: skip


_TRANSPORTS = {t.value: t for t in Transport}


def _split_prefixes(joined: str) -> tuple[str, ...]:
    parts = joined.split(",")
    return tuple(parts) if "" not in parts else tuple(p for p in parts if p)


def snapshot_from_row(row: Any, parse_time: Any) -> BindingSnapshot:
    (mn_id_raw, prefixes, ipv4, mag, proxy_coa, signalling, transport, lli, att, lifetime,
     registered, refreshed, handover, sequence, stamp, gre_down, gre_up, deregistered,
     ) = row  # fmt: skip
    return BindingSnapshot(
        mn_id=mn_id_raw if type(mn_id_raw) is bytes else bytes(mn_id_raw),
        home_network_prefixes=_split_prefixes(prefixes),
        ipv4_home_address=ipv4,
        mag=mag,
        proxy_coa=proxy_coa,
        signalling_address=signalling,
        transport=_TRANSPORTS.get(transport) or Transport(transport),
        link_layer_identifier=bytes.fromhex(lli.replace(":", "")) if lli else b"",
        access_technology=att,
        lifetime=lifetime,
        registered_utc=parse_time(registered) or 0.0,
        refreshed_utc=parse_time(refreshed) or 0.0,
        last_handover_utc=parse_time(handover),
        last_sequence=sequence,
        last_timestamp=stamp,
        gre_key_downlink=gre_down,
        gre_key_uplink=gre_up,
        deregistered=bool(deregistered),
    )
