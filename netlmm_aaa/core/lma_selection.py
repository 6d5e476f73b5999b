"""Which LMA serves a mobile node, by the realm of its NAI (sans-IO)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class LmaSelection:
    """Nodes of an NAI realm (and its subdomains) register with this LMA, unless their RADIUS
    profile names one."""

    realm: str
    lma_address: str


def select_lma(mn_id: bytes, selection: tuple[LmaSelection, ...]) -> str | None:
    """The LMA for ``mn_id`` by its NAI realm (the longest matching realm wins)."""
    realm = mn_id.decode("utf-8", "replace").rpartition("@")[2].lower()
    if not realm:
        return None
    best: LmaSelection | None = None
    for s in selection:
        if (realm == s.realm or realm.endswith("." + s.realm)) and (
            best is None or len(s.realm) > len(best.realm)
        ):
            best = s
    return best.lma_address if best is not None else None
