"""Pure codecs between bytes and the core's types.

- :mod:`.mobility_header`: Mobility Header messages (PBU, PBA, HB, BRI/BRA, UPN/UPA, BE) with the
  RFC 6275 checksum.
- :mod:`.mobility_options`: the mobility options inside them.
- :mod:`.ipv4_udp_transport`: the RFC 5844 framing (the MH directly in UDP port 5436).
- :mod:`.capture`: reading and writing pcap/pcapng files and finding mobility messages in frames.
- :mod:`.describe`: JSON-ready descriptions of messages, for ``netlmm-aaa decode`` and logs.
- :mod:`.scapy_layers`: scapy layers for what scapy lacks (for users and tests, not the hot path).
"""

from __future__ import annotations
