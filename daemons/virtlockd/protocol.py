"""Wire declarations of libvirt's lock program, virtlockd's own protocol (reference §4).

Paths and resource names are file names, which are bytes on Linux: they are
decoded with the file-system encoding (surrogate escapes for non-UTF-8 bytes)
so any name a client sends reaches the file system unchanged.
"""

from __future__ import annotations

import os
from enum import IntEnum, IntFlag
from typing import Any

from common import xdr

LOCK_PROGRAM = 0xEA7BEEF
LOCK_VERSION = 1
STRING_MAX = 65536


class LockProc(IntEnum):
    REGISTER = 1
    RESTRICT = 2
    NEW = 3
    CREATE_RESOURCE = 4
    DELETE_RESOURCE = 5
    ACQUIRE_RESOURCE = 6
    RELEASE_RESOURCE = 7
    CREATE_LOCKSPACE = 8


class AcquireFlags(IntFlag):
    """virLockSpaceProtocolAcquireResourceFlags: the only flags any lock procedure takes."""

    SHARED = 1
    AUTOCREATE = 2


class FileName(xdr.XdrType):
    """`virLockSpaceProtocolNonNullString` carrying a path: bytes in, `os.fsdecode`d text out."""

    def __init__(self, maximum: int) -> None:
        self._raw = xdr.String(maximum, raw=True)

    def pack(self, value: Any, out: bytearray) -> None:
        self._raw.pack(value, out)

    def unpack(self, data: bytes | memoryview, pos: int) -> tuple[str, int]:
        raw, pos = self._raw.unpack(data, pos)
        return os.fsdecode(raw), pos


String = xdr.String(STRING_MAX)
Path = FileName(STRING_MAX)
UUID = xdr.FixedOpaque(16)

Owner = xdr.struct_type("virLockSpaceProtocolOwner", uuid=UUID, name=String, id=xdr.UInt,
                        pid=xdr.UInt)
RegisterArgs = xdr.struct_type("virLockSpaceProtocolRegisterArgs", owner=Owner, flags=xdr.UInt)
RestrictArgs = xdr.struct_type("virLockSpaceProtocolRestrictArgs", flags=xdr.UInt)
NewArgs = xdr.struct_type("virLockSpaceProtocolNewArgs", path=Path, flags=xdr.UInt)
ResourceArgs = xdr.struct_type("virLockSpaceProtocolResourceArgs", path=Path, name=Path,
                               flags=xdr.UInt)
"""CREATE/DELETE/ACQUIRE/RELEASE_RESOURCE share this layout (four identical structs in libvirt)."""
CreateLockSpaceArgs = xdr.struct_type("virLockSpaceProtocolCreateLockSpaceArgs", path=Path)
