"""Our release number, as libvirt encodes versions on the wire (major*1e6 + minor*1e3 + micro)."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("virtd")
except PackageNotFoundError:
    VERSION = "0.1.0"


def _encode(text: str) -> int:
    major, minor, micro = (int(part) for part in (text.split(".") + ["0", "0"])[:3])
    return major * 1_000_000 + minor * 1_000 + micro


VERSION_NUMBER = _encode(VERSION)
