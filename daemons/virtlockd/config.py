"""virtlockd's config keys: libvirt's virtlockd.conf keys plus the lockspace dirs.

libvirt keeps the lockspace dirs in the QEMU driver's lock plugin config; here
virtlockd owns them, so every lease setting is in one file.
"""

from __future__ import annotations

from common.config.checks import absolute_path
from common.config.keys import ADMIN_MAX_CLIENTS, LOGGING, TIMEOUT, max_clients, unix_sock_dir
from common.config.schema import Key, Schema

_LOCKSPACES = "Lockspaces"

_LOCKSPACE_KEYS = (
    Key(
        "file_lockspace_dir",
        str,
        None,
        "Directory of indirect leases for disk image files: each disk is locked "
        "through a file here named by the SHA-256 of the disk's path, instead "
        "of locking the image itself. Useful when the images cannot be locked "
        "where they are stored, or to keep all leases in one place. When "
        "unset, images are locked directly.",
        _LOCKSPACES,
        absolute_path,
        example="/var/lib/virtd/lockd/files",
    ),
    Key(
        "lvm_lockspace_dir",
        str,
        None,
        "Directory of leases for LVM logical volumes, named by the volume's "
        "UUID, so every host sharing the volume group locks the same lease "
        "whatever the device path. When unset, the block device is locked "
        "directly.",
        _LOCKSPACES,
        absolute_path,
        example="/var/lib/virtd/lockd/lvmvolumes",
    ),
    Key(
        "scsi_lockspace_dir",
        str,
        None,
        "Directory of leases for SCSI disks, named by the disk's SCSI ID, so "
        "every host seeing the disk locks the same lease whatever the device "
        "path. When unset, the block device is locked directly.",
        _LOCKSPACES,
        absolute_path,
        example="/var/lib/virtd/lockd/scsivolumes",
    ),
)

SCHEMA = Schema(
    "virtlockd",
    "settings of virtlockd, which holds the disk leases of running domains.",
    (
        unix_sock_dir("virtlockd", ("virtlockd-sock", "virtlockd-admin-sock")),
        max_clients(
            1024,
            "the lock socket, where every running domain that holds leases keeps "
            "one connection open",
        ),
        ADMIN_MAX_CLIENTS,
        *_LOCKSPACE_KEYS,
        TIMEOUT,
        *LOGGING,
    ),
)
