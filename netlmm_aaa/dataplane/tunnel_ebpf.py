"""The ``ebpf`` tunnel backend: eBPF programs on routes and on tc ingress.

Needs ``CONFIG_BPF_SYSCALL``, ``CONFIG_LWTUNNEL_BPF``, ``CONFIG_NET_CLS_BPF`` and clsact
(``CONFIG_NET_SCH_INGRESS``), Linux 5.2 or later; no ip6tnl, GRE or seg6, no toolchain (the
programs are assembled in Python, :mod:`.bpf_programs`).

Encapsulation: one LWT_XMIT program per peer (per peer and key in GRE mode), loaded on first use
and shared by every route toward that peer (``encap bpf xmit <program> headroom 40``, 48 with
GRE, 20 and 28 toward an IPv4 peer, so the kernel lowers those routes' MTU by the outer headers
and path MTU discovery works). A peer's family picks the outer header: an IPv4 peer (RFC 5844 §4
transport) needs our IPv4 tunnel address (``local_ipv4``), an IPv6 one our IPv6 address.
A GRE key costs a program of its own (~4 KiB of kernel memory and ~0.1 ms to load) per binding.
The route's program name is ours to choose and comes back in route dumps:
``netlmm/<version>/<local>><peer>[/<key>]`` (``local``: our address of the peer's family), so a
restarted daemon reads each route's peer (and key) from its name and keeps the routes whose
program is current (the kernel keeps a program while a route uses it); a route whose name names
another version or local address reads as pointing nowhere, and reconciliation rewrites it.

Receiver: the decapsulation program on the transport device's clsact ingress hook (direct
action), with the configured peers in a hash map and the GRE keys we handed out (key -> the one
peer that may use it) in another; a restarted daemon replaces the filter (same priority and
handle) with a fresh program and maps, and accepts its bindings' keys again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
from collections.abc import Collection, Mapping
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from netlmm_aaa.dataplane.bpf_programs import (
    COUNTER_DECAPSULATED,
    COUNTER_UNKNOWN_KEY,
    COUNTER_UNKNOWN_PEER,
    COUNTERS,
    ENCAPSULATION_HEADROOM,
    GRE_ENCAPSULATION_HEADROOM,
    IPV4_ENCAPSULATION_HEADROOM,
    IPV4_GRE_ENCAPSULATION_HEADROOM,
    decapsulation_program,
    encapsulation_program,
    is_ipv4,
)
from netlmm_aaa.dataplane.bpf_syscall import (
    BPF_F_NO_PREALLOC,
    BpfError,
    MapType,
    ProgramType,
    create_map,
    delete_element,
    load_program,
    lookup_element,
    update_element,
)
from netlmm_aaa.dataplane.netlink_routes import RTA_ENCAP, RTA_ENCAP_TYPE, RTA_OIF, nla
from netlmm_aaa.dataplane.port import DataPlaneError

LWTUNNEL_ENCAP_BPF = 6
LWT_BPF_PROG_FD = 1
LWT_BPF_PROG_NAME = 2
LWT_BPF_XMIT = 3
LWT_BPF_XMIT_HEADROOM = 4
NLA_F_NESTED = 0x8000
#: Bumped whenever the encapsulation program changes, so reconciliation replaces old routes.
PROGRAM_VERSION = 1
#: The kernel's names of our programs and maps (15 characters at most).
ENCAP_NAME = "nlmm_encap"
DECAP_NAME = "nlmm_decap"
#: Our tc filter on the transport device's ingress: priority and handle.
FILTER_PRIORITY = 0xC0DE
FILTER_HANDLE = 1
CLSACT_INGRESS = 0xFFFFFFF2
MAX_PEERS = 4096
MAX_GRE_KEYS = 1 << 22
PROBE_TABLE = 25214
PROBE_PREFIX = "2001:db8:ffff:fffe::/64"
_NLA = struct.Struct("=HH")
_PEER_VALUE = struct.pack("=I", 1)


def map_address(address: str) -> bytes:
    """The 16 octets an address has in the receiver's maps: an IPv4 address IPv4-mapped."""
    if is_ipv4(address):
        return b"\0" * 10 + b"\xff\xff" + socket.inet_pton(socket.AF_INET, address)
    return socket.inet_pton(socket.AF_INET6, address)


def route_name(local: str, peer: str, gre_key: int | None = None) -> str:
    """The name our routes give the program toward ``peer`` (returned by route dumps)."""
    name = f"netlmm/{PROGRAM_VERSION}/{local}>{peer}"
    return name if gre_key is None else f"{name}/{gre_key}"


def _nested(payload: bytes, wanted: int) -> bytes | None:
    pos = 0
    while pos + 4 <= len(payload):
        length, kind = _NLA.unpack_from(payload, pos)
        if length < 4:
            return None
        if kind & 0x3FFF == wanted:
            return payload[pos + 4 : pos + length]
        pos += (length + 3) & ~3
    return None


