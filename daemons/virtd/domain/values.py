"""Scalar values in domain XML, read the way libvirt reads them.

Numbers, scaled sizes, UUIDs, MAC addresses and disk names each have quirks
(a leading '+', dashes anywhere between UUID bytes, `KB` meaning 1000) that
clients rely on, so they live here once instead of at every call site.
"""

from __future__ import annotations

import re
import secrets
import uuid

from common.errors import ErrorCode, ErrorDomain, VirtError

ULLONG_MAX = 2**64 - 1
UINT_MAX = 2**32 - 1
LLONG_MAX = 2**63 - 1
LLONG_MIN = -(2**63)

# Memory values at or above this many KiB mean "no limit" (VIR_DOMAIN_MEMORY_PARAM_UNLIMITED).
UNLIMITED_KIB = 2**53 - 1

_UNSIGNED = re.compile(r"[ \t\n\r\f\v]*\+?([0-9]+)")
_SIGNED = re.compile(r"[ \t\n\r\f\v]*([+-]?[0-9]+)")
_SIZE_PREFIXES = "kmgtpe"
_HEX = "0123456789abcdefABCDEF"
_MAC = re.compile(r"([0-9a-fA-F]{1,2})(?::([0-9a-fA-F]{1,2})){5}")
_DISK_PREFIXES = ("fd", "hd", "vd", "sd", "xvd", "ubd")
_DISK_NAME = re.compile(r"(?:fd|hd|vd|sd|xvd|ubd)([a-z]+)[0-9]*")


def parse_unsigned(text: str, maximum: int = ULLONG_MAX) -> int | None:
    """A decimal like strtoull: leading blanks and '+' allowed, nothing after; None if invalid."""
    match = _UNSIGNED.fullmatch(text)
    if match is None:
        return None
    value = int(match.group(1))
    return value if value <= maximum else None


def parse_signed(text: str) -> int | None:
    """A decimal like strtoll within 64 bits; None if invalid."""
    match = _SIGNED.fullmatch(text)
    if match is None:
        return None
    value = int(match.group(1))
    return value if LLONG_MIN <= value <= LLONG_MAX else None


def unit_scale(unit: str, default: int) -> int:
    """Bytes per unit for libvirt's size suffixes: b/bytes, k/KiB (1024) and KB (1000) up to E."""
    if not unit:
        return default
    if unit.lower() in ("b", "byte", "bytes"):
        return 1
    rest = unit[1:].lower()
    if rest in ("", "ib"):
        base = 1024
    elif rest == "b":
        base = 1000
    else:
        raise VirtError(ErrorCode.INVALID_ARG, ErrorDomain.NONE, f"unknown suffix '{unit}'")
    power = _SIZE_PREFIXES.find(unit[0].lower())
    if power < 0:
        raise VirtError(ErrorCode.INVALID_ARG, ErrorDomain.NONE, f"unknown suffix '{unit}'")
    return int(base ** (power + 1))


def scaled_kib(text: str, unit: str, xpath: str) -> int:
    """A size element's value in KiB, rounded up, with libvirt's errors and 2**63-byte ceiling."""
    value = parse_unsigned(text)
    if value is None:
        raise VirtError(
            ErrorCode.XML_ERROR,
            ErrorDomain.XML,
            f"Invalid value '{text}' for element or attribute '{xpath}'",
        )
    scale = unit_scale(unit, 1024)
    if value > LLONG_MAX // scale:
        raise VirtError(ErrorCode.OVERFLOW, ErrorDomain.NONE, f"value too large: {value}{unit}")
    kib = -(-value * scale // 1024)
    if kib > UNLIMITED_KIB:
        raise VirtError(ErrorCode.OVERFLOW, ErrorDomain.DOMAIN, "size value too large")
    return kib


def parse_uuid(text: str) -> uuid.UUID | None:
    """libvirt's UUID syntax: 32 hex digits, any dashes between byte pairs, blanks around."""
    pos = 0
    while pos < len(text) and text[pos].isspace():
        pos += 1
    digits = []
    for _ in range(16):
        while pos < len(text) and text[pos] == "-":
            pos += 1
        pair = text[pos : pos + 2]
        if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
            return None
        digits.append(pair)
        pos += 2
    if text[pos:].strip():
        return None
    return uuid.UUID("".join(digits))


def parse_mac(text: str) -> str | None:
    """Six colon-separated hex octets of one or two digits, normalised as libvirt prints them."""
    if _MAC.fullmatch(text) is None:
        return None
    return ":".join(f"{int(octet, 16):02x}" for octet in text.split(":"))


def is_multicast_mac(mac: str) -> bool:
    """The group bit of the first octet: such addresses cannot name a NIC."""
    return bool(int(mac[:2], 16) & 1)


def generate_mac() -> str:
    """A random address in QEMU's 52:54:00 range, as libvirt assigns to NICs without one."""
    return "52:54:00:" + ":".join(f"{octet:02x}" for octet in secrets.token_bytes(3))


def disk_name_index(name: str) -> int | None:
    """The drive index a target name encodes (vda=0, vdz=25, vdaa=26); None if it encodes none."""
    match = _DISK_NAME.fullmatch(name)
    if match is None:
        return None
    index = 0
    for letter in match.group(1):
        index = index * 26 + (ord(letter) - ord("a") + 1)
    return index - 1


def disk_name_prefix(name: str) -> str | None:
    """Which of libvirt's disk-name families (fd, hd, vd, sd, xvd, ubd) a target belongs to."""
    return next((prefix for prefix in _DISK_PREFIXES if name.startswith(prefix)), None)
