"""The bpf(2) system call through ctypes: load programs, create and edit maps, read their info.

No libbpf, no toolchain: the programs come from :mod:`netlmm_aaa.dataplane.bpf_programs` as
bytecode. File descriptors returned here belong to the caller, who closes them with
:func:`os.close`; programs and maps live on while a route, a tc filter or a program uses them.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from dataclasses import dataclass
from enum import IntEnum

#: ``__NR_bpf`` per architecture.
_SYSCALL_NUMBERS = {"x86_64": 321, "aarch64": 280, "armv7l": 386, "ppc64le": 361, "s390x": 351}
_LOG_SIZE = 1 << 18
_LICENSE = ctypes.create_string_buffer(b"Dual BSD/GPL")
OBJECT_NAME_LENGTH = 16


class Command(IntEnum):
    """bpf(2) commands (``enum bpf_cmd``)."""

    MAP_CREATE = 0
    MAP_LOOKUP_ELEM = 1
    MAP_UPDATE_ELEM = 2
    MAP_DELETE_ELEM = 3
    PROG_LOAD = 5
    OBJ_PIN = 6
    OBJ_GET_INFO_BY_FD = 15


class ProgramType(IntEnum):
    """Program types we load (``enum bpf_prog_type``)."""

    SCHED_CLS = 3
    LWT_XMIT = 12


class MapType(IntEnum):
    """Map types we create (``enum bpf_map_type``)."""

    HASH = 1
    ARRAY = 2


class BpfError(OSError):
    """bpf(2) refused; ``verifier_log`` holds the verifier's explanation for a refused program."""

    def __init__(self, code: int, what: str, verifier_log: str = "") -> None:
        super().__init__(code, f"{what}: {os.strerror(code)}")
        self.verifier_log = verifier_log


_libc: ctypes.CDLL | None = None


def _syscall(command: Command, attr: ctypes.Array[ctypes.c_char], what: str) -> int:
    global _libc
    number = _SYSCALL_NUMBERS.get(platform.machine())
    if number is None:
        raise BpfError(errno.ENOSYS, f"bpf(2) on {platform.machine()} is not known here")
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    result = int(_libc.syscall(number, int(command), ctypes.byref(attr), ctypes.sizeof(attr)))
    if result < 0:
        raise BpfError(ctypes.get_errno(), what)
    return result


def _syscall_unless_missing(command: Command, attr: ctypes.Array[ctypes.c_char],
                            what: str) -> int | None:  # fmt: skip
    """:func:`_syscall`, but None where the kernel answers ENOENT (no such element)."""
    try:
        return _syscall(command, attr, what)
    except BpfError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise


def _name(name: str) -> bytes:
    return name.encode()[: OBJECT_NAME_LENGTH - 1].ljust(OBJECT_NAME_LENGTH, b"\0")


def load_program(bytecode: bytes, program_type: ProgramType, name: str) -> int:
    """Load and verify a program; its file descriptor. A refusal carries the verifier log."""
    if not bytecode or len(bytecode) % 8:
        raise ValueError("bytecode must be a non-empty sequence of 8-octet instructions")
    code = ctypes.create_string_buffer(bytecode, len(bytecode))
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("=IIQQ", attr, 0, program_type, len(bytecode) // 8,
                     ctypes.addressof(code), ctypes.addressof(_LICENSE))  # fmt: skip
    struct.pack_into("=16s", attr, 48, _name(name))
    try:
        return _syscall(Command.PROG_LOAD, attr, f"loading BPF program {name}")
    except BpfError as first:
        log = ctypes.create_string_buffer(_LOG_SIZE)
        struct.pack_into("=IIQ", attr, 24, 1, _LOG_SIZE, ctypes.addressof(log))
        try:
            fd = _syscall(Command.PROG_LOAD, attr, f"loading BPF program {name}")
        except BpfError as second:
            text = log.value.decode(errors="replace")
            raise BpfError(second.errno or first.errno or errno.EINVAL,
                           f"loading BPF program {name}", text) from None  # fmt: skip
        return fd  # refused without the log, accepted with it: a transient failure