class EbpfTunnel:
    """The ``ebpf`` backend (see the module docstring)."""

    name = "ebpf"
    carries_gre = True
    carries_ipv4_transport = True

    def __init__(self) -> None:
        self.local = ""
        self.local_ipv4 = ""
        self._programs: dict[bytes, int] = {}
        self._keys_map = -1
        self._attributes: dict[tuple[int, bytes], bytes] = {}
        self._names: dict[bytes, bytes | None] = {}
        self._peers: set[str] = set()
        self._peers_map = -1
        self._counters_map = -1

    # ------------------------------------------------------------------ set-up

    def open(
        self,
        ipr: Any,
        oif: int,
        local_address: str | None,
        peers: Collection[str],
        local_ipv4: str | None = None,
    ) -> None:
        if local_address is None and local_ipv4 is None:
            raise DataPlaneError("the ebpf backend needs a tunnel address (IPv6 or IPv4)")
        self.local = local_address or ""
        self.local_ipv4 = local_ipv4 or ""
        # Routes first: nothing is left behind when the kernel cannot do them.
        self._probe_route(ipr, oif)
        try:
            self._peers_map = create_map(MapType.HASH, 16, 4, MAX_PEERS, "nlmm_peers")
            self._counters_map = create_map(MapType.ARRAY, 4, 8, COUNTERS, "nlmm_counters")
            self._keys_map = create_map(MapType.HASH, 4, 16, MAX_GRE_KEYS, "nlmm_gre_keys",
                                        BPF_F_NO_PREALLOC)  # fmt: skip
            decap = load_program(
                decapsulation_program(
                    local_address, self._peers_map, self._keys_map, self._counters_map, local_ipv4
                ),
                ProgramType.SCHED_CLS,
                DECAP_NAME,
            )
        except BpfError as exc:
            raise DataPlaneError(
                f"the ebpf backend could not load its decapsulation program: {exc}"
                + (f"\n{exc.verifier_log}" if exc.verifier_log else "")
            ) from exc
        self.set_peers(peers)
        try:
            self._attach(ipr, oif, decap)
        finally:
            os.close(decap)  # the filter holds the program

    def _probe_route(self, ipr: Any, oif: int) -> None:
        local = self.local or self.local_ipv4
        try:
            fd = load_program(encapsulation_program(local, local), ProgramType.LWT_XMIT,
                              ENCAP_NAME)  # fmt: skip
        except BpfError as exc:
            raise DataPlaneError(
                "the ebpf backend needs the bpf(2) system call with LWT_XMIT programs "
                f"(CONFIG_BPF_SYSCALL, CONFIG_LWTUNNEL_BPF): {exc}"
            ) from exc
        try:
            encap = {"fd": fd, "name": route_name(local, local),
                     "headroom": ENCAPSULATION_HEADROOM}  # fmt: skip
            ipr.route("replace", dst=PROBE_PREFIX, oif=oif, table=PROBE_TABLE,
                      encap={"type": "bpf", "xmit": encap})  # fmt: skip
            ipr.route("del", dst=PROBE_PREFIX, oif=oif, table=PROBE_TABLE)
        except NetlinkError as exc:
            if exc.code == errno.EACCES:
                raise DataPlaneError(
                    "IPv6 is disabled on the transport device (net.ipv6.conf.<device>."
                    "disable_ipv6 = 1), which the home prefixes' routes leave through: enable "
                    "it (no IPv6 address is needed there over an IPv4 transport)"
                ) from exc
            raise DataPlaneError(
                "the ebpf backend needs eBPF lightweight tunnels (CONFIG_LWTUNNEL_BPF): "
                f"the kernel refused an 'encap bpf' route: {exc}"
            ) from exc
        finally:
            os.close(fd)

    @staticmethod
    def _attach(ipr: Any, oif: int, decap: int) -> None:
        try:
            ipr.tc("add", "clsact", oif)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise DataPlaneError(
                    f"the ebpf backend needs the clsact qdisc (CONFIG_NET_SCH_INGRESS): {exc}"
                ) from exc
        try:
            ipr.tc("replace-filter", "bpf", oif, FILTER_HANDLE, fd=decap, name=DECAP_NAME,
                   parent=CLSACT_INGRESS, prio=FILTER_PRIORITY, classid=1,
                   direct_action=True)  # fmt: skip
        except NetlinkError as exc:
            raise DataPlaneError(
                f"the ebpf backend needs BPF tc filters (CONFIG_NET_CLS_BPF): {exc}"
            ) from exc

    def set_peers(self, peers: Collection[str]) -> None:
        wanted = set(peers)
        if len(wanted) > MAX_PEERS:
            raise DataPlaneError(f"at most {MAX_PEERS} tunnel peers, {len(wanted)} configured")
        for peer in wanted - self._peers:
            self._local_toward(peer)
            update_element(self._peers_map, map_address(peer), _PEER_VALUE)
        for peer in self._peers - wanted:
            delete_element(self._peers_map, map_address(peer))
        self._peers = wanted

    def _local_toward(self, peer: str) -> str:
        """Our tunnel address of ``peer``'s family."""
        local = self.local_ipv4 if is_ipv4(peer) else self.local
        if not local:
            family = "IPv4" if is_ipv4(peer) else "IPv6"
            raise DataPlaneError(f"tunnel peer {peer}: we have no {family} tunnel address")
        return local

    def accept_gre_keys(self, keys: Mapping[int, str]) -> None:
        for key, peer in keys.items():
            update_element(self._keys_map, key.to_bytes(4, "big"), map_address(peer))

    def forget_gre_keys(self, keys: Collection[int]) -> None:
        for key in keys:
            delete_element(self._keys_map, key.to_bytes(4, "big"))

    # ------------------------------------------------------------------ routes

    @staticmethod
    def _split(endpoint: bytes) -> tuple[str, int | None]:
        size = 16 if len(endpoint) >= 16 else 4
        peer = socket.inet_ntop(socket.AF_INET6 if size == 16 else socket.AF_INET, endpoint[:size])
        return peer, int.from_bytes(endpoint[size:], "big") if len(endpoint) > size else None

    def _program(self, endpoint: bytes) -> int:
        fd = self._programs.get(endpoint)
        if fd is None:
            peer, key = self._split(endpoint)
            local = self._local_toward(peer)
            try:
                fd = load_program(encapsulation_program(local, peer, key),
                                  ProgramType.LWT_XMIT, ENCAP_NAME)  # fmt: skip
            except BpfError as exc:
                raise DataPlaneError(f"loading the encapsulation toward {peer}: {exc}") from exc
            self._programs[endpoint] = fd
        return fd

    def route_attributes(self, family: int, oif: int, endpoint: bytes) -> bytes:
        attributes = self._attributes.get((oif, endpoint))
        if attributes is None:
            peer, gre_key = self._split(endpoint)
            name = route_name(self._local_toward(peer), peer, gre_key)
            if is_ipv4(peer):
                headroom = (IPV4_ENCAPSULATION_HEADROOM if gre_key is None
                            else IPV4_GRE_ENCAPSULATION_HEADROOM)  # fmt: skip
            else:
                headroom = ENCAPSULATION_HEADROOM if gre_key is None else GRE_ENCAPSULATION_HEADROOM
            xmit = nla(LWT_BPF_PROG_FD, struct.pack("=I", self._program(endpoint))) + nla(
                LWT_BPF_PROG_NAME, name.encode() + b"\0"
            )
            encap = nla(LWT_BPF_XMIT | NLA_F_NESTED, xmit) + nla(
                LWT_BPF_XMIT_HEADROOM, struct.pack("=I", headroom)
            )
            attributes = (
                nla(RTA_OIF, struct.pack("=i", oif))
                + nla(RTA_ENCAP_TYPE, struct.pack("=H", LWTUNNEL_ENCAP_BPF))
                + nla(RTA_ENCAP | NLA_F_NESTED, encap)
            )
            self._attributes[(oif, endpoint)] = attributes
        return attributes

    def route_endpoint(self, encap_type: int, encap: bytes) -> bytes | None:
        if encap_type != LWTUNNEL_ENCAP_BPF:
            return None
        xmit = _nested(encap, LWT_BPF_XMIT)
        name = _nested(xmit, LWT_BPF_PROG_NAME) if xmit is not None else None
        if name is None:
            return None
        if name in self._names:
            return self._names[name]
        endpoint: bytes | None = None
        text = name.rstrip(b"\0")
        for local, family in ((self.local, socket.AF_INET6), (self.local_ipv4, socket.AF_INET)):
            prefix = route_name(local, "").encode()
            if not local or not text.startswith(prefix):
                continue
            with contextlib.suppress(OSError, UnicodeDecodeError, ValueError, OverflowError):
                peer, slash, key = text[len(prefix) :].decode().partition("/")
                suffix = int(key).to_bytes(4, "big") if slash else b""
                endpoint = socket.inet_pton(family, peer) + suffix
        if len(self._names) < 4096:
            self._names[name] = endpoint
        return endpoint

    # ------------------------------------------------------------------ state

    def counters(self) -> dict[str, int]:
        """Tunnel packets decapsulated, and dropped for coming from an unknown peer or with a
        GRE key not handed to their sender."""
        out = {}
        for label, slot in (("decapsulated", COUNTER_DECAPSULATED),
                            ("unknown_peer", COUNTER_UNKNOWN_PEER),
                            ("unknown_key", COUNTER_UNKNOWN_KEY)):  # fmt: skip
            value = lookup_element(self._counters_map, struct.pack("=I", slot), 8)
            out[label] = struct.unpack("=Q", value)[0] if value else 0
        return out

    def close(self) -> None:
        for fd in (*self._programs.values(), self._peers_map, self._counters_map,
                   self._keys_map):  # fmt: skip
            if fd >= 0:
                os.close(fd)
        self._programs.clear()
        self._attributes.clear()
        self._peers_map = self._counters_map = self._keys_map = -1
