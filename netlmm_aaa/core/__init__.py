"""The sans-IO core: typed messages, options, codes and (later) the MAG and LMA state machines.

Nothing in this package imports a socket, a clock, asyncio, scapy, pyroute2, pyrad or SQLAlchemy.
"""

from __future__ import annotations