#: ``map_flags``: allocate hash entries on insertion, not all at creation.
BPF_F_NO_PREALLOC = 1


def create_map(map_type: MapType, key_size: int, value_size: int, max_entries: int,
               name: str, flags: int = 0) -> int:  # fmt: skip
    """A new map; its file descriptor."""
    attr = ctypes.create_string_buffer(72)
    struct.pack_into("=IIIII", attr, 0, map_type, key_size, value_size, max_entries, flags)
    struct.pack_into("=16s", attr, 28, _name(name))
    return _syscall(Command.MAP_CREATE, attr, f"creating BPF map {name}")


def _element(command: Command, map_fd: int, key: bytes, value: ctypes.Array[ctypes.c_char] | None,
             what: str) -> int | None:  # fmt: skip
    """A map element command on ``key`` (and ``value``); None when the key is absent."""
    key_buffer = ctypes.create_string_buffer(key, len(key))
    attr = ctypes.create_string_buffer(32)
    struct.pack_into("=IIQQQ", attr, 0, map_fd, 0, ctypes.addressof(key_buffer),
                     ctypes.addressof(value) if value is not None else 0, 0)  # fmt: skip
    return _syscall_unless_missing(command, attr, what)


def update_element(map_fd: int, key: bytes, value: bytes) -> None:
    """Insert or overwrite ``key``."""
    buffer = ctypes.create_string_buffer(value, len(value))
    _element(Command.MAP_UPDATE_ELEM, map_fd, key, buffer, "updating a BPF map")


def delete_element(map_fd: int, key: bytes) -> bool:
    """Remove ``key``; False when it was not there."""
    done = _element(Command.MAP_DELETE_ELEM, map_fd, key, None, "deleting from a BPF map")
    return done is not None


def lookup_element(map_fd: int, key: bytes, value_size: int) -> bytes | None:
    """The value stored under ``key``, or None."""
    buffer = ctypes.create_string_buffer(value_size)
    found = _element(Command.MAP_LOOKUP_ELEM, map_fd, key, buffer, "reading a BPF map")
    return buffer.raw if found is not None else None


@dataclass(frozen=True, slots=True)
class ProgramInfo:
    """What the kernel tells of a loaded program."""

    id: int
    type: int
    name: str
    tag: bytes
    """SHA-1 prefix of the program's instructions (map references zeroed): equal tags, equal
    programs."""
    map_ids: tuple[int, ...]


def program_info(fd: int) -> ProgramInfo:
    """The kernel's description of the program behind ``fd``."""
    info = ctypes.create_string_buffer(256)
    map_ids = (ctypes.c_uint32 * 16)()
    struct.pack_into("=IQ", info, 52, 16, ctypes.addressof(map_ids))  # nr_map_ids, map_ids
    attr = ctypes.create_string_buffer(16)
    struct.pack_into("=IIQ", attr, 0, fd, len(info), ctypes.addressof(info))
    _syscall(Command.OBJ_GET_INFO_BY_FD, attr, "reading BPF program info")
    kind, prog_id = struct.unpack_from("=II", info, 0)
    tag = info.raw[8:16]
    count = min(struct.unpack_from("=I", info, 52)[0], 16)
    name = info.raw[64 : 64 + OBJECT_NAME_LENGTH].split(b"\0", 1)[0].decode(errors="replace")
    return ProgramInfo(prog_id, kind, name, tag, tuple(map_ids[:count]))


def pin_object(fd: int, path: str) -> None:
    """Pin a program or map at ``path`` on a mounted bpf file system (so other tools, such as
    iproute2's ``pinned PATH``, can use it)."""
    name = ctypes.create_string_buffer(path.encode())
    attr = ctypes.create_string_buffer(16)
    struct.pack_into("=QI", attr, 0, ctypes.addressof(name), fd)
    _syscall(Command.OBJ_PIN, attr, f"pinning a BPF object at {path}")
