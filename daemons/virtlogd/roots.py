"""Keeping log paths inside the log root.

virtlogd runs as root and creates, renames and deletes whatever path a client
names, so a path must be absolute and must resolve (symlinks followed) to a
file below `log_root`. libvirt trusts its clients here; we do not.

virtd's QEMU driver keeps each domain's log at <log_root>/qemu/<name>.log
(log_root defaults to the daemon's log directory, /var/log/virtd), libvirt's
/var/log/libvirt/qemu/ layout; the subdirectory is created on first use.
"""

from __future__ import annotations

import os

from common.errors import ErrorCode, ErrorDomain, VirtError

_DOMAIN = ErrorDomain.LOGGING


class LogRoot:
    """The directory every domain log must live under."""

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self.directory = os.path.realpath(directory)

    def confine(self, path: str) -> str:
        """The resolved form of `path`, which names a file below the root; else a clear error."""
        if "\0" in path:
            raise VirtError(ErrorCode.INVALID_ARG, _DOMAIN,
                            f"log file path '{path!r}' contains a NUL byte")
        if not os.path.isabs(path):
            raise VirtError(ErrorCode.INVALID_ARG, _DOMAIN,
                            f"log file path '{path}' is not absolute")
        resolved = os.path.realpath(path)
        if resolved == self.directory:
            raise VirtError(ErrorCode.INVALID_ARG, _DOMAIN,
                            f"log file path '{path}' names the log root directory, not a file")
        if self._inside(resolved):
            return resolved
        if self._inside(os.path.normpath(path)):
            raise VirtError(ErrorCode.OPERATION_DENIED, _DOMAIN,
                            f"log file path '{path}' leads through a symbolic link to "
                            f"'{resolved}', outside the log root '{self.directory}'")
        raise VirtError(ErrorCode.OPERATION_DENIED, _DOMAIN,
                        f"log file path '{path}' is outside the log root '{self.directory}'")

    def prepare(self, resolved: str) -> None:
        """Create the missing directories between the root and a confined path."""
        try:
            os.makedirs(os.path.dirname(resolved), mode=0o700, exist_ok=True)
        except OSError as err:
            raise VirtError.from_os_error(
                _DOMAIN, f"Unable to create directory {os.path.dirname(resolved)}", err) from None

    def _inside(self, path: str) -> bool:
        return path != self.directory and os.path.commonpath(
            [self.directory, path]) == self.directory
