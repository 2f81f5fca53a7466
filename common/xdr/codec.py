"""Sun XDR (RFC 4506) types, declared once and used to both encode and decode.

Every type has `pack(value, out)` appending to a bytearray and
`unpack(data, pos) -> (value, new_pos)`. Decoding never trusts its input:
short data, lengths over a maximum, unknown union arms, non-zero padding and
invalid UTF-8 all raise XdrDecodeError and nothing else.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any, Iterable, Mapping, Sequence


class XdrError(Exception):
    """Base class of codec errors."""


class XdrDecodeError(XdrError):
    """The bytes are not a valid encoding of the expected type."""


class XdrEncodeError(XdrError):
    """The value cannot be encoded as the declared type."""


_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")


def _pad_len(n: int) -> int:
    return (4 - (n & 3)) & 3


class XdrType:
    """A declared XDR type."""

    def pack(self, value: Any, out: bytearray) -> None:
        raise NotImplementedError

    def unpack(self, data: bytes | memoryview, pos: int) -> tuple[Any, int]:
        raise NotImplementedError

    def encode(self, value: Any) -> bytes:
        out = bytearray()
        self.pack(value, out)
        return bytes(out)

    def decode(self, data: bytes | memoryview) -> Any:
        """Decode a whole buffer; trailing bytes are an error."""
        value, pos = self.unpack(data, 0)
        if pos != len(data):
            raise XdrDecodeError(f"{len(data) - pos} trailing bytes")
        return value


class _Primitive(XdrType):
    """A fixed-size scalar backed by one struct code."""

    def __init__(self, name: str, code: str, size: int, lo: float, hi: float) -> None:
        self.name = name
        self.code = code
        self.size = size
        self.lo = lo
        self.hi = hi
        self._struct = struct.Struct(">" + code)

    def pack(self, value: Any, out: bytearray) -> None:
        try:
            out += self._struct.pack(value)
        except (struct.error, TypeError) as err:
            raise XdrEncodeError(f"{self.name}: cannot encode {value!r}: {err}") from None

    def unpack(self, data: bytes | memoryview, pos: int) -> tuple[Any, int]:
        end = pos + self.size
        if end > len(data):
            raise XdrDecodeError(f"{self.name}: need {self.size} bytes at offset {pos}")
        return self._struct.unpack_from(data, pos)[0], end

    def __repr__(self) -> str:
        return self.name


Int = _Primitive("int", "i", 4, -(2**31), 2**31 - 1)
UInt = _Primitive("unsigned int", "I", 4, 0, 2**32 - 1)
Hyper = _Primitive("hyper", "q", 8, -(2**63), 2**63 - 1)
UHyper = _Primitive("unsigned hyper", "Q", 8, 0, 2**64 - 1)
Double = _Primitive("double", "d", 8, float("-inf"), float("inf"))


class _Bool(XdrType):
    def pack(self, value: Any, out: bytearray) -> None:
        out += b"\0\0\0\1" if value else b"\0\0\0\0"

    def unpack(self, data: bytes | memoryview, pos: int) -> tuple[bool, int]:
        value, pos = Int.unpack(data, pos)
        return value != 0, pos

    def __repr__(self) -> str:
        return "bool"


Bool = _Bool()


class _Void(XdrType):
    def pack(self, value: Any, out: bytearray) -> None:
        if value is not None:
            raise XdrEncodeError("void takes no value")

    def unpack(self, data: bytes | memoryview, pos: int) -> tuple[None, int]:
        return None, pos

    def __repr__(self) -> str:
        return "void"


Void = _Void()


class Enum(XdrType):
    """An int restricted to declared values."""

    def __init__(self, name: str, values: Iterable[int]) -> None:
        self.name = name
        self.values = frozenset(int(v) for v in values)

    def pack(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, int) or value not in self.values:
            raise XdrEncodeError(f"enum {self.name}: {value!r} is not a declared value")
        Int.pack(value, out)

    def unpack(self, data: bytes | memoryview, pos: int) -> tuple[int, int]:
        value, pos = Int.unpack(data, pos)
        if value not in self.values:
            raise XdrDecodeError(f"enum {self.name}: undeclared value {value}")
        return value, pos


def _read_padded(data: bytes | memoryview, pos: int, n: int, what: str) -> tuple[bytes, int]:
    end = pos + n
    padded = end + _pad_len(n)
    if padded > len(data):
        raise XdrDecodeError(f"{what}: need {padded - pos} bytes at offset {pos}")
    if data[end:padded] != _PAD[n & 3]:
        raise XdrDecodeError(f"{what}: non-zero padding at offset {end}")
    return bytes(data[pos:end]), padded


def _read_length(data: bytes | memoryview, pos: int, maximum: int, what: str) -> tuple[int, int]:
    n, pos = UInt.unpack(data, pos)
    if n > maximum:
        raise XdrDecodeError(f"{what}: length {n} exceeds maximum {maximum}")
    return n, pos


class FixedOpaque(XdrType):
    """`opaque x[N]`: exactly N bytes, padded."""

    def __init__(self, size: int) -> None:
        self.size = size

    def pack(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, (bytes, bytearray)) or len(value) != self.size:
            raise XdrEncodeError(f"opaque[{self.size}]: got {value!r}")
        out += value
        out += _PAD[self.size & 3]

    def unpack(self, data: bytes | memoryview, pos: int) -> tuple[bytes, int]:
        return _read_padded(data, pos, self.size, f"opaque[{self.size}]")


class Opaque(XdrType):
    """`opaque x<N>`: length word, bytes, padding."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum

    def pack(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, (bytes, bytearray)):
            raise XdrEncodeError(f"opaque<{self.maximum}>: got {type(value).__name__}")
        n = len(value)
        if n > self.maximum:
            raise XdrEncodeError(f"opaque<{self.maximum}>: {n} bytes is too long")
        out += UInt._struct.pack(n)
        out += value
        out += _PAD[n & 3]

    def unpack(self, data: bytes | memoryview, pos: int) -> tuple[bytes, int]:
        what = f"opaque<{self.maximum}>"
        n, pos = _read_length(data, pos, self.maximum, what)
        return _read_padded(data, pos, n, what)


