"""The Local Mobility Anchor's sans-IO core (RFC 5213 §5): the anchor and its parts.

- :mod:`.anchor`: events in, actions out; the binding cache's transition table;
- :mod:`.steps`: what each transition does to one entry;
- :mod:`.binding_cache`: entry, states, inputs, a received PBU;
- :mod:`.pbu_checks`: §5.3.1 checks; :mod:`.home_addresses`: prefixes and IPv4 HoAs;
- :mod:`.pba`: the answer; :mod:`.revocation`: RFC 5846; :mod:`.heartbeats`: RFC 5847;
- :mod:`.timers`: the deadline heap.
"""

from __future__ import annotations

from netlmm_aaa.core.lma.anchor import LocalMobilityAnchor
from netlmm_aaa.core.lma.binding_cache import BindingEntry, BindingInput, BindingState

__all__ = ["BindingEntry", "BindingInput", "BindingState", "LocalMobilityAnchor"]
