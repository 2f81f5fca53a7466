"""Domain names: what libvirt accepts, and the one extra rule our state files need.

libvirt refuses only a newline and '/' in a name. We also keep names short
enough that `<statedir>/<name><suffix>` is one path component within NAME_MAX,
because every name becomes a file name in our state directories.
"""

from __future__ import annotations

from common.errors import ErrorCode, ErrorDomain, VirtError

NAME_MAX = 255

# Longest name in UTF-8 bytes. 255 minus room for any suffix the daemon appends
# (".xml", ".xml.new", ".log.1", ".pid", ...): a limit libvirt itself lacks.
MAX_NAME_BYTES = 200


def check_name(name: str) -> None:
    """Refuse a name libvirt refuses, and one too long or unencodable for a file name."""
    if "\n" in name:
        raise VirtError(ErrorCode.XML_DETAIL, ErrorDomain.XML, "invalid char in name: \n")
    if "/" in name:
        raise VirtError(ErrorCode.XML_ERROR, ErrorDomain.DOMAIN, f"name {name} cannot contain '/'")
    if "\0" in name:
        raise VirtError(
            ErrorCode.XML_ERROR, ErrorDomain.DOMAIN, "name cannot contain a NUL character"
        )
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise VirtError(
            ErrorCode.XML_ERROR, ErrorDomain.DOMAIN, "name is not valid UTF-8"
        ) from None
    if size > MAX_NAME_BYTES:
        raise VirtError(
            ErrorCode.XML_ERROR,
            ErrorDomain.DOMAIN,
            f"name is too long: {size} bytes, at most {MAX_NAME_BYTES} are allowed",
        )


def safe_state_filename(name: str, suffix: str = ".xml") -> str:
    """`name + suffix` as a single path component that cannot leave its directory.

    The name passes check_name (so: no '/', no NUL, bounded length); the result
    is never "." or "..". A leading '.' is allowed, as libvirt allows it: with
    a suffix appended it is an ordinary (hidden) file name.
    """
    check_name(name)
    filename = name + suffix
    if "/" in suffix or "\0" in suffix or filename in ("", ".", ".."):
        raise VirtError(
            ErrorCode.INVALID_ARG,
            ErrorDomain.DOMAIN,
            f"'{filename}' is not a usable state file name",
        )
    if len(filename.encode("utf-8")) > NAME_MAX:
        raise VirtError(
            ErrorCode.INVALID_ARG, ErrorDomain.DOMAIN, f"state file name for '{name}' is too long"
        )
    return filename