class String(XdrType):
    """`string x<N>`: UTF-8 text; with raw=True the value stays bytes."""

    def __init__(self, maximum: int, raw: bool = False) -> None:
        self.maximum = maximum
        self.raw = raw

    def pack(self, value: Any, out: bytearray) -> None:
        if isinstance(value, str):
            try:
                value = value.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError as err:
                raise XdrEncodeError(f"string<{self.maximum}>: {err.reason}") from None
        elif not isinstance(value, (bytes, bytearray)):
            raise XdrEncodeError(f"string<{self.maximum}>: got {type(value).__name__}")
        n = len(value)
        if n > self.maximum:
            raise XdrEncodeError(f"string<{self.maximum}>: {n} bytes is too long")
        out += UInt._struct.pack(n)
        out += value
        out += _PAD[n & 3]

    def unpack(self, data: bytes | memoryview, pos: int) -> tuple[str | bytes, int]:
        what = f"string<{self.maximum}>"
        n, pos = _read_length(data, pos, self.maximum, what)
        raw, pos = _read_padded(data, pos, n, what)
        if self.raw:
            return raw, pos
        try:
            return raw.decode("utf-8"), pos
        except UnicodeDecodeError as err:
            raise XdrDecodeError(f"{what}: invalid UTF-8: {err.reason}") from None


