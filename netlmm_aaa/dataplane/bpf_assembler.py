"""A small eBPF assembler: named instructions in, kernel bytecode out (no toolchain at run time).

Only the instructions our tunnel programs use are here, each a method named after what it does,
so a program reads as a listing (see :mod:`netlmm_aaa.dataplane.bpf_programs`). Jumps name
labels; :meth:`Assembler.assemble` resolves them into the signed 16-bit offsets the kernel
expects (relative to the next instruction) and refuses an unknown or too distant label.

Encoding (``include/uapi/linux/bpf.h``, ``struct bpf_insn``): 8 octets per slot, ``code`` (u8),
``dst_reg:4 | src_reg:4`` (u8, dst in the low nibble), ``off`` (s16), ``imm`` (s32), in the
host's byte order (little-endian on every machine we run on). A 64-bit immediate takes two
slots.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum


class Reg(IntEnum):
    """eBPF registers: R0 return value, R1-R5 arguments (clobbered by calls), R6-R9 kept across
    calls, R10 the read-only frame pointer."""

    R0 = 0
    R1 = 1
    R2 = 2
    R3 = 3
    R4 = 4
    R5 = 5
    R6 = 6
    R7 = 7
    R8 = 8
    R9 = 9
    R10 = 10


class Size(IntEnum):
    """Memory access widths (BPF_W, BPF_H, BPF_B, BPF_DW)."""

    U32 = 0x00
    U16 = 0x08
    U8 = 0x10
    U64 = 0x18


class Jump(IntEnum):
    """Conditional jump operations (unsigned comparisons)."""

    EQ = 0x10
    GT = 0x20
    GE = 0x30
    NE = 0x50


class Helper(IntEnum):
    """Kernel helper functions our programs call (``enum bpf_func_id``)."""

    MAP_LOOKUP_ELEM = 1
    SKB_STORE_BYTES = 9
    L3_CSUM_REPLACE = 10
    SKB_CHANGE_PROTO = 31
    SKB_ADJUST_ROOM = 50
    LWT_PUSH_ENCAP = 73


# Opcode classes and modes (BPF_LDX | BPF_MEM etc.).
_LDX_MEM = 0x61
_STX_MEM = 0x63
_STX_ATOMIC = 0xC3
_ATOMIC_ADD = 0x00
_ST_MEM = 0x62
_LD_IMM64 = 0x18
_ALU64_MOV_K = 0xB7
_ALU64_MOV_X = 0xBF
_ALU64_ADD_K = 0x07
_ALU64_SUB_X = 0x1F
_ALU64_AND_K = 0x57
_ALU_END_TO_BE = 0xDC
_JMP_JA = 0x05
_JMP_K = 0x05
_JMP_X = 0x0D
_CALL = 0x85
_EXIT = 0x95
_PSEUDO_MAP_FD = 1

_INSN = struct.Struct("<BBhi")


class AssemblyError(ValueError):
    """A program that cannot be encoded (unknown label, jump out of range, bad immediate)."""


@dataclass(slots=True)
class _Slot:
    code: int
    dst: int
    src: int
    offset: int | str
    imm: int


class Assembler:
    """Collects instructions and labels; :meth:`assemble` returns the bytecode."""

    def __init__(self) -> None:
        self._slots: list[_Slot] = []
        self._labels: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._slots)

    def _emit(self, code: int, dst: int = 0, src: int = 0, offset: int | str = 0,
              imm: int = 0) -> None:  # fmt: skip
        self._slots.append(_Slot(code, int(dst), int(src), offset, imm))

    def label(self, name: str) -> None:
        """Name the next instruction (a jump target)."""
        if name in self._labels:
            raise AssemblyError(f"label {name!r} defined twice")
        self._labels[name] = len(self._slots)

    # ------------------------------------------------------------------ ALU (64-bit)

    def mov(self, dst: Reg, imm: int) -> None:
        """dst = imm (sign-extended 32-bit immediate)."""
        self._emit(_ALU64_MOV_K, dst, imm=imm)

    def mov_reg(self, dst: Reg, src: Reg) -> None:
        """dst = src."""
        self._emit(_ALU64_MOV_X, dst, src)

    def add(self, dst: Reg, imm: int) -> None:
        """dst += imm."""
        self._emit(_ALU64_ADD_K, dst, imm=imm)

    def sub_reg(self, dst: Reg, src: Reg) -> None:
        """dst -= src."""
        self._emit(_ALU64_SUB_X, dst, src)

    def and_(self, dst: Reg, imm: int) -> None:
        """dst &= imm (sign-extended 32-bit immediate)."""
        self._emit(_ALU64_AND_K, dst, imm=imm)

    def to_be16(self, dst: Reg) -> None:
        """dst = htons(dst) (the low 16 bits, byte-swapped on a little-endian host)."""
        self._emit(_ALU_END_TO_BE, dst, imm=16)

    def to_be32(self, dst: Reg) -> None:
        """dst = htonl(dst) (a big-endian u32 read becomes its numeric value)."""
        self._emit(_ALU_END_TO_BE, dst, imm=32)

    def load_imm64(self, dst: Reg, value: int) -> None:
        """dst = a 64-bit immediate (two slots)."""
        if not 0 <= value < 1 << 64:
            raise AssemblyError(f"64-bit immediate out of range: {value}")
        self._emit(_LD_IMM64, dst, imm=value & 0xFFFF_FFFF)
        self._emit(0, imm=value >> 32)

    def load_map(self, dst: Reg, map_fd: int) -> None:
        """dst = the map behind file descriptor ``map_fd`` (the kernel turns the fd into the map's
        address at load time; two slots)."""
        self._emit(_LD_IMM64, dst, _PSEUDO_MAP_FD, imm=map_fd)
        self._emit(0)

    # ------------------------------------------------------------------ memory

    def load(self, size: Size, dst: Reg, src: Reg, offset: int) -> None:
        """dst = *(size *)(src + offset)."""
        self._emit(_LDX_MEM | size, dst, src, offset)

    def store(self, size: Size, dst: Reg, offset: int, src: Reg) -> None:
        """*(size *)(dst + offset) = src."""
        self._emit(_STX_MEM | size, dst, src, offset)

    def store_imm(self, size: Size, dst: Reg, offset: int, imm: int) -> None:
        """*(size *)(dst + offset) = imm."""
        self._emit(_ST_MEM | size, dst, offset=offset, imm=imm)

    def atomic_add(self, size: Size, dst: Reg, offset: int, src: Reg) -> None:
        """lock *(size *)(dst + offset) += src (u32 or u64)."""
        if size not in (Size.U32, Size.U64):
            raise AssemblyError("atomic add takes u32 or u64")
        self._emit(_STX_ATOMIC | size, dst, src, offset, _ATOMIC_ADD)

    # ------------------------------------------------------------------ control flow

    def jump(self, label: str) -> None:
        """goto label."""
        self._emit(_JMP_JA, offset=label)

    def jump_if(self, op: Jump, dst: Reg, imm: int, label: str) -> None:
        """if (dst op imm) goto label."""
        self._emit(_JMP_K | op, dst, offset=label, imm=imm)

    def jump_if_reg(self, op: Jump, dst: Reg, src: Reg, label: str) -> None:
        """if (dst op src) goto label."""
        self._emit(_JMP_X | op, dst, src, offset=label)

    def call(self, helper: Helper) -> None:
        """r0 = helper(r1, ..., r5); r1-r5 are clobbered."""
        self._emit(_CALL, imm=int(helper))

    def exit(self) -> None:
        """return r0."""
        self._emit(_EXIT)

    # ------------------------------------------------------------------ output

    def assemble(self) -> bytes:
        """The program's bytecode, labels resolved."""
        out = bytearray()
        for pc, slot in enumerate(self._slots):
            offset = slot.offset
            if isinstance(offset, str):
                if offset not in self._labels:
                    raise AssemblyError(f"jump to undefined label {offset!r}")
                offset = self._labels[offset] - pc - 1
            if not -(1 << 15) <= offset < 1 << 15:
                raise AssemblyError(f"jump at {pc} out of range ({offset})")
            imm = slot.imm
            if imm >= 1 << 31:
                imm -= 1 << 32
            if not -(1 << 31) <= imm < 1 << 31:
                raise AssemblyError(f"immediate at {pc} out of range ({slot.imm})")
            out += _INSN.pack(slot.code, slot.dst | (slot.src << 4), offset, imm)
        return bytes(out)


def imm32_of(octets: bytes) -> int:
    """The immediate that stores ``octets`` (4, in wire order) with a 32-bit store."""
    return int(struct.unpack("<i", octets)[0])


def imm64_of(octets: bytes) -> int:
    """The 64-bit immediate that stores ``octets`` (8, in wire order) with a 64-bit store."""
    return int(struct.unpack("<Q", octets)[0])


def imm16_of(octets: bytes) -> int:
    """The immediate that compares equal to ``octets`` (2, in wire order) read as a u16."""
    return int(struct.unpack("<H", octets)[0])
