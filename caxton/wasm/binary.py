"""A minimal reader of the WebAssembly binary format.

wasmtime-py exposes a module's imports and exports with their types, but not
its own (unexported) memories and tables, nor whether it has a start
function. The validator needs those, so this module reads the few sections
that hold them. It only ever runs on bytes wasmtime has already validated,
yet stays defensive: anything unexpected raises ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["WASM_MAGIC", "MemoryDecl", "ModuleLayout", "TableDecl", "is_wasm_binary", "read_layout"]

WASM_MAGIC = b"\x00asm"
PAGE_SIZE = 65536

_SECTION_IMPORT = 2
_SECTION_FUNCTION = 3
_SECTION_TABLE = 4
_SECTION_MEMORY = 5
_SECTION_EXPORT = 7
_SECTION_START = 8

_SECTION_NAMES = {
    0: "custom",
    1: "type",
    2: "import",
    3: "function",
    4: "table",
    5: "memory",
    6: "global",
    7: "export",
    8: "start",
    9: "element",
    10: "code",
    11: "data",
    12: "data count",
    13: "tag",
}


@dataclass(frozen=True)
class MemoryDecl:
    """A linear memory as declared (imported or defined)."""

    min_pages: int
    max_pages: int | None
    shared: bool
    memory64: bool
    imported: bool


@dataclass(frozen=True)
class TableDecl:
    """A table as declared (imported or defined)."""

    min_elements: int
    max_elements: int | None
    imported: bool


@dataclass
class ModuleLayout:
    """What the sections of a module declare."""

    size: int
    imports: list[tuple[str, str, str]] = field(default_factory=list)  # module, name, kind
    memories: list[MemoryDecl] = field(default_factory=list)
    tables: list[TableDecl] = field(default_factory=list)
    defined_functions: int = 0
    exports: list[tuple[str, str]] = field(default_factory=list)  # name, kind
    start_function: int | None = None
    sections: list[str] = field(default_factory=list)


def is_wasm_binary(data: bytes) -> bool:
    return data[:4] == WASM_MAGIC


class _Reader:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise ValueError("unexpected end of section")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def uleb(self, max_bits: int = 64) -> int:
        result = 0
        shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift >= max_bits + 7:
                raise ValueError("LEB128 integer too long")

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > self.end:
            raise ValueError("section entry runs past its end")
        self.pos += n

    def name(self) -> str:
        n = self.uleb(32)
        start = self.pos
        self.skip(n)
        return self.data[start : self.pos].decode("utf-8", errors="replace")

    def limits(self, *, memory: bool) -> tuple[int, int | None, bool, bool]:
        flags = self.byte()
        is64 = bool(flags & 0x04)
        bits = 64 if is64 else 32
        minimum = self.uleb(bits)
        maximum = self.uleb(bits) if flags & 0x01 else None
        if memory and flags & 0x08:
            self.uleb(32)  # custom page size (log2)
        return minimum, maximum, bool(flags & 0x02), is64

    def skip_const_expr(self) -> None:
        # Constant expressions end at the first 0x0b that is not inside an
        # immediate; the extended-const set only has LEB immediates besides
        # opcodes, so scanning opcode by opcode is enough for what we accept.
        while True:
            op = self.byte()
            if op == 0x0B:
                return
            if op in (0x41, 0x42, 0x23, 0xD2):  # i32/i64.const, global.get, ref.func
                self.uleb(64)
            elif op == 0x43:
                self.skip(4)
            elif op == 0x44:
                self.skip(8)
            elif op == 0xD0:  # ref.null heaptype
                self.uleb(64)
            elif op == 0xFD:  # v128.const
                self.uleb(32)
                self.skip(16)
            elif op in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E):  # extended const arithmetic
                continue
            else:
                raise ValueError(f"unsupported opcode 0x{op:02x} in a constant expression")


def _read_tabletype(r: _Reader, *, imported: bool) -> TableDecl:
    ref = r.byte()
    if ref in (0x63, 0x64):  # (ref null? heaptype) from typed function references
        r.uleb(64)
    minimum, maximum, _, _ = r.limits(memory=False)
    return TableDecl(minimum, maximum, imported)


def _read_memtype(r: _Reader, *, imported: bool) -> MemoryDecl:
    minimum, maximum, shared, is64 = r.limits(memory=True)
    return MemoryDecl(minimum, maximum, shared, is64, imported)


_IMPORT_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}


def _read_imports(r: _Reader, layout: ModuleLayout) -> None:
    for _ in range(r.uleb(32)):
        module = r.name()
        name = r.name()
        kind = r.byte()
        if kind == 0:
            r.uleb(32)
        elif kind == 1:
            layout.tables.append(_read_tabletype(r, imported=True))
        elif kind == 2:
            layout.memories.append(_read_memtype(r, imported=True))
        elif kind == 3:
            valtype = r.byte()
            if valtype in (0x63, 0x64):
                r.uleb(64)
            r.byte()  # mutability
        elif kind == 4:
            r.byte()
            r.uleb(32)
        else:
            raise ValueError(f"unknown import kind {kind}")
        layout.imports.append((module, name, _IMPORT_KINDS[kind]))


def _read_tables(r: _Reader, layout: ModuleLayout) -> None:
    for _ in range(r.uleb(32)):
        if r.data[r.pos : r.pos + 2] == b"\x40\x00":  # table with an initializer
            r.skip(2)
            layout.tables.append(_read_tabletype(r, imported=False))
            r.skip_const_expr()
        else:
            layout.tables.append(_read_tabletype(r, imported=False))


def _read_exports(r: _Reader, layout: ModuleLayout) -> None:
    kinds = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}
    for _ in range(r.uleb(32)):
        name = r.name()
        kind = r.byte()
        r.uleb(32)
        layout.exports.append((name, kinds.get(kind, f"kind {kind}")))


def read_layout(data: bytes) -> ModuleLayout:
    """Read the declared memories, tables, imports, exports and start function."""
    if not is_wasm_binary(data) or len(data) < 8:
        raise ValueError("not a WebAssembly binary (bad magic number)")
    layout = ModuleLayout(size=len(data))
    r = _Reader(data, 8)
    while r.pos < r.end:
        section_id = r.byte()
        size = r.uleb(32)
        start = r.pos
        r.skip(size)
        layout.sections.append(_SECTION_NAMES.get(section_id, f"unknown ({section_id})"))
        body = _Reader(data, start, start + size)
        if section_id == _SECTION_IMPORT:
            _read_imports(body, layout)
        elif section_id == _SECTION_FUNCTION:
            layout.defined_functions = body.uleb(32)
        elif section_id == _SECTION_TABLE:
            _read_tables(body, layout)
        elif section_id == _SECTION_MEMORY:
            for _ in range(body.uleb(32)):
                layout.memories.append(_read_memtype(body, imported=False))
        elif section_id == _SECTION_EXPORT:
            _read_exports(body, layout)
        elif section_id == _SECTION_START:
            layout.start_function = body.uleb(32)
    return layout