class Array(XdrType):
    """`T x<N>`: count word, then the elements."""

    def __init__(self, element: XdrType, maximum: int) -> None:
        self.element = element
        self.maximum = maximum

    def pack(self, value: Any, out: bytearray) -> None:
        # Text and bytes are sized iterables too, but never a list of elements.
        if isinstance(value, (str, bytes, bytearray)) or not hasattr(value, "__len__"):
            raise XdrEncodeError(f"array<{self.maximum}>: got {type(value).__name__}")
        n = len(value)
        if n > self.maximum:
            raise XdrEncodeError(f"array<{self.maximum}>: {n} elements is too many")
        out += UInt._struct.pack(n)
        pack = self.element.pack
        for item in value:
            pack(item, out)

    def unpack(self, data: bytes | memoryview, pos: int) -> tuple[list[Any], int]:
        n, pos = _read_length(data, pos, self.maximum, f"array<{self.maximum}>")
        # Each element takes at least 4 bytes: refuse counts the buffer cannot hold
        # before allocating anything.
        if n * 4 > len(data) - pos:
            raise XdrDecodeError(f"array<{self.maximum}>: {n} elements cannot fit")
        unpack = self.element.unpack
        items = []
        for _ in range(n):
            item, pos = unpack(data, pos)
            items.append(item)
        return items, pos


