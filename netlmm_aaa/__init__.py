"""netlmm-aaa: network-based localized mobility management (Proxy Mobile IPv6) for 802.1X networks.

Where things live:

- ``netlmm_aaa.core``: the sans-IO core. Message and option types, codes, and (later) the MAG and
  LMA state machines. No sockets, clocks or third-party I/O libraries.
- ``netlmm_aaa.wire``: pure codecs between bytes and core types (the PMIPv6 Mobility Header codec,
  the RFC 5844 UDP framing, pcap reading) and the optional scapy layers.
- ``netlmm_aaa.cli``: the ``netlmm-aaa`` command.
"""

from __future__ import annotations

__version__ = "0.1.0"
