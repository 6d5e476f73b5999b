"""Home network prefix and IPv4 home address pools with per-MN stickiness.

A pool hands out fixed-length prefixes (or /32 addresses) of one network. It remembers which mobile
node last held each one: a node that comes back gets its old prefix when nobody else holds it,
and when the pool must reuse released prefixes it takes the one released longest ago. So a node's
address survives re-registration, handover and a long absence, and no prefix is ever served to
two nodes at once (RFC 5213 §5.3.2, RFC 4831 goal 3: location privacy through a stable address).
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections import OrderedDict

_EIGHT_WORDS = struct.Struct("!8H")


def ipv6_text(packed: bytes) -> str:
    """RFC 5952 text of a packed IPv6 address (a faster ``str(IPv6Address(packed))``)."""
    words = _EIGHT_WORDS.unpack(packed)
    best_start, best_len, start = -1, 1, -1
    for i, word in enumerate(words):
        if word == 0:
            if start < 0:
                start = i
            if i - start + 1 > best_len:
                best_start, best_len = start, i - start + 1
        else:
            start = -1
    if best_start < 0:
        return ":".join(f"{w:x}" for w in words)
    head = ":".join(f"{w:x}" for w in words[:best_start])
    tail = ":".join(f"{w:x}" for w in words[best_start + best_len :])
    return f"{head}::{tail}"


_HEX_AND_COLONS = re.compile(r"[0-9a-f:]{2,39}")


def ipv6_prefix_value(text: str) -> tuple[int, int]:
    """``"2001:db8:1::/64"`` -> (network address as an int, prefix length); a faster
    ``IPv6Network(text)`` for the plain text this project writes (lower-case hex words, one
    ``::`` at most), falling back to :mod:`ipaddress` (and its errors) for any other spelling."""
    address, _, length_text = text.partition("/")
    if _HEX_AND_COLONS.fullmatch(address) and length_text.isdigit():
        head, gap, tail = address.partition("::")
        if gap:
            words = head.split(":") if head else []
            after = tail.split(":") if tail else []
            missing = 8 - len(words) - len(after)
            words += ["0"] * missing + after if missing > 0 else ["", ""]  # "": not ours
        else:
            words = address.split(":")
        length = int(length_text)
        if (
            len(words) == 8
            and "" not in words
            and len(max(words, key=len)) <= 4
            and length <= 128
            and length_text == str(length)
        ):
            value = 0
            for word in words:
                value = (value << 16) | int(word, 16)
            if not value & ((1 << (128 - length)) - 1):
                return value, length
    network = ipaddress.IPv6Network(text)
    return int(network.network_address), network.prefixlen


class PoolExhausted(Exception):
    """No prefix or address is left (the LMA answers 130, insufficient resources)."""


class AddressPool:
    """Fixed-size blocks of ``network`` (prefixes of ``block_length`` bits), held by MN-ID."""

    def __init__(
        self, network: str, block_length: int, *, reserved: frozenset[str] = frozenset()
    ) -> None:
        net = ipaddress.ip_network(network)
        if not net.prefixlen <= block_length <= net.max_prefixlen:
            raise ValueError(f"block length /{block_length} does not fit in {network}")
        self.network = net
        self.block_length = block_length
        self._version = net.version
        self._shift = net.max_prefixlen - block_length
        self._base = int(net.network_address)
        self._size = 1 << (block_length - net.prefixlen)
        self._next_fresh = 0
        self._reserved = {self._index(r) for r in reserved}
        self._holder: dict[int, bytes] = {}  # index -> MN-ID holding it now
        self._last_holder: dict[bytes, int] = {}  # MN-ID -> index it held last
        self._released: OrderedDict[int, None] = OrderedDict()  # free, oldest release first

    def _index(self, block: str) -> int:
        value = int(ipaddress.ip_network(block, strict=False).network_address)
        return (value - self._base) >> self._shift

    def _text(self, index: int) -> str:
        value = self._base + (index << self._shift)
        if self._version == 4:
            address = ".".join(str(b) for b in value.to_bytes(4, "big"))
            return address if self.block_length == 32 else f"{address}/{self.block_length}"
        return f"{ipv6_text(value.to_bytes(16, 'big'))}/{self.block_length}"

    def packed(self, block: str) -> bytes:
        """The network address of ``block`` (a block of this pool), packed."""
        value = self._base + (self._index(block) << self._shift)
        return value.to_bytes(4 if self._version == 4 else 16, "big")

    def contains(self, block: str) -> bool:
        """True when ``block`` (prefix or address) lies inside this pool's network."""
        try:
            return ipaddress.ip_network(block, strict=False).subnet_of(self.network)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False

    def holder(self, block: str) -> bytes | None:
        """The MN-ID holding ``block`` now, if any."""
        return self._holder.get(self._index(block))

    def allocate(self, mn_id: bytes) -> str:
        """A block for ``mn_id``: its previous one if free, else a fresh one, else the stalest."""
        return self.allocate_with_address(mn_id)[0]

    def allocate_with_address(self, mn_id: bytes) -> tuple[str, bytes]:
        """Like :meth:`allocate`, also returning the block's packed network address."""
        last = self._last_holder.get(mn_id)
        if last is not None and last not in self._holder:
            index = last
            self._released.pop(index, None)
        else:
            index = -1
            while self._next_fresh < self._size:
                candidate = self._next_fresh
                self._next_fresh += 1
                if candidate not in self._reserved and candidate not in self._holder:
                    index = candidate
                    break
            if index < 0:
                if not self._released:
                    raise PoolExhausted(f"pool {self.network} has no /{self.block_length} left")
                index, _ = self._released.popitem(last=False)
        self._take(index, mn_id)
        value = self._base + (index << self._shift)
        return self._text(index), value.to_bytes(4 if self._version == 4 else 16, "big")

    def last_block_of(self, mn_id: bytes) -> str | None:
        """The block ``mn_id`` held most recently (now or before), if any."""
        index = self._last_holder.get(mn_id)
        return None if index is None else self._text(index)

    def claim_value(self, value: int, length: int, mn_id: bytes) -> bool | None:
        """:meth:`claim` for an already parsed block (network address as an int); None when
        the block is not one of this pool's."""
        offset = value - self._base
        if length != self.block_length or not 0 <= offset < (self._size << self._shift):
            return None
        index = offset >> self._shift
        holder = self._holder.get(index)
        if holder is not None and holder != mn_id:
            return False
        self._released.pop(index, None)
        self._take(index, mn_id)
        return True

    def claim(self, block: str, mn_id: bytes) -> bool:
        """Record that ``mn_id`` holds ``block`` (a static or persisted assignment).

        False when another node holds it.
        """
        index = self._index(block)
        holder = self._holder.get(index)
        if holder is not None and holder != mn_id:
            return False
        self._released.pop(index, None)
        self._take(index, mn_id)
        return True

    def _take(self, index: int, mn_id: bytes) -> None:
        previous = self._last_holder.get(mn_id)
        if previous is not None and previous != index and self._holder.get(previous) == mn_id:
            self.release_index(previous)
        self._holder[index] = mn_id
        self._last_holder[mn_id] = index

    def release(self, block: str, mn_id: bytes) -> None:
        """``mn_id`` no longer holds ``block`` (its binding was deleted)."""
        index = self._index(block)
        if self._holder.get(index) == mn_id:
            self.release_index(index)

    def release_index(self, index: int) -> None:
        del self._holder[index]
        self._released[index] = None

    @property
    def in_use(self) -> int:
        """How many blocks are held now."""
        return len(self._holder)