class CharArray(XdrType):
    """`char x<N>`: libvirt's array of 4-byte chars, carried as text.

    libvirt's daemon counts the terminating NUL; we send it and strip it on decode.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum

    def pack(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, str) or "\0" in value:
            raise XdrEncodeError(f"char<{self.maximum}>: got {value!r}, want text without NUL")
        try:
            raw = value.encode("utf-8") + b"\0"
        except UnicodeEncodeError as err:
            raise XdrEncodeError(f"char<{self.maximum}>: {err.reason}") from None
        if len(raw) > self.maximum:
            raise XdrEncodeError(f"char<{self.maximum}>: {len(raw)} chars is too many")
        out += UInt._struct.pack(len(raw))
        out += struct.pack(f">{len(raw)}i", *(b if b < 128 else b - 256 for b in raw))

    def unpack(self, data: bytes | memoryview, pos: int) -> tuple[str, int]:
        n, pos = _read_length(data, pos, self.maximum, f"char<{self.maximum}>")
        end = pos + 4 * n
        if end > len(data):
            raise XdrDecodeError(f"char<{self.maximum}>: need {4 * n} bytes at offset {pos}")
        chars = struct.unpack_from(f">{n}i", data, pos)
        raw = bytes(c & 0xFF for c in chars).split(b"\0", 1)[0]
        try:
            return raw.decode("utf-8"), end
        except UnicodeDecodeError as err:
            raise XdrDecodeError(f"char<{self.maximum}>: invalid UTF-8: {err.reason}") from None


class Optional(XdrType):
    """`T *x`: a presence word, then T when present; None when absent."""

    def __init__(self, element: XdrType) -> None:
        self.element = element

    def pack(self, value: Any, out: bytearray) -> None:
        if value is None:
            out += b"\0\0\0\0"
        else:
            out += b"\0\0\0\1"
            self.element.pack(value, out)

    def unpack(self, data: bytes | memoryview, pos: int) -> tuple[Any, int]:
        present, pos = UInt.unpack(data, pos)
        if present == 0:
            return None, pos
        if present != 1:
            raise XdrDecodeError(f"optional: presence word {present} is neither 0 nor 1")
        return self.element.unpack(data, pos)


class Union(XdrType):
    """A discriminated union over an int; values are (discriminant, arm value) tuples."""

    def __init__(self, name: str, arms: Mapping[int, XdrType]) -> None:
        self.name = name
        self.arms = dict(arms)

    def pack(self, value: Any, out: bytearray) -> None:
        try:
            disc, arm_value = value
            arm = self.arms.get(disc)
        except (TypeError, ValueError):
            raise XdrEncodeError(
                f"union {self.name}: want a (discriminant, value) pair, got {value!r}"
            ) from None
        if arm is None:
            raise XdrEncodeError(f"union {self.name}: no arm for discriminant {disc!r}")
        Int.pack(disc, out)
        arm.pack(arm_value, out)

    def unpack(self, data: bytes | memoryview, pos: int) -> tuple[tuple[int, Any], int]:
        disc, pos = Int.unpack(data, pos)
        arm = self.arms.get(disc)
        if arm is None:
            raise XdrDecodeError(f"union {self.name}: unknown discriminant {disc}")
        value, pos = arm.unpack(data, pos)
        return (disc, value), pos


class Struct(XdrType):
    """A record of named fields; values are instances of `self.cls`, a slotted dataclass.

    Runs of consecutive fixed-size scalars are packed with one struct call.
    """

    def __init__(self, name: str, fields: Sequence[tuple[str, XdrType]]) -> None:
        self.name = name
        self.fields = tuple(fields)
        self.cls: type = dataclasses.make_dataclass(
            name, [f for f, _ in self.fields], slots=True, eq=True
        )
        self._steps = self._plan()
        self._compile()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.cls(*args, **kwargs)

    def _plan(self) -> list[tuple[tuple[str, ...], XdrType | struct.Struct]]:
        steps: list[tuple[tuple[str, ...], XdrType | struct.Struct]] = []
        run: list[tuple[str, _Primitive]] = []

        def flush() -> None:
            if len(run) == 1:
                steps.append(((run[0][0],), run[0][1]))
            elif run:
                fmt = ">" + "".join(p.code for _, p in run)
                steps.append((tuple(n for n, _ in run), struct.Struct(fmt)))
            run.clear()

        for fname, ftype in self.fields:
            if isinstance(ftype, _Primitive):
                run.append((fname, ftype))
            else:
                flush()
                steps.append(((fname,), ftype))
        flush()
        return steps

    def _compile(self) -> None:
        """Generate straight-line pack/unpack functions for this struct's steps.

        Structs are the hot path of every call (headers, domain handles, replies);
        straight-line code avoids a loop and isinstance tests per field.
        """
        env: dict[str, Any] = {"XdrEncodeError": XdrEncodeError,
                               "XdrDecodeError": XdrDecodeError, "struct_error": struct.error,
                               "CLS": self.cls, "NAME": self.name}
        pack_lines = ["def pack(value, out):", "    try:"]
        unpack_lines = ["def unpack(data, pos):", "    size = len(data)"]
        var = 0
        args: list[str] = []
        for index, (names, step) in enumerate(self._steps):
            env[f"S{index}"] = step
            if isinstance(step, struct.Struct):
                fields = ", ".join(f"value.{n}" for n in names)
                pack_lines.append(f"        out += S{index}.pack({fields})")
                targets = [f"v{var + i}" for i in range(len(names))]
                var += len(names)
                unpack_lines += [
                    f"    end = pos + {step.size}",
                    "    if end > size:",
                    f"        raise XdrDecodeError(NAME + ': need {step.size} bytes at offset '"
                    " + str(pos))",
                    f"    {', '.join(targets)}, = S{index}.unpack_from(data, pos)",
                    "    pos = end",
                ]
                args += targets
            else:
                pack_lines.append(f"        S{index}.pack(value.{names[0]}, out)")
                unpack_lines.append(f"    v{var}, pos = S{index}.unpack(data, pos)")
                args.append(f"v{var}")
                var += 1
        if len(pack_lines) == 2:
            pack_lines.append("        pass")
        pack_lines += [
            "    except (struct_error, TypeError, AttributeError) as err:",
            "        raise XdrEncodeError(NAME + ': ' + str(err)) from None",
        ]
        unpack_lines.append(f"    return CLS({', '.join(args)}), pos")
        exec("\n".join(pack_lines), env)  # noqa: S102 - code generated from our own declarations
        exec("\n".join(unpack_lines), env)  # noqa: S102
        self.pack = env["pack"]  # type: ignore[method-assign]
        self.unpack = env["unpack"]  # type: ignore[method-assign]

    def __repr__(self) -> str:
        return f"struct {self.name}"


def struct_type(name: str, /, **fields: XdrType) -> Struct:
    """Declare a struct with fields in keyword order (the wire order).

    `name` is positional-only so that a field may itself be called `name`.
    """
    return Struct(name, list(fields.items()))

