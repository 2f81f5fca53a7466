"""Wire declarations of libvirt's log program (reference §5.1, §5.2; libvirt's log_protocol.x).

The domain struct puts the uuid before the name, unlike the remote program's.
"""

from __future__ import annotations

from enum import IntEnum

from common import xdr

LOG_PROGRAM = 0x87539319
LOG_VERSION = 1
STRING_MAX = 4194304

OPEN_LOG_FILE_TRUNCATE = 1
"""DOMAIN_OPEN_LOG_FILE: delete the file and its backups before opening it."""


class LogProc(IntEnum):
    DOMAIN_OPEN_LOG_FILE = 1
    DOMAIN_GET_LOG_FILE_POSITION = 2
    DOMAIN_READ_LOG_FILE = 3
    DOMAIN_APPEND_LOG_FILE = 4


String = xdr.String(STRING_MAX)
RawString = xdr.String(STRING_MAX, raw=True)
"""Log content: bytes as the guest wrote them, not necessarily UTF-8."""

Domain = xdr.struct_type("virLogManagerProtocolDomain", uuid=xdr.FixedOpaque(16), name=String)
Position = xdr.struct_type("virLogManagerProtocolLogFilePosition", inode=xdr.UHyper,
                           offset=xdr.UHyper)

OpenArgs = xdr.struct_type("virLogManagerProtocolDomainOpenLogFileArgs", driver=String,
                           dom=Domain, path=String, flags=xdr.UInt)
PositionRet = xdr.struct_type("virLogManagerProtocolDomainOpenLogFileRet", pos=Position)
GetPositionArgs = xdr.struct_type("virLogManagerProtocolDomainGetLogFilePositionArgs",
                                  path=String, flags=xdr.UInt)
ReadArgs = xdr.struct_type("virLogManagerProtocolDomainReadLogFileArgs", path=String,
                           pos=Position, maxlen=xdr.UHyper, flags=xdr.UInt)
ReadRet = xdr.struct_type("virLogManagerProtocolDomainReadLogFileRet", data=RawString)
AppendArgs = xdr.struct_type("virLogManagerProtocolDomainAppendLogFileArgs", driver=String,
                             dom=Domain, path=String, message=RawString, flags=xdr.UInt)
AppendRet = xdr.struct_type("virLogManagerProtocolDomainAppendLogFileRet", ret=xdr.Int)
