"""asyncio adapters: sockets in, core events out; no decisions here."""

from __future__ import annotations
