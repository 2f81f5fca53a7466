"""The one error type that crosses every boundary: libvirt's (code, domain, message).

Handlers raise VirtError; the RPC layer turns it into libvirt's error struct so
virsh and virt-admin print the right text, and the logging layer records the
code as a journal field. Nobody ever parses a message to recover a code.
"""

from __future__ import annotations

import errno
import os
from enum import IntEnum


class ErrorCode(IntEnum):
    """libvirt's virErrorNumber values used by our daemons."""

    INTERNAL_ERROR = 1
    NO_SUPPORT = 3
    NO_CONNECT = 5
    INVALID_ARG = 8
    OPERATION_FAILED = 9
    NO_SOURCE = 19  # no prefix: libvirt's text depends on whether there is detail
    NO_TARGET = 20  # no prefix, as NO_SOURCE
    NO_NAME = 21  # no prefix, as NO_SOURCE
    XML_ERROR = 27
    OPERATION_DENIED = 29
    CONF_SYNTAX = 33
    XML_DETAIL = 35
    SYSTEM_ERROR = 38
    RPC = 39
    NO_DOMAIN = 42
    AUTH_FAILED = 45
    OPERATION_INVALID = 55
    CONFIG_UNSUPPORTED = 67
    ARGUMENT_UNSUPPORTED = 74
    OVERFLOW = 82
    OPERATION_UNSUPPORTED = 84
    RESOURCE_BUSY = 87
    ACCESS_DENIED = 88
    AUTH_UNAVAILABLE = 94
    NO_SERVER = 95
    NO_CLIENT = 96


class ErrorDomain(IntEnum):
    """libvirt's virErrorDomain values used by our daemons."""

    NONE = 0
    XML = 5
    RPC = 7
    CONF = 9
    QEMU = 10
    TEST = 12
    REMOTE = 13
    DOMAIN = 20
    CPU = 31
    LOCKING = 42
    AUTH = 46
    LOCKSPACE = 51
    ACCESS = 55
    SYSTEMD = 56
    POLKIT = 60
    ADMIN = 62
    LOGGING = 63


# The prefix libvirt's formatter puts before the detail text, per code.
_PREFIX: dict[int, str] = {
    ErrorCode.INTERNAL_ERROR: "internal error: ",
    ErrorCode.NO_SUPPORT: "this function is not supported by the connection driver: ",
    ErrorCode.NO_CONNECT: "no connection driver available for ",
    ErrorCode.INVALID_ARG: "invalid argument: ",
    ErrorCode.OPERATION_FAILED: "operation failed: ",
    ErrorCode.XML_ERROR: "XML error: ",
    ErrorCode.OPERATION_DENIED: "operation forbidden: ",
    ErrorCode.CONF_SYNTAX: "configuration file syntax error: ",
    ErrorCode.NO_DOMAIN: "Domain not found: ",
    ErrorCode.AUTH_FAILED: "authentication failed: ",
    ErrorCode.OPERATION_INVALID: "Requested operation is not valid: ",
    ErrorCode.CONFIG_UNSUPPORTED: "unsupported configuration: ",
    ErrorCode.ARGUMENT_UNSUPPORTED: "argument unsupported: ",
    ErrorCode.OVERFLOW: "numerical overflow: ",
    ErrorCode.OPERATION_UNSUPPORTED: "Operation not supported: ",
    ErrorCode.RESOURCE_BUSY: "resource busy: ",
    ErrorCode.ACCESS_DENIED: "access denied: ",
    ErrorCode.AUTH_UNAVAILABLE: "authentication unavailable: ",
    ErrorCode.NO_SERVER: "Server not found: ",
    ErrorCode.NO_CLIENT: "Client not found: ",
}


class VirtError(Exception):
    """An error as libvirt clients understand it.

    `message` is the fully formatted text the client prints verbatim.
    """

    def __init__(self, code: int, domain: int, detail: str) -> None:
        self.code = int(code)
        self.domain = int(domain)
        prefix = _PREFIX.get(self.code, "")
        self.message = prefix + detail if detail else prefix.removesuffix(": ")
        super().__init__(self.message)

    @classmethod
    def formatted(cls, code: int, domain: int, message: str) -> "VirtError":
        """An error whose text is already formatted, e.g. as received from a peer."""
        err = cls(code, domain, "")
        err.message = message
        err.args = (message,)
        return err

    @classmethod
    def from_os_error(cls, domain: int, what: str, err: OSError) -> "VirtError":
        """A SYSTEM_ERROR whose text ends in the errno's description, as libvirt's does."""
        code = err.errno if err.errno is not None else errno.EIO
        return cls(ErrorCode.SYSTEM_ERROR, domain, f"{what}: {os.strerror(code)}")

    def __repr__(self) -> str:
        return f"VirtError(code={self.code}, domain={self.domain}, message={self.message!r})"


def unsupported_flags(flags: int, function: str, domain: int = ErrorDomain.NONE) -> VirtError:
    """libvirt's reply to a call whose flags carry bits the procedure does not know.

    libvirt raises it through virReportInvalidArg, which skips the "invalid argument: "
    prefix: clients print the bare text.
    """
    return VirtError.formatted(
        ErrorCode.INVALID_ARG, domain, f"unsupported flags (0x{flags:x}) in function {function}"
    )


def check_flags(flags: int, allowed: int, function: str, domain: int = ErrorDomain.NONE) -> None:
    """Raise libvirt's unsupported-flags error when `flags` has a bit outside `allowed`."""
    extra = flags & ~allowed
    if extra:
        raise unsupported_flags(extra, function, domain)
